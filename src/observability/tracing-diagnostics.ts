import { type DiagLogger, DiagLogLevel, diag } from "@opentelemetry/api";
import type { Logger } from "./logger.js";

/** At most one line per minute: a collector that is down fails every export, every 5 s. */
const DEFAULT_INTERVAL_MS = 60_000;

/**
 * OpenTelemetry reports what goes wrong (an export the collector refused or never received)
 * through its `diag` logger, which is silent until one is set: traces would stop with nothing in
 * our log. Its warnings and errors go to our log instead, one line per interval at most, with the
 * number of reports held back since the previous line.
 */
export function logTelemetryProblems(
  logger: Logger,
  { intervalMs = DEFAULT_INTERVAL_MS, now = Date.now }: { intervalMs?: number; now?: () => number } = {},
): void {
  let lastLineAt = Number.NEGATIVE_INFINITY;
  let heldBack = 0;
  const report =
    (level: "warn" | "error") =>
    (message: string, ...args: unknown[]): void => {
      const at = now();
      if (at - lastLineAt < intervalMs) {
        heldBack++;
        return;
      }
      lastLineAt = at;
      logger[level](
        { heldBack: heldBack || undefined },
        `OpenTelemetry: ${[message, ...args].map(readable).join(" ")}`,
      );
      heldBack = 0;
    };
  const ignore = () => {};
  const sink: DiagLogger = {
    error: report("error"),
    warn: report("warn"),
    info: ignore,
    debug: ignore,
    verbose: ignore,
  };
  diag.setLogger(sink, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}

/**
 * The SDK hands exceptions over as JSON text of every property, stack included: the message (and
 * its code) say what an operator needs; the stack is the SDK's, not ours.
 */
function readable(part: unknown): string {
  if (typeof part !== "string") return String(part);
  try {
    const parsed: unknown = JSON.parse(part);
    if (parsed && typeof parsed === "object" && "message" in parsed && typeof parsed.message === "string") {
      return parsed.message;
    }
  } catch {
    // Plain text: as it is.
  }
  return part;
}
