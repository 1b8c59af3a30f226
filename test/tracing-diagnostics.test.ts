import { createServer } from "node:net";
import { diag, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it } from "vitest";
import { registerTracing } from "../src/observability/tracing.js";
import { logTelemetryProblems } from "../src/observability/tracing-diagnostics.js";
import { captureLog } from "./support/log.js";

afterEach(() => diag.disable());

/** A port nothing listens on: bound, then closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const address = server.address();
  await new Promise((closed) => server.close(closed));
  if (!address || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("OpenTelemetry's own problems reach our log", () => {
  it("a failed export is logged with its reason, not silently dropped", async () => {
    const log = await captureLog();
    logTelemetryProblems(log.logger);
    const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${await closedPort()}/v1/traces` });
    const tracing = registerTracing("diagnostics-test", [
      new BatchSpanProcessor(exporter, { scheduledDelayMillis: 20 }),
    ]);
    try {
      trace.getTracer("test").startSpan("lost").end();
      const deadline = Date.now() + 10_000;
      while (log.lines().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(log.lines()).toEqual([
        expect.objectContaining({ level: "error", msg: expect.stringMatching(/^OpenTelemetry: .*ECONNREFUSED/) }),
      ]);
      // The reason, not the SDK's JSON dump of the exception with its stack.
      expect(log.text()).not.toContain("stack");
    } finally {
      await tracing.shutdown(1_000);
    }
  });

  it("at most one line per interval, which counts the reports held back", async () => {
    const log = await captureLog();
    let clock = 0;
    logTelemetryProblems(log.logger, { intervalMs: 60_000, now: () => clock });
    const failure = JSON.stringify({ message: "Request timed out", stack: "Error: …" });
    diag.error(failure);
    diag.warn("Dropped 3 spans");
    diag.error(failure);
    clock = 59_999;
    diag.error(failure);
    clock = 60_000;
    diag.warn("Dropped 5 spans");
    diag.info("not a problem");
    expect(log.lines().map(({ level, msg, heldBack }) => ({ level, msg, heldBack }))).toEqual([
      { level: "error", msg: "OpenTelemetry: Request timed out", heldBack: undefined },
      { level: "warn", msg: "OpenTelemetry: Dropped 5 spans", heldBack: 3 },
    ]);
  });
});
