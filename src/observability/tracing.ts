import { context, propagation, type TracerProvider, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { Config } from "../config.js";
import type { Logger } from "./logger.js";
import { logTelemetryProblems } from "./tracing-diagnostics.js";

/** A registered tracer provider. */
export interface Tracing {
  readonly provider: TracerProvider;
  /** Exports the spans still buffered (at most `timeoutMs`), then unregisters the provider. */
  shutdown(timeoutMs?: number): Promise<void>;
}

/**
 * Spans exported over OTLP/HTTP (JSON) to the configured endpoint, in batches. Undefined when
 * tracing is off: then no provider is registered, the API's tracer is its no-op one, and createApp
 * adds no tracing plugin (nothing runs per request or per statement). The exporter itself still
 * honours OpenTelemetry's other variables (OTEL_EXPORTER_OTLP_HEADERS, …_TIMEOUT, …_COMPRESSION),
 * as operators expect of an OpenTelemetry SDK. Failed exports are logged (tracing-diagnostics.ts).
 */
export function startTracing(config: Config["tracing"], logger: Logger): Tracing | undefined {
  if (!config) return undefined;
  logTelemetryProblems(logger);
  const exporter = new OTLPTraceExporter({ url: config.tracesUrl });
  return registerTracing(config.serviceName, [new BatchSpanProcessor(exporter)]);
}

/** Registers a provider that hands every span to `spanProcessors` (tests pass an in-memory exporter). */
export function registerTracing(serviceName: string, spanProcessors: SpanProcessor[]): Tracing {
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName })),
    spanProcessors,
  });
  // Global on purpose: the statements a resolver sends find their parent span through the
  // AsyncLocalStorage context manager this installs, and an incoming `traceparent` header is read
  // by the W3C propagator it installs too.
  provider.register();
  return {
    provider,
    async shutdown(timeoutMs = 5_000) {
      let timer: NodeJS.Timeout | undefined;
      // A collector that accepts but never answers must not hold the process past its shutdown.
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([provider.shutdown().catch(() => {}), timeout]);
      clearTimeout(timer);
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
