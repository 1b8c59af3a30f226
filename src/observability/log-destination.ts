import { type DestinationStream, pino } from "pino";

/** Lines go out in writes of about this size (~25 request lines), */
const BATCH_CHARS = 8192;
/** or after this long when traffic is low. */
const FLUSH_INTERVAL_MS = 1000;

export interface BatchedDestination extends DestinationStream {
  /** Hands the pending lines over and writes everything out before returning (exit, tests). */
  flushSync(): void;
  flush(callback?: (error?: Error) => void): void;
}

/**
 * Log lines batched in memory and handed to pino's own asynchronous destination (sonic-boom) a
 * batch at a time: a request never waits for stdout, and the file descriptor, EAGAIN retries and
 * broken pipes stay sonic-boom's business. Not sonic-boom's `minLength` alone: its `write` measures
 * the UTF-8 length of the whole pending buffer on every line (sonic-boom 4.2 and 5.0), which cost
 * ~4.5 µs per request line at 8 KB, a tenth of a point read's CPU (bench `observability` scenario).
 * `flush(callback)` writes everything out in order (main.ts calls it on SIGTERM before exiting);
 * an abrupt `process.exit()` still writes what is pending, though a batch already with the write
 * thread may then land after it (sonic-boom's own exit flush has the same limit).
 */
export function batchedDestination(fd = 1): BatchedDestination {
  const sonic = pino.destination({ dest: fd, sync: false, minLength: 0 });
  let pending: string[] = [];
  let size = 0;
  const handOver = () => {
    if (size === 0) return;
    const batch = pending.join("");
    pending = [];
    size = 0;
    sonic.write(batch);
  };
  const timer = setInterval(handOver, FLUSH_INTERVAL_MS);
  timer.unref();
  const flushSync = () => {
    handOver();
    sonic.flushSync();
  };
  process.once("exit", flushSync);
  return {
    write(line: string) {
      pending.push(line);
      size += line.length;
      if (size >= BATCH_CHARS) handOver();
    },
    flushSync,
    flush(callback) {
      handOver();
      sonic.flush(callback);
    },
  };
}
