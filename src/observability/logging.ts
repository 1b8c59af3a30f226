import { jsonString, type Logger, lineWriter } from "./logger.js";
import { requestIdOf } from "./request-id.js";
import { outcomeOf, type RequestSummary, type SummaryObserver } from "./request-summary.js";

/**
 * One line per GraphQL request, once its response is out: request id, operation, caller, duration,
 * HTTP status, outcome and error codes. Only names, ids and codes: never the document, variables,
 * values or headers, so neither a token nor a stored value can reach the log.
 * Each unexpected error (masked as INTERNAL_SERVER_ERROR for the client, with the same request id)
 * is logged once before it, at error level, with its stack.
 */
export function requestLogging(logger: Logger): SummaryObserver {
  // The level is set once, at start-up.
  const requestLines = logger.isLevelEnabled("info");
  const writeLine = lineWriter(logger, "info", "graphql request");
  return (summary, response, request, serverContext) => {
    const requestId = requestIdOf(request, serverContext);
    if (summary.unexpectedErrors) {
      for (const err of summary.unexpectedErrors) logger.error({ requestId, err }, "Unexpected error");
    }
    if (requestLines) writeLine(requestMembers(summary, response.status, requestId));
  };
}

/**
 * The request line's fields as JSON members (see lineWriter), in this order: requestId,
 * operationName, operationType, batchSize, tenant, sub, clientId, durationMs, status, outcome,
 * errorCodes; a field without a value is left out.
 */
function requestMembers(summary: RequestSummary, status: number, requestId: string): string {
  const { operationName, operationType, batchSize, principal, errorCodes } = summary;
  let members = `,"requestId":${jsonString(requestId)}`;
  if (operationName !== undefined) members += `,"operationName":${jsonString(operationName)}`;
  if (operationType !== undefined) members += `,"operationType":${jsonString(operationType)}`;
  if (batchSize) members += `,"batchSize":${batchSize}`;
  if (principal) {
    members += `,"tenant":${jsonString(principal.tenant)}`;
    if (principal.subject !== undefined) members += `,"sub":${jsonString(principal.subject)}`;
    if (principal.clientId !== undefined) members += `,"clientId":${jsonString(principal.clientId)}`;
  }
  members += `,"durationMs":${hundredthsText(summary.durationMs)},"status":${status},"outcome":${jsonString(outcomeOf(summary))}`;
  if (errorCodes) members += `,"errorCodes":${JSON.stringify(errorCodes)}`;
  return members;
}

/**
 * `ms` (≥ 0) rounded to hundredths, as JSON writes that number (`12.5`, `0.07`, `12`): from its
 * integer parts, which V8 prints from a cache. Printing the rounded double itself went through
 * V8's shortest-digits conversion (FastDtoa) on every request line, code nothing else on a read
 * runs: ~650 instructions and ~45 L1 instruction misses per line (callgrind's cache simulation,
 * bench read; README, Performance).
 */
export function hundredthsText(ms: number): string {
  const hundredths = Math.round(ms * 100);
  const fraction = hundredths % 100;
  const whole = (hundredths - fraction) / 100;
  if (fraction === 0) return `${whole}`;
  if (fraction % 10 === 0) return `${whole}.${fraction / 10}`;
  return `${whole}.${fraction < 10 ? "0" : ""}${fraction}`;
}
