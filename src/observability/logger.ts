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
    timestamp: isoTimeOncePerSecond,
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

/**
 * Writes lines at `level` with message `msg`, exactly as `logger[level](fields, msg)` would (level,
 * time, the logger's bindings, the fields, then `msg`), from the fields already in JSON: `members`
 * is `,"name":value` per field (jsonString quotes string values), so a caller that knows its fields
 * builds the line without an object to walk. pino's own serializer goes field by field (~8 µs of
 * CPU per request line in profiles of the bench's observed server), and one `JSON.stringify` of a
 * fields object still took ~7,000 instructions a request line (callgrind, bench read). No
 * serializer, redaction or hook of pino applies to these fields, and none is configured
 * (createLogger). The logger's destination, level label, time and bindings are read through
 * `pino.symbols`, which pino exposes for such integrations; a destination that needs pino's
 * per-line metadata (multistream) gets the fields through pino itself.
 */
export function lineWriter(logger: Logger, level: "info", msg: string): (members: string) => void {
  const own = logger as unknown as Record<symbol, unknown>;
  const stream = own[pino.symbols.streamSym] as DestinationStream & Record<symbol, unknown>;
  if (stream[pino.symbols.needsMetadataGsym]) {
    return (members) => logger[level](JSON.parse(`{${members.slice(1)}}`) as object, msg);
  }
  const head = (own[pino.symbols.lsCacheSym] as Record<number, string>)[logger.levels.values[level] as number];
  const time = own[pino.symbols.timeSym] as () => string;
  const bindings = own[pino.symbols.chindingsSym] as string;
  const tail = `,"msg":${JSON.stringify(msg)}${own[pino.symbols.endSym] as string}`;
  return (members) => stream.write(`${head}${time()}${bindings}${members}${tail}`);
}

/** Longer strings go to JSON.stringify directly: scanning them first would only add to its cost. */
const SCANNED_LENGTH = 64;

/**
 * `JSON.stringify(text)`: the same output, without a call into V8's JSON serializer for the short
 * strings that need no escaping, which log fields mostly are (ids, names, codes): those are quoted
 * as they are.
 */
export function jsonString(text: string): string {
  if (text.length > SCANNED_LENGTH) return JSON.stringify(text);
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // Control characters, `"` and `\` are escaped; surrogates, as JSON.stringify decides (a lone one is escaped).
    if (unit < 0x20 || unit === 0x22 || unit === 0x5c || (unit >= 0xd800 && unit <= 0xdfff)) {
      return JSON.stringify(text);
    }
  }
  return `"${text}"`;
}

let lastSecond = Number.NaN;
let secondPrefix = "";

/**
 * pino's `isoTime` (`,"time":"2026-12-07T01:02:03.004Z"`), its date and time formatted once per
 * second: `toISOString` took ~1.4 µs per line, and at a thousand lines a second and more most lines
 * fall in a millisecond of their own (a once-per-millisecond cache still cost ~3.5 µs per request
 * line in CPU profiles of the bench's observed server).
 */
export function isoTimeOncePerSecond(): string {
  const now = Date.now();
  const millisecond = now % 1000;
  const second = now - millisecond;
  if (second !== lastSecond) {
    lastSecond = second;
    // "2026-12-07T01:02:03." : the ISO string up to its milliseconds.
    secondPrefix = `,"time":"${new Date(second).toISOString().slice(0, 20)}`;
  }
  return `${secondPrefix}${millisecond < 10 ? "00" : millisecond < 100 ? "0" : ""}${millisecond}Z"`;
}
