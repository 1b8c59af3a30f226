/**
 * One load run with autocannon's programmatic API. Every response is checked: HTTP 200, `data`
 * present, no `errors`, then the workload's own check; the first bad one stops the run.
 */
import autocannon from "autocannon";
import type { GcTally } from "./gc-trace.js";

export interface Planned<M> {
  body: string;
  authorization: string;
  meta: M;
}

export interface Workload<M> {
  /** The next request; called once per request actually sent. */
  next(): Planned<M>;
  /** Checks `data` of a good response (and records what it acknowledges); returns a problem, or undefined. */
  accept(meta: M, data: Record<string, unknown>): string | undefined;
}

export interface LoadResult {
  durationSeconds: number;
  requests: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Bad responses, connection errors and timeouts. */
  errors: number;
  /** CPU time the server used per request during the round, in µs (set by the caller, who knows the server). */
  serverCpuMicros?: number;
  /** The same for the server's main thread alone. */
  serverMainThreadCpuMicros?: number;
  /** How often per request the server's main thread was preempted (non-voluntary context switches). */
  serverMainThreadPreemptions?: number;
  /** The server's garbage collections during the round, when it traced them (`--trace-gc`). */
  serverGc?: GcTally;
  firstBad?: string;
}

interface Context {
  meta?: unknown;
}

export async function runLoad<M>(
  url: string,
  workload: Workload<M>,
  connections: number,
  durationSeconds: number,
  /** Stop after this many requests instead (durationSeconds is then ignored). */
  amount?: number,
): Promise<LoadResult> {
  let bad = 0;
  let firstBad: string | undefined;
  let instance: autocannon.Instance | undefined;
  const fail = (problem: string, body: string) => {
    bad += 1;
    firstBad ??= `${problem}\n  body: ${body.slice(0, 2000)}`;
    instance?.stop();
  };
  const request: autocannon.Request = {
    method: "POST",
    path: new URL(url).pathname,
    setupRequest(req, context) {
      const planned = workload.next();
      (context as Context).meta = planned.meta;
      return { ...req, body: planned.body, headers: { ...req.headers, authorization: planned.authorization } };
    },
    onResponse(status, body, context) {
      if (status !== 200) return fail(`HTTP ${status}`, body);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return fail("response is not JSON", body);
      }
      const { data, errors } = (parsed ?? {}) as { data?: unknown; errors?: unknown };
      if (errors !== undefined) return fail("response has errors", body);
      if (typeof data !== "object" || data === null) return fail("response has no data", body);
      const problem = workload.accept((context as Context).meta as M, data as Record<string, unknown>);
      if (problem) fail(problem, body);
    },
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url,
        connections,
        duration: durationSeconds,
        ...(amount !== undefined && { amount }),
        headers: { "content-type": "application/json" },
        requests: [request],
      },
      (error: unknown, done: autocannon.Result) => (error ? reject(error) : resolve(done)),
    );
  });
  // `errors` counts connection errors and timeouts.
  const transportErrors = result.errors;
  if (transportErrors > 0) firstBad ??= `${result.errors} connection errors (${result.timeouts} of them timeouts)`;
  return {
    durationSeconds: result.duration,
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: bad + transportErrors,
    ...(firstBad !== undefined && { firstBad }),
  };
}
