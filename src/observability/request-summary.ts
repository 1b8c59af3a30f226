import type { IncomingMessage } from "node:http";
// Not the global: `performance` on globalThis is an accessor, looked up again on every call.
import { performance } from "node:perf_hooks";
import { type DocumentNode, type GraphQLError, getOperationAST } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Principal } from "../auth/principal.js";
import { unexpectedErrorBehind } from "../graphql/errors.js";
import type { ServerContext } from "./request-id.js";

/**
 * What one GraphQL request did, gathered once for the request log and the metrics: both read it
 * when the response is out. Only what is safe to record: names, codes, who; never a variable, a
 * value or a token.
 */
export interface RequestSummary {
  /** performance.now() when the request arrived. */
  readonly started: number;
  /** Milliseconds from arrival to the response, set once it is out: every observer reports the same. */
  durationMs: number;
  /** Set once the request went through GraphQL processing (not /health, /metrics, GraphiQL's page). */
  processed: boolean;
  /** Operations in a batched request; 0 for a single one. */
  batchSize: number;
  /** The operation's name, as the document names it (comma-joined in a batch); unset: anonymous or unparsed. */
  operationName: string | undefined;
  /** query | mutation | subscription (comma-joined in a batch); unset: the document did not parse. */
  operationType: string | undefined;
  /** The verified caller; null: no token; undefined: the context was never built (e.g. a refused token). */
  principal: Principal | null | undefined;
  /** `extensions.code` of each error sent, in order; undefined when there was none. */
  errorCodes: string[] | undefined;
  /** What each masked INTERNAL_SERVER_ERROR replaced: logged with its stack. */
  unexpectedErrors: unknown[] | undefined;
}

// On the request itself, not in a WeakMap (see REQUEST_ID in request-id.ts).
const SUMMARY = Symbol("requestSummary");
const ARRIVED = Symbol("arrivedAt");
type Arrived = IncomingMessage & { [ARRIVED]?: number };
type WithSummary = Request & { [SUMMARY]?: RequestSummary };
const summaries = {
  get: (request: Request) => (request as WithSummary)[SUMMARY],
  set: (request: Request, summary: RequestSummary) => {
    (request as WithSummary)[SUMMARY] = summary;
  },
};

/** The request's summary once it went through GraphQL processing; undefined otherwise. */
export function summaryOf(request: Request): RequestSummary | undefined {
  const summary = summaries.get(request);
  return summary?.processed ? summary : undefined;
}

/**
 * Records the verified caller (called by the context factory, src/server.ts, after validation
 * opened the summary; nothing when no one observes requests): an envelop
 * `onExecute` hook would do the same at the cost of wrapping every execution.
 */
export function notePrincipal(request: Request, principal: Principal | null): void {
  const summary = summaries.get(request);
  if (summary) summary.principal = principal;
}

/** The outcome of a request: OK, or the code of its first error. */
export function outcomeOf(summary: RequestSummary): string {
  return summary.errorCodes?.[0] ?? "OK";
}

/**
 * What reads a finished request's summary (the request log, the metrics). The request is there for
 * its id (request-id.ts); `serverContext` is what Node's adapter passed.
 */
export type SummaryObserver = (
  summary: RequestSummary,
  response: Response,
  request: Request,
  serverContext: ServerContext,
) => void;

/**
 * Notes when Node handed the request over (src/server.ts, before Yoga reads it): its duration counts
 * from there. Not a Yoga `onRequest` hook opening the summary: each hook is one more step through
 * the server's promise chain for every request, probes included.
 */
export function stampArrival(req: IncomingMessage): void {
  (req as Arrived)[ARRIVED] = performance.now();
}

/**
 * The request's summary, opened by the first phase that has something to note: validation, or the
 * result of a request that never got that far (unreadable, refused before parsing). Without Node's
 * request (`yoga.fetch`) the duration counts from there.
 */
function openedSummary(request: Request, req: IncomingMessage | undefined): RequestSummary {
  const summary = summaries.get(request);
  if (summary) return summary;
  const opened = emptySummary((req as Arrived | undefined)?.[ARRIVED] ?? performance.now());
  summaries.set(request, opened);
  return opened;
}

/** A summary with nothing noted yet, every field present (one object shape for V8). */
export function emptySummary(started: number): RequestSummary {
  return {
    started,
    durationMs: 0,
    processed: false,
    batchSize: 0,
    operationName: undefined,
    operationType: undefined,
    principal: undefined,
    errorCodes: undefined,
    unexpectedErrors: undefined,
  };
}

/**
 * Records the operation of a document about to be validated. Validation sees every document that
 * parsed, before the context (and the token) is checked: a refused request is still reported with
 * its operation.
 */
export function noteOperation(
  request: Request,
  req: IncomingMessage | undefined,
  document: DocumentNode,
  operationName?: string,
): void {
  const operation = getOperationAST(document, operationName);
  if (!operation) return;
  const summary = openedSummary(request, req);
  const name = operation.name?.value;
  if (summary.operationType === undefined) {
    summary.operationName = name;
    summary.operationType = operation.operation;
  } else {
    summary.operationName = `${summary.operationName ?? ""},${name ?? ""}`;
    summary.operationType = `${summary.operationType},${operation.operation}`;
  }
}

/** Records the result as sent (its error codes, the unexpected errors behind masked ones). */
export function noteResult(request: Request, req: IncomingMessage | undefined, result: ProcessedResult): void {
  const summary = openedSummary(request, req);
  summary.processed = true;
  if (!Array.isArray(result)) {
    recordErrors(summary, result);
    return;
  }
  summary.batchSize = result.length;
  for (const single of result) recordErrors(summary, single);
}

export type ProcessedResult = Parameters<NonNullable<Plugin["onResultProcess"]>>[0]["result"];

function recordErrors(summary: RequestSummary, result: ProcessedResult): void {
  const errors = (result as { errors?: readonly GraphQLError[] }).errors;
  if (!errors?.length) return;
  summary.errorCodes ??= [];
  for (const error of errors) {
    const code = error.extensions?.code;
    summary.errorCodes.push(typeof code === "string" ? code : "UNKNOWN");
    const thrown = unexpectedErrorBehind(error);
    if (thrown === undefined) continue;
    summary.unexpectedErrors ??= [];
    summary.unexpectedErrors.push(thrown);
  }
}
