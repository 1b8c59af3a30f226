import { writeSync } from "node:fs";
import { type DestinationStream, pino } from "pino";

/** Lines go out in writes of up to this many bytes (~190 request lines), */
const BATCH_BYTES = 64 * 1024;
/** UTF-8 bytes one UTF-16 code unit can take: a line of n units needs at most 3n bytes. */
const MAX_BYTES_PER_UNIT = 3;
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

/** sonic-boom in its "buffer" content mode: it writes bytes (its types and pino's know only strings). */
interface ByteDestination {
  write(bytes: Buffer): boolean;
  flush(callback?: (error?: Error) => void): void;
  flushSync(): void;
}

/**
 * Log lines batched in memory and handed to pino's own asynchronous destination (sonic-boom) a
 * batch at a time: a request never waits for stdout, and the file descriptor, EAGAIN retries and
 * broken pipes stay sonic-boom's business. Each line is encoded into the batch's buffer as it comes
 * (the string dies young, nothing is joined or measured again), and a batch goes out as bytes.
 * Measured: line by line through sonic-boom's `minLength`, its `write` measured the UTF-8 length of
 * the whole pending string on every line (~4.5 µs per request line at 8 KB, bench `observability`
 * scenario); 8 KB batches of strings still cost ~4 µs per line in joining, encoding and handing each
 * batch to the thread pool (CPU profiles of both servers loaded at once); through pino to a file,
 * 8 KB batches of strings took ~8 µs of process CPU per line, 64 KB ones ~5, 64 KB of bytes ~4
 * (a micro-benchmark). Lines reach stdout within FLUSH_INTERVAL_MS when traffic is low, within
 * ~0.1 s at a few thousand requests a second.
 * `flush(callback)` writes everything out in order (main.ts calls it on SIGTERM before exiting), and
 * so does the exit hook when the process ends on its own or through `process.exit()`. Synchronous
 * writes instead cost ~50 µs of CPU per upsert in the bench (observability scenario): measured, dropped.
 */
export function batchedDestination(fd = 1): BatchedDestination {
  const sonic = pino.destination({
    dest: fd,
    sync: false,
    minLength: 0,
    contentMode: "buffer",
  }) as unknown as ByteDestination;
  let batch = Buffer.allocUnsafe(BATCH_BYTES);
  let size = 0;
  let lastHandOver = Number.NEGATIVE_INFINITY;
  // A new buffer for the next batch: sonic-boom writes this one from the thread pool.
  const take = () => {
    const taken = batch.subarray(0, size);
    batch = Buffer.allocUnsafe(BATCH_BYTES);
    size = 0;
    return taken;
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
    const rest = size > 0 ? take() : undefined;
    sonic.flushSync();
    try {
      if (rest) writeSync(fd, rest);
    } catch {
      // stdout closed (EPIPE): nobody reads these lines any more.
    }
  };
  // First among the exit listeners: pino's own (on-exit-leak-free) flushes sonic-boom's queue, which
  // must not overtake the batch still with the thread pool.
  process.prependOnceListener("exit", flushSync);
  return {
    write(line: string) {
      const worstCase = line.length * MAX_BYTES_PER_UNIT;
      if (size + worstCase > BATCH_BYTES) {
        handOver();
        // A line longer than a batch (a deep stack, say) goes on its own, after those before it.
        if (worstCase > BATCH_BYTES) {
          lastHandOver = performance.now();
          sonic.write(Buffer.from(line));
          return;
        }
      }
      size += batch.write(line, size);
    },
    flushSync,
    flush(callback) {
      handOver();
      sonic.flush(callback);
    },
  };
}
