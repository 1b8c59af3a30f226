import { writeSync } from "node:fs";
import { type DestinationStream, pino } from "pino";

/** Lines go out in writes of about this size (~25 request lines), */
const BATCH_CHARS = 8192;
/** or after this long when traffic is low. */
const FLUSH_INTERVAL_MS = 1000;
/** At exit, after a batch handed over this recently, */
const IN_FLIGHT_GRACE_WINDOW_MS = 1000;
/** wait this long for the thread pool to finish writing it. */
const IN_FLIGHT_GRACE_MS = 25;

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

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
 * `flush(callback)` writes everything out in order (main.ts calls it on SIGTERM before exiting), and
 * so does the exit hook when the process ends on its own or through `process.exit()`. Synchronous
 * writes instead cost ~50 µs of CPU per upsert in the bench (observability scenario): measured, dropped.
 */
export function batchedDestination(fd = 1): BatchedDestination {
  const sonic = pino.destination({ dest: fd, sync: false, minLength: 0 });
  let pending: string[] = [];
  let size = 0;
  let lastHandOver = Number.NEGATIVE_INFINITY;
  const take = () => {
    const batch = pending.join("");
    pending = [];
    size = 0;
    return batch;
  };
  const handOver = () => {
    if (size === 0) return;
    lastHandOver = performance.now();
    sonic.write(take());
  };
  const timer = setInterval(handOver, FLUSH_INTERVAL_MS);
  timer.unref();
  const flushSync = () => {
    // A batch handed over lately may still be with the thread pool: its write(2) needs no event
    // loop, only a moment. Without it the exiting process can lose that batch (seen on Node 24).
    if (performance.now() - lastHandOver < IN_FLIGHT_GRACE_WINDOW_MS) sleep(IN_FLIGHT_GRACE_MS);
    // What is still here is written directly, in order after sonic-boom's queue: through
    // sonic.write it would start one more asynchronous write, which the process would not wait for.
    const batch = size > 0 ? take() : "";
    sonic.flushSync();
    try {
      if (batch) writeSync(fd, batch);
    } catch {
      // stdout closed (EPIPE): nobody reads these lines any more.
    }
  };
  // First among the exit listeners: pino's own (on-exit-leak-free) flushes sonic-boom's queue, which
  // must not overtake the batch still with the thread pool.
  process.prependOnceListener("exit", flushSync);
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
