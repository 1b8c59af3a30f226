import type { Plugin } from "graphql-yoga";
import type { Database } from "../db/database.js";
import { pendingMigrations } from "../db/migrations.js";

/** A further GET/HEAD path for operators, answered by useProbes before GraphQL processing (/metrics). */
export type OperatorEndpoint = (
  request: Request,
  fetchAPI: { Response: typeof Response },
) => Promise<Response> | Response;

/** The orchestrator's probes: no authentication, never GraphQL requests, no spans. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(["/health", "/ready"]);

type Readiness =
  | { status: "ready" }
  | { status: "unavailable"; reason: "database unreachable" | "shutting down" }
  | { status: "unavailable"; reason: "migrations pending"; pending: string[] };

/**
 * GET or HEAD, as Kubernetes probes and load balancers send them:
 * - /health, liveness: 200 while the process serves requests. It never asks the database: an
 *   outage of the database must not get every instance restarted, it is not theirs to fix.
 * - /ready, readiness: 200 when the database answers and every migration in migrations/ is
 *   applied, else 503 with the reason, so that traffic goes elsewhere until it is; 503 "shutting
 *   down" from SIGTERM on, while in-flight requests drain (keep-alive probers see it at once).
 * Answered before authentication, rate limiting and GraphQL: a probe counts as no operation.
 * `endpoints` are further GET/HEAD paths for operators answered the same way (/metrics): one hook
 * for all of them, since every request passes through each onRequest hook.
 */
export function useProbes(
  db: Database,
  { draining, endpoints = new Map() }: { draining: () => boolean; endpoints?: ReadonlyMap<string, OperatorEndpoint> },
): Plugin {
  return {
    // Not async: every request passes here. The method is checked first: the hot path, a POST,
    // leaves without its URL being parsed.
    onRequest({ request, url, endResponse, fetchAPI }) {
      const method = request.method;
      if (method !== "GET" && method !== "HEAD") return;
      const path = url.pathname;
      const endpoint = endpoints.get(path);
      if (endpoint) {
        const answer = endpoint(request, fetchAPI);
        return answer instanceof Promise ? answer.then(endResponse) : endResponse(answer);
      }
      if (!PROBE_PATHS.has(path)) return;
      const respond = (status: number, body: object) =>
        endResponse(
          new fetchAPI.Response(method === "HEAD" ? null : JSON.stringify(body), {
            status,
            // A cached answer would be a stale one.
            headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
          }),
        );
      if (path === "/health") return respond(200, { status: "ok" });
      if (draining()) return respond(503, { status: "unavailable", reason: "shutting down" } satisfies Readiness);
      return readiness(db).then((r) => respond(r.status === "ready" ? 200 : 503, r));
    },
  };
}

async function readiness(db: Database): Promise<Readiness> {
  let pending: string[];
  try {
    pending = await pendingMigrations(db);
  } catch {
    return { status: "unavailable", reason: "database unreachable" };
  }
  return pending.length ? { status: "unavailable", reason: "migrations pending", pending } : { status: "ready" };
}
