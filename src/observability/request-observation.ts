// Not the global: `performance` on globalThis is an accessor, looked up again on every call.
import { performance } from "node:perf_hooks";
import type { Plugin } from "graphql-yoga";
import type { GraphQLContext } from "../graphql/builder.js";
import { REQUEST_ID_HEADER, requestIdOf, type ServerContext, stampRequestIds } from "./request-id.js";
import { noteOperation, noteResult, type SummaryObserver, summaryOf } from "./request-summary.js";

/**
 * Each request's id (response header, masked errors) and, when anything observes requests (the
 * request log, the metrics), its summary, handed to each observer once the response is out.
 * Registered after the plugins that rewrite results (useInputErrorCodes): the summary holds the
 * codes clients receive. Durations count from the arrival src/server.ts stamps (stampArrival).
 * One plugin, one hook per phase, and none on arrival: every onRequest, onResultProcess and
 * onResponse hook is a step through the server's promise-helpers chain, ~1 KB of garbage per
 * request each (V8's sampling heap profiler); as separate plugins, logs and metrics allocated
 * ~10 KB more per point read.
 */
export function useRequestObservation(
  observers: readonly SummaryObserver[],
): Plugin<GraphQLContext & ServerContext, ServerContext> {
  const observed = observers.length > 0;
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
      response.headers.set(REQUEST_ID_HEADER, requestIdOf(request, serverContext));
      const summary = observed ? summaryOf(request) : undefined;
      if (!summary) return;
      summary.durationMs = performance.now() - summary.started;
      for (const observe of observers) observe(summary, response, request, serverContext);
    },
  };
}
