import { type Logger, lineWriter } from "./logger.js";
import { requestIdOf } from "./request-id.js";
import { outcomeOf, type SummaryObserver } from "./request-summary.js";

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
  const writeLine = lineWriter(logger, "info");
  return (summary, response, request, serverContext) => {
    const requestId = requestIdOf(request, serverContext);
    if (summary.unexpectedErrors) {
      for (const err of summary.unexpectedErrors) logger.error({ requestId, err }, "Unexpected error");
    }
    if (!requestLines) return;
    const { principal } = summary;
    writeLine(
      {
        requestId,
        operationName: summary.operationName,
        operationType: summary.operationType,
        batchSize: summary.batchSize || undefined,
        tenant: principal?.tenant,
        sub: principal?.subject,
        clientId: principal?.clientId,
        durationMs: Math.round(summary.durationMs * 100) / 100,
        status: response.status,
        outcome: outcomeOf(summary),
        errorCodes: summary.errorCodes,
      },
      "graphql request",
    );
  };
}
