import { createServer, type Server } from "node:http";
import type { TracerProvider } from "@opentelemetry/api";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import { createRateLimiter } from "./auth/rate-limit.js";
import { authFailureReason, createTokenVerifier } from "./auth/tokens.js";
import type { Config } from "./config.js";
import type { Database } from "./db/database.js";
import type { GraphQLContext } from "./graphql/builder.js";
import { createYogaLogger, maskError, useInputErrorCodes } from "./graphql/errors.js";
import { graphiqlOptions, renderGraphiQLWithExamples } from "./graphql/graphiql-examples.js";
import { useGraphQLLimits } from "./graphql/limits.js";
import { schema } from "./graphql/schema.js";
import { serveWebSockets } from "./graphql/web-sockets.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { requestLogging } from "./observability/logging.js";
import { createMetrics, METRICS_PATH, metricsEndpoint } from "./observability/metrics.js";
import { PROBE_PATHS, useProbes } from "./observability/probes.js";
import type { ServerContext } from "./observability/request-id.js";
import { useRequestObservation } from "./observability/request-observation.js";
import { notePrincipal, type SummaryObserver, stampArrival } from "./observability/request-summary.js";
import { withStatementSpans } from "./observability/sql-spans.js";
import { TRACER_NAME, useTracing } from "./observability/tracing-plugin.js";
import { createServices, type Services } from "./services.js";

export interface AppOptions {
  config: Config;
  db: Database;
  /** Pre-filled in GraphiQL's headers (dev mode). */
  graphiqlToken?: string;
  /**
   * Gets a span for each HTTP request, GraphQL phase and SQL statement (src/observability/).
   * Unset, tracing is off and costs nothing: no plugin, no wrapper.
   */
  tracerProvider?: TracerProvider;
  /** The process's logger; default: one from `config.log`, on stdout. */
  logger?: Logger;
}

export interface App {
  yoga: YogaServerInstance<ServerContext, GraphQLContext>;
  services: Services;
  /** Listens on config.port/host; resolves once listening. */
  listen(): Promise<Server>;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), closes the database. */
  close(): Promise<void>;
}

/** How long start-up waits for the definitions' notifications (one connection; PGlite: at once). */
const LISTENING_TIMEOUT_MS = 2000;

/**
 * Serves with the definitions cache working from the first request: it keeps nothing until its
 * notifications connection listens. A database that does not answer does not hold start-up longer
 * than LISTENING_TIMEOUT_MS: the connection keeps retrying and requests read definitions meanwhile.
 */
async function listeningFor(services: Services): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    services.definitions.ready,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, LISTENING_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
}

export async function createApp({
  config,
  db,
  graphiqlToken,
  tracerProvider,
  logger: givenLogger,
}: AppOptions): Promise<App> {
  const logger = givenLogger ?? (await createLogger(config));
  const verifyToken = await createTokenVerifier(config, { warn: (message) => logger.warn(message) });
  const tracer = tracerProvider?.getTracer(TRACER_NAME);
  const metrics = config.metrics.enabled ? createMetrics({ poolStats: db.poolStats }) : undefined;
  // Timed by the runner itself, inside any span: the histogram holds the statement's own time.
  const stopTiming = metrics && db.observeStatements(metrics.observeQuery);
  const services = createServices(tracer ? withStatementSpans(db, tracer) : db, config, {
    warn: (message) => logger.warn(message),
  });
  await listeningFor(services);
  // Unexpected errors are logged at error level, by the request log: it is on unless that level is off.
  const requestLogged = logger.isLevelEnabled("error");
  // What reads each request's summary once its response is out.
  const observers: SummaryObserver[] = [
    ...(requestLogged ? [requestLogging(logger)] : []),
    ...(metrics ? [metrics.observeRequest] : []),
  ];
  const rateLimiter = await createRateLimiter(config);

  const yoga = createYoga<ServerContext, GraphQLContext>({
    schema,
    maskedErrors: { maskError },
    logging: createYogaLogger(logger, { requestLogged }),
    landingPage: false,
    // Served from the npm package (no CDN: it works offline and behind strict networks), loaded on
    // the first page view, opening on the example tabs.
    renderGraphiQL: renderGraphiQLWithExamples,
    // GraphiQL needs introspection: it goes with it (off in production unless GRAPHQL_INTROSPECTION).
    graphiql: config.graphql.introspection ? graphiqlOptions(graphiqlToken) : false,
    batching: { limit: config.graphql.maxBatch },
    // A bad token fails the whole request with UNAUTHENTICATED; no token leaves principal null,
    // and every operation that needs a caller says so. Each operation counts against its caller's
    // rate limit; a refused token counts against its address, so guessing costs too.
    context: async ({ request, req }) => {
      const address = req?.socket.remoteAddress;
      const principal = await verifyToken(request.headers.get("authorization")).catch(async (error: unknown) => {
        metrics?.countAuthFailure(authFailureReason(error));
        await rateLimiter.consume(null, address);
        throw error;
      });
      notePrincipal(request, principal);
      await rateLimiter.consume(principal, address);
      return { services, principal };
    },
    // Yoga's built-in check cannot be turned off and answers any path ending in its endpoint: kept
    // on /live, an alias of /health (liveness) that existing probes may use; /health and /ready
    // are useProbes'.
    healthCheckEndpoint: "/live",
    maxRequestBodySize: false,
    plugins: [
      // First: its spans wrap everything the other plugins do. Probes and scrapes, every few seconds,
      // would only bury the requests worth reading.
      ...(tracer
        ? [useTracing(tracer, { graphqlEndpoint: "/graphql", untracedPaths: new Set([...PROBE_PATHS, METRICS_PATH]) })]
        : []),
      useProbes(db, {
        draining: () => closing,
        endpoints: new Map(metrics ? [[METRICS_PATH, metricsEndpoint(metrics, config.metrics)]] : []),
      }),
      useInputErrorCodes(),
      ...useGraphQLLimits(config.graphql),
      // After the plugins that rewrite results: the summary holds the codes clients receive.
      useRequestObservation(observers),
    ],
  });

  let closing = false;
  const observed = observers.length > 0;
  const server = createServer((req, res) => {
    if (observed) stampArrival(req);
    // During shutdown, responses tell keep-alive clients to go (see close()).
    if (closing) res.setHeader("connection", "close");
    return yoga(req, res);
  });
  // Subscriptions over WebSocket (graphql-transport-ws) on the same server and path as HTTP. Not
  // with PERSISTED_OPERATIONS_ONLY: Yoga checks persisted operations on HTTP requests only, and a
  // socket would carry any document (SSE, which is HTTP, still serves subscriptions then).
  const webSockets = config.graphql.persistedOperationsOnly
    ? { close: async () => {} }
    : serveWebSockets(server, yoga, { path: "/graphql", maxPayload: config.graphql.maxRequestBodyBytes });
  let purgeTimer: NodeJS.Timeout | undefined;
  // Expired entries (each leaves an EXPIRED event), then history events past METADATA_HISTORY_DAYS.
  const purgeExpired = () =>
    services.metadata
      .purgeExpired()
      .then(async (events) => {
        metrics?.countPurged(events.length);
        if (events.length) logger.info({ purged: events.length }, "Expired entries purged");
        const pruned = await services.metadata.pruneHistory();
        if (pruned) logger.info({ pruned }, "Old history events pruned");
      })
      // The next run retries; during a database outage every run fails until it is back.
      .catch((error: unknown) => logger.warn({ err: error }, "Expiry purge failed"));

  return {
    yoga,
    services,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.port, config.host, () => {
          purgeTimer = setInterval(() => void purgeExpired(), config.purgeIntervalMs);
          purgeTimer.unref();
          resolve(server);
        });
      }),
    async close() {
      clearInterval(purgeTimer);
      // Every subscription completes now (SSE responses end, WebSocket clients get `complete`),
      // then sockets close (1001): otherwise they would hold the server open until the timeout.
      services.changes.endSubscriptions();
      await webSockets.close();
      if (server.listening) {
        closing = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // `server.close()` only closes connections idle at that moment: a keep-alive connection
        // busy then is closed as soon as its response is out, by this sweep.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        // In-flight requests finish; this bounds those that never do.
        const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
        await closed;
        clearInterval(sweep);
        clearTimeout(timer);
      }
      // After the drain: the changes of the last writes still reach the other instances.
      await services.changes.close();
      await rateLimiter.close();
      stopTiming?.();
      await db.close();
    },
  };
}
