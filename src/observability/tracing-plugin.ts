import {
  type Attributes,
  type Context,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from "@opentelemetry/semantic-conventions";
import { getOperationAST } from "graphql";
import type { Plugin } from "graphql-yoga";

/** The name every span of this service is created under (its instrumentation scope). */
export const TRACER_NAME = "metadata-graph";

/** Attributes of the GraphQL semantic conventions (https://opentelemetry.io/docs/specs/semconv/graphql/). */
const GRAPHQL_OPERATION_TYPE = "graphql.operation.type";
const GRAPHQL_OPERATION_NAME = "graphql.operation.name";
/** The `extensions.code` of each error in the result (none of their messages: they may quote input). */
const GRAPHQL_ERROR_CODES = "graphql.error.codes";

export interface TracingPluginOptions {
  /** Where Yoga serves GraphQL: the route of its requests' spans. */
  graphqlEndpoint: string;
  /** Paths whose requests get no span (the orchestrator's probes, every few seconds). */
  untracedPaths: ReadonlySet<string>;
}

/**
 * Spans for each HTTP request (SERVER, the root, or the child of an incoming `traceparent`) and,
 * under it, the GraphQL phases: graphql.parse, graphql.validate, graphql.execute (whose children are
 * the statements the resolvers send, src/observability/sql-spans.ts). Built on the `instrumentation`
 * hooks of Yoga's plugins (@envelop/instrumentation), which wrap each phase, so that each span is
 * the active one while its phase runs and the spans started inside it become its children.
 * @envelop/opentelemetry creates an execute span only, next to the phase rather than around it
 * (graphql-hive/envelop#2255); @graphql-hive/plugin-opentelemetry covers every phase but brings
 * Hive Gateway's runtime and ~200 MB of OpenTelemetry auto-instrumentations with it.
 * Only added when tracing is on.
 */
export function useTracing(tracer: Tracer, { graphqlEndpoint, untracedPaths }: TracingPluginOptions): Plugin {
  const requestSpans = new WeakMap<Request, Span>();
  return {
    instrumentation: {
      request({ request }, wrapped) {
        const url = new URL(request.url);
        if (untracedPaths.has(url.pathname)) return wrapped();
        const route = url.pathname === graphqlEndpoint ? graphqlEndpoint : undefined;
        const parent = propagation.extract(context.active(), request.headers, headersGetter);
        const attributes: Attributes = {
          [ATTR_HTTP_REQUEST_METHOD]: request.method,
          [ATTR_URL_PATH]: url.pathname,
          [ATTR_URL_SCHEME]: url.protocol.slice(0, -1),
          [ATTR_SERVER_ADDRESS]: url.hostname,
        };
        if (url.port) attributes[ATTR_SERVER_PORT] = Number(url.port);
        if (route) attributes[ATTR_HTTP_ROUTE] = route;
        const userAgent = request.headers.get("user-agent");
        if (userAgent) attributes[ATTR_USER_AGENT_ORIGINAL] = userAgent;
        const span = tracer.startSpan(
          route ? `${request.method} ${route}` : request.method,
          { kind: SpanKind.SERVER, attributes },
          parent,
        );
        requestSpans.set(request, span);
        return runInSpan(span, parent, wrapped);
      },
      parse: (_, wrapped) => runPhase(tracer, "graphql.parse", wrapped),
      validate: (_, wrapped) => runPhase(tracer, "graphql.validate", wrapped),
      execute: (_, wrapped) => runInSpan(tracer.startSpan("graphql.execute"), context.active(), wrapped),
    },
    onResponse({ request, response }) {
      const span = requestSpans.get(request);
      if (!span) return;
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, response.status);
      // A server span is in error for 5xx only: a 4xx is the client's (semantic conventions).
      if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    },
    onValidate:
      () =>
      ({ valid, result }) => {
        if (!valid) failActiveSpan(`${result.length} validation error(s)`);
      },
    onExecute({ args }) {
      const span = trace.getActiveSpan();
      const operation = getOperationAST(args.document, args.operationName);
      if (span && operation) {
        span.setAttribute(GRAPHQL_OPERATION_TYPE, operation.operation);
        if (operation.name) span.setAttribute(GRAPHQL_OPERATION_NAME, operation.name.value);
      }
      return {
        onExecuteDone({ result }) {
          if (!("errors" in result) || !result.errors?.length) return;
          const codes = result.errors.map((e) => errorCode(e.extensions?.code ?? e.originalError));
          trace.getActiveSpan()?.setAttribute(GRAPHQL_ERROR_CODES, codes);
          failActiveSpan(codes.join(", "));
        },
      };
    },
  };
}

const headersGetter = {
  keys: (carrier: Headers) => [...carrier.keys()],
  get: (carrier: Headers, key: string) => carrier.get(key) ?? undefined,
};

/** A synchronous phase (parse, validate) as a child of the active span. */
function runPhase(tracer: Tracer, name: string, wrapped: () => void): void {
  const span = tracer.startSpan(name);
  try {
    context.with(trace.setSpan(context.active(), span), wrapped);
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}

/** Runs `wrapped` with `span` active, and ends the span once it settles. */
async function runInSpan(span: Span, parent: Context, wrapped: () => Promise<void> | void): Promise<void> {
  try {
    await context.with(trace.setSpan(parent, span), wrapped);
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}

// Before Yoga masks them, a domain error's code is still on the error it wraps (src/errors.ts).
function errorCode(codeOrError: unknown): string {
  if (typeof codeOrError === "string") return codeOrError;
  const code = (codeOrError as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : "INTERNAL_SERVER_ERROR";
}

function failActiveSpan(message: string): void {
  trace.getActiveSpan()?.setStatus({ code: SpanStatusCode.ERROR, message });
}
