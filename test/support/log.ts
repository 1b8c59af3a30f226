import { Writable } from "node:stream";
import type { LogLevel } from "../../src/config.js";
import { createLogger, type Logger } from "../../src/observability/logger.js";

/** One JSON log line as written. */
export type LogLine = Record<string, unknown> & { level: string; msg: string; time: string };

export interface CapturedLog {
  /** The service's real logger (JSON, as in production), writing here instead of stdout. */
  logger: Logger;
  /** Everything written so far, as it would reach stdout. */
  text(): string;
  /** Each line parsed. */
  lines(): LogLine[];
  /** Forgets what was written so far. */
  clear(): void;
}

export async function captureLog(level: LogLevel = "info"): Promise<CapturedLog> {
  let text = "";
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const logger = await createLogger({ log: { level, pretty: false } }, destination);
  return {
    logger,
    text: () => text,
    lines: () =>
      text
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as LogLine),
    clear: () => {
      text = "";
    },
  };
}
