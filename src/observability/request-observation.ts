// Not the global: `performance` on globalThis is an accessor, looked up again on every call.
import { performance } from "node:perf_hooks";
import type { Plugin } from "graphql-yoga";
import type { GraphQLContext } from "../graphql/builder.js";
import type { ObservationQueue } from "./observation-queue.js";
import { REQUEST_ID_HEADER, requestIdOf, type ServerContext, stampRequestIds } from "./request-id.js";
import { noteOperation, noteResult, summaryOf } from "./request-summary.js";

/**
 * Each request's id (response header, masked errors) and, when anything observes requests (the
 * request log, the metrics), its summary, queued for the observers once the response is out.
 * Registered after the plugins that rewrite results (useInputErrorCodes): the summary holds the
 * codes clients receive. Durations count from the arrival src/server.ts stamps (stampArrival).
 * One plugin, one hook per phase, and none on arrival: every onRequest, onResultProcess and
 * onResponse hook is a step through the server's promise-helpers chain, ~1 KB of garbage per
 * request each (V8's sampling heap profiler); as separate plugins, logs and metrics allocated
 * ~10 KB more per point read.
 */
export function useRequestObservation(
  observations: ObservationQueue | undefined,
): Plugin<GraphQLContext & ServerContext, ServerContext> {
  const observed = observations !== undefined;
  return {
    ...(observed && {
      onValidate: ({ context, params }) =>
        noteOperation(context.request, context.req, params.documentAST, context.params.operationName),
    }),
    onResultProcess({ request, result, serverContext }) {
      stampRequestIds(request, serverContext, result);
      if (observed) noteResult(request, serverContext.req, result);
    },
    onResponse({ request, response, serverContext }) {
      const requestId = requestIdOf(request, serverContext);
      response.headers.set(REQUEST_ID_HEADER, requestId);
      const summary = observations && summaryOf(request);
      if (!observations || !summary) return;
      summary.durationMs = performance.now() - summary.started;
      summary.requestId = requestId;
      summary.status = response.status;
      observations.add(summary);
    },
  };
}
