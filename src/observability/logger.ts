import { type DestinationStream, type Logger, pino } from "pino";
import type { Config } from "../config.js";
import { batchedDestination } from "./log-destination.js";

export type { Logger };

/**
 * The one logger of the process: JSON lines on stdout (one object per line, ISO time, the level as
 * a word), pretty-printed for people outside production. `destination` replaces stdout (tests read
 * the JSON lines from it).
 */
export async function createLogger({ log }: Pick<Config, "log">, destination?: DestinationStream): Promise<Logger> {
  const options = {
    level: log.level,
    timestamp: isoTimeOncePerMillisecond,
    formatters: { level: (label: string) => ({ level: label }) },
    serializers: { err: serializeError },
  };
  if (destination) return pino(options, destination);
  if (log.level === "silent") return pino(options);
  if (log.pretty) {
    // Loaded only when used: production never needs the pretty-printer.
    const { default: pretty } = await import("pino-pretty");
    return pino(options, pretty({ ignore: "pid,hostname", translateTime: "SYS:HH:MM:ss.l", sync: true }));
  }
  // Asynchronous and batched: see log-destination.ts.
  return pino(options, batchedDestination(1));
}

/**
 * Type, message, stack and code only: drivers attach more (PostgreSQL's `detail`, `where`,
 * `parameters`) and those can quote the values a statement carried, which never go to the log.
 */
function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { type, message, stack } = pino.stdSerializers.err(error);
  const code = (error as { code?: unknown }).code;
  return { type, message, stack, ...(typeof code === "string" && { code }) };
}

let lastMillisecond = Number.NaN;
let lastTime = "";

/**
 * pino's `isoTime`, formatted once per millisecond: `toISOString` took ~1.4 µs per line, and at a
 * few thousand requests a second several lines share each millisecond.
 */
function isoTimeOncePerMillisecond(): string {
  const now = Date.now();
  if (now !== lastMillisecond) {
    lastMillisecond = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}
