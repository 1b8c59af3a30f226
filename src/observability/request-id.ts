import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { GraphQLError } from "graphql";
import type { ProcessedResult } from "./request-summary.js";

export const REQUEST_ID_HEADER = "x-request-id";

/**
 * A caller's id is kept (a proxy or client correlating its own logs) only when it cannot forge a
 * log line or a header: bounded, and characters that need no escaping anywhere.
 */
const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// On the request itself, not in a WeakMap: a WeakMap keyed by short-lived objects costs the garbage
// collector an ephemeron per request (measured: ~2 µs per request and map at a few thousand req/s).
const REQUEST_ID = Symbol("requestId");
type WithId = Request & { [REQUEST_ID]?: string };

/** What Node's adapter passes plugins besides the request (src/server.ts). */
export type ServerContext = { req?: IncomingMessage };

/**
 * The request's id: its `x-request-id` when valid, else a new UUID; the same one on every call.
 * Read from Node's own headers object when there is one: the Fetch API Headers of the request
 * (whatwg-node) index every header name of the request to tell that one is absent.
 */
export function requestIdOf(request: Request, serverContext?: ServerContext): string {
  let id = (request as WithId)[REQUEST_ID];
  if (id === undefined) {
    const given = serverContext?.req
      ? serverContext.req.headers[REQUEST_ID_HEADER]
      : request.headers.get(REQUEST_ID_HEADER);
    id = typeof given === "string" && VALID_REQUEST_ID.test(given) ? given : randomUUID();
    (request as WithId)[REQUEST_ID] = id;
  }
  return id;
}

/**
 * Each masked INTERNAL_SERVER_ERROR carries the request's id (`extensions.requestId`), as every
 * response does in its header: an operator finds the logged stack of what the client saw.
 */
export function stampRequestIds(request: Request, serverContext: ServerContext, result: ProcessedResult): void {
  if (!Array.isArray(result)) {
    stampUnexpected(request, serverContext, result);
    return;
  }
  for (const single of result) stampUnexpected(request, serverContext, single);
}

function stampUnexpected(request: Request, serverContext: ServerContext, result: ProcessedResult): void {
  const errors = (result as { errors?: readonly GraphQLError[] }).errors;
  if (!errors) return;
  for (const error of errors) {
    // Masked errors are made per occurrence (src/graphql/errors.ts): nothing else shares them.
    if (error.extensions?.code === "INTERNAL_SERVER_ERROR")
      error.extensions.requestId = requestIdOf(request, serverContext);
  }
}
