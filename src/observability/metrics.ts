import { createHash, timingSafeEqual } from "node:crypto";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { AUTH_FAILURE_REASONS, type AuthFailureReason } from "../auth/tokens.js";
import type { PoolStats } from "../db/database.js";
import { FastHistogram, type HistogramSeries } from "./fast-histogram.js";
import type { OperatorEndpoint } from "./probes.js";
import { outcomeOf, type RequestSummary } from "./request-summary.js";

/*
 * prom-client directly, not @graphql-yoga/plugin-prometheus (@envelop/prometheus 14): that plugin
 * labels with the client's operation name as sent (unbounded series), has no outcome-code label,
 * misses requests refused before parsing, and times each phase with its own WeakMaps and closures
 * per request. Here one summary per request (request-summary.ts) feeds the log line and the metrics.
 */

export const METRICS_PATH = "/metrics";

/**
 * Label values of our own that no client can send: GraphQL names are [_A-Za-z][_0-9A-Za-z]*.
 * `(other)`: a name past the cap (see BoundedLabel).
 */
const ANONYMOUS = "(anonymous)";
const BATCH = "(batch)";
const NONE = "(none)";
const OTHER = "(other)";

/**
 * Operation names are chosen by clients: each distinct one would be a new time series in every
 * histogram bucket. The first MAX_OPERATION_NAMES names seen from authenticated callers are kept
 * (a deployment's clients use a few dozen), later ones count as `(other)`; an anonymous caller
 * cannot fill the set with made-up names. Codes come from this service and its libraries, capped
 * all the same.
 */
const MAX_OPERATION_NAMES = 100;
const MAX_CODES = 50;

class BoundedLabel {
  private readonly known = new Set<string>();
  constructor(private readonly max: number) {}
  value(name: string, admit: boolean): string {
    if (this.known.has(name)) return name;
    if (!admit || this.known.size >= this.max) return OTHER;
    this.known.add(name);
    return name;
  }
}

/** Seconds: a point read takes about a millisecond, a saturated instance tens of them. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const QUERY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

type RequestLabel = "operation" | "operation_type" | "code";

export interface Metrics {
  /** What GET /metrics answers: this app's metrics and the process's. */
  readonly registry: Registry;
  observeQuery(seconds: number): void;
  countAuthFailure(reason: AuthFailureReason): void;
  countPurged(entries: number): void;
  /** One GraphQL request, once its response is out (an observer of src/observability/request-summary.ts). */
  observeRequest(summary: RequestSummary): void;
}

export function createMetrics({ poolStats }: { poolStats?: () => PoolStats } = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  // Its `_count` is the request count: a separate counter would cost a second update per request
  // and say nothing more (https://prometheus.io/docs/practices/histograms/).
  const durations = new FastHistogram<RequestLabel>({
    name: "metadata_graph_graphql_request_duration_seconds",
    help: "GraphQL requests (_count) and their duration from arrival to response, by operation name and type and outcome (OK or the first error's code)",
    labelNames: ["operation", "operation_type", "code"],
    buckets: REQUEST_BUCKETS,
    registers,
  });
  const authFailures = new Counter<"reason">({
    name: "metadata_graph_auth_failures_total",
    help: "Requests refused as unauthenticated, by reason",
    labelNames: ["reason"],
    registers,
  });
  // Every reason reads 0 until it happens, rather than missing (rate() needs the series to exist).
  for (const reason of AUTH_FAILURE_REASONS) authFailures.inc({ reason }, 0);
  const queries = new FastHistogram({
    name: "metadata_graph_db_query_duration_seconds",
    help: "Duration of each SQL statement a request sends (src/db/sql.ts), failed ones included",
    buckets: QUERY_BUCKETS,
    registers,
  });
  const purged = new Counter({
    name: "metadata_graph_expired_entries_purged_total",
    help: "Expired metadata entries deleted by the periodic purge",
    registers,
  });
  if (poolStats) registerPoolGauges(registry, poolStats);

  const operations = new BoundedLabel(MAX_OPERATION_NAMES);
  const codes = new BoundedLabel(MAX_CODES);
  // One series per label combination, kept: found through a map per label, by the strings the
  // request already holds (a key joined from them was a new string to hash and compare per request).
  const children = new Map<string, Map<string, Map<string, HistogramSeries>>>();
  const seriesFor = (operation: string, type: string, code: string): HistogramSeries => {
    const byType = entryOf(children, operation, newMap<Map<string, HistogramSeries>>);
    const byCode = entryOf(byType, type, newMap<HistogramSeries>);
    return entryOf(byCode, code, () => durations.seriesFor({ operation, operation_type: type, code }));
  };
  const allQueries = queries.seriesFor({});

  return {
    registry: Registry.merge([processRegistry(), registry]),
    observeQuery: (seconds) => allQueries.observe(seconds),
    countAuthFailure: (reason) => authFailures.inc({ reason }),
    countPurged: (entries) => purged.inc(entries),
    observeRequest(summary) {
      const outcome = outcomeOf(summary);
      // A missing token is refused where an operation needs a caller (src/auth/policy.ts), not
      // when the token is checked: counted here.
      if (summary.principal === null && summary.errorCodes?.includes("UNAUTHENTICATED")) {
        authFailures.inc({ reason: "missing" });
      }
      const operation = operationLabel(summary, operations);
      const type = summary.batchSize > 0 ? BATCH : (summary.operationType ?? NONE);
      seriesFor(operation, type, codes.value(outcome, true)).observe(summary.durationMs / 1000);
    },
  };
}

/** An empty map: one function for every level, not a closure made per request. */
const newMap = <V>() => new Map<string, V>();

/** The map's value for `key`, made by `create` (and kept) the first time. */
function entryOf<V>(map: Map<string, V>, key: string, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = create();
    map.set(key, value);
  }
  return value;
}

function operationLabel(summary: RequestSummary, names: BoundedLabel): string {
  if (summary.batchSize > 0) return BATCH;
  if (summary.operationName !== undefined) return names.value(summary.operationName, Boolean(summary.principal));
  // No name: an anonymous operation, or no operation at all (the request or document was unreadable).
  return summary.operationType === undefined ? NONE : ANONYMOUS;
}

/** Connections of the PostgreSQL pool, read when scraped. */
function registerPoolGauges(registry: Registry, poolStats: () => PoolStats): void {
  new Gauge<"state">({
    name: "metadata_graph_db_pool_connections",
    help: "Open PostgreSQL connections of the pool, by state (idle, in_use)",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      const { total, idle } = poolStats();
      this.set({ state: "idle" }, idle);
      this.set({ state: "in_use" }, total - idle);
    },
  });
  new Gauge({
    name: "metadata_graph_db_pool_max_connections",
    help: "Connections the pool may open (DATABASE_POOL_SIZE)",
    registers: [registry],
    collect() {
      this.set(poolStats().max);
    },
  });
  new Gauge({
    name: "metadata_graph_db_pool_waiting_requests",
    help: "Statements waiting for a free connection of the pool",
    registers: [registry],
    collect() {
      this.set(poolStats().waiting);
    },
  });
}

let defaults: Registry | undefined;

/**
 * Node's process metrics (CPU, memory, event loop lag, GC, handles), collected once per process:
 * several apps in one process (tests) share them.
 */
function processRegistry(): Registry {
  if (!defaults) {
    defaults = new Registry();
    collectDefaultMetrics({ register: defaults });
  }
  return defaults;
}

/**
 * GET (or HEAD) /metrics in Prometheus' text format; with METRICS_TOKEN, only for `Authorization: Bearer
 * <token>`. Served with the probes (useProbes' one onRequest hook), before GraphQL processing: it is
 * neither logged nor counted as a request. GraphQL requests are observed through their summary
 * (useRequestObservation, Metrics.observeRequest).
 */
export function metricsEndpoint(metrics: Metrics, { token }: { token: string | undefined }): OperatorEndpoint {
  const expected = token === undefined ? undefined : digest(token);
  return (request, fetchAPI) => {
    // HEAD (a reachability check) gets the status and headers only, as HTTP wants (Node's server
    // drops a HEAD body, the Fetch API does not): no body, and no scrape's worth of collecting.
    const head = request.method === "HEAD";
    if (expected && !timingSafeEqual(digest(bearerToken(request.headers.get("authorization"))), expected)) {
      return new fetchAPI.Response(head ? null : "Unauthorized: send 'Authorization: Bearer <METRICS_TOKEN>'\n", {
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="metrics"', "content-type": "text/plain; charset=utf-8" },
      });
    }
    const headers = { "content-type": metrics.registry.contentType };
    if (head) return new fetchAPI.Response(null, { headers });
    return metrics.registry.metrics().then((text) => new fetchAPI.Response(text, { headers }));
  };
}

const BEARER = /^Bearer +(\S+)$/i;

function bearerToken(header: string | null): string {
  return (header && BEARER.exec(header)?.[1]) || "";
}

// Equal-length digests: the comparison takes the same time whatever the header's length and content.
function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
