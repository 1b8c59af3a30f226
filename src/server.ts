import { createServer, type Server } from "node:http";
import { createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { createTokenVerifier } from "./auth/tokens.js";
import type { Config } from "./config.js";
import type { Database } from "./db/database.js";
import type { GraphQLContext } from "./graphql/builder.js";
import { createYogaLogger, maskError, useInputErrorCodes } from "./graphql/errors.js";
import { useRequestBodyLimit } from "./graphql/request-body-limit.js";
import { schema } from "./graphql/schema.js";
import { createServices, type Services } from "./services.js";

export interface AppOptions {
  config: Config;
  db: Database;
  /** Pre-filled in GraphiQL's headers (dev mode). */
  graphiqlToken?: string;
}

export interface App {
  yoga: YogaServerInstance<Record<string, unknown>, GraphQLContext>;
  services: Services;
  /** Listens on config.port/host; resolves once listening. */
  listen(): Promise<Server>;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), closes the database. */
  close(): Promise<void>;
}

export async function createApp({ config, db, graphiqlToken }: AppOptions): Promise<App> {
  const verifyToken = await createTokenVerifier(config);
  const services = createServices(db, config);

  const yoga = createYoga<Record<string, unknown>, GraphQLContext>({
    schema,
    maskedErrors: { maskError },
    logging: createYogaLogger(),
    landingPage: false,
    // Served from the npm package: no CDN, so it works offline and behind strict networks.
    // Loaded on the first GraphiQL page view: the bundle costs ~70 MB of memory.
    renderGraphiQL: async (options) => (await import("@graphql-yoga/render-graphiql")).renderGraphiQL(options),
    graphiql: graphiqlToken
      ? { title: "metadata-graph", headers: JSON.stringify({ Authorization: `Bearer ${graphiqlToken}` }, null, 2) }
      : { title: "metadata-graph" },
    // A bad token fails the whole request with UNAUTHENTICATED; no token leaves principal null,
    // and every operation that needs a caller says so.
    context: async ({ request }) => ({
      services,
      principal: await verifyToken(request.headers.get("authorization")),
    }),
    // Yoga's built-in check answers without asking the database: it stays as a liveness probe,
    // and /health (healthPlugin) answers 200 only when the database does.
    healthCheckEndpoint: "/live",
    maxRequestBodySize: false,
    plugins: [healthPlugin(db), useInputErrorCodes(), useRequestBodyLimit()],
  });

  let closing = false;
  const server = createServer((req, res) => {
    // During shutdown, responses tell keep-alive clients to go (see close()).
    if (closing) res.setHeader("connection", "close");
    return yoga(req, res);
  });
  let purgeTimer: NodeJS.Timeout | undefined;

  return {
    yoga,
    services,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.port, config.host, () => {
          purgeTimer = setInterval(() => void services.metadata.purgeExpired().catch(() => {}), config.purgeIntervalMs);
          purgeTimer.unref();
          resolve(server);
        });
      }),
    async close() {
      clearInterval(purgeTimer);
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
      await db.close();
    },
  };
}

/** GET /health: 200 only when the database answers. */
function healthPlugin(db: Database): Plugin {
  return {
    // Not async: every request passes here, and only /health waits for the database.
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== "/health" || request.method !== "GET") return;
      return db.prisma.$queryRaw`SELECT 1`.then(
        () => endResponse(fetchAPI.Response.json({ status: "ok" })),
        () =>
          endResponse(
            fetchAPI.Response.json({ status: "unavailable", reason: "database unreachable" }, { status: 503 }),
          ),
      );
    },
  };
}
