/**
 * Garbage collections a server ran natively, from the lines `node --trace-gc` prints into its
 * output. The instruction counts (bench/instructions.ts) leave full collections out, since under
 * callgrind they fall into a counting window by chance; these tallies, taken over the time pair's
 * rounds, say what full collections cost each side when nothing slows the process down.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export interface GcTally {
  scavenges: number;
  fullCollections: number;
  /** Main-thread milliseconds of full collections: their pauses plus their incremental marking steps. */
  fullCollectionMs: number;
}

export const NO_GC: GcTally = { scavenges: 0, fullCollections: 0, fullCollectionMs: 0 };

export const TRACE_GC = "--trace-gc";

// `[pid:isolate]  1234 ms: Mark-Compact 55.6 (74.2) -> 45.8 (80.6) MB, [pooled: 0 MB, ]20.48 / 0.00 ms
// (+ 7.8 ms in 3 steps since start of marking, …)`: Node 20 and 24 alike.
// Anchored: a request line can carry the same words (an operation name is the client's to choose).
const KIND = /^\[\d+:0x[\da-f]+\]\s+\d+ ms: (Scavenge|Minor Mark-Sweep|Mark-Compact)/;
const PAUSE = / ([\d.]+) \/ [\d.]+ ms/;
const STEPS = /\(\+ ([\d.]+) ms in \d+ steps/;

/** Adds one output line to the tally (other lines leave it as it is). */
export function tallyLine(tally: GcTally, line: string): void {
  const kind = KIND.exec(line)?.[1];
  if (kind === undefined) return;
  if (kind !== "Mark-Compact") {
    tally.scavenges += 1;
    return;
  }
  tally.fullCollections += 1;
  tally.fullCollectionMs += Number(PAUSE.exec(line)?.[1] ?? 0) + Number(STEPS.exec(line)?.[1] ?? 0);
}

export function gcBetween(before: GcTally, after: GcTally): GcTally {
  return {
    scavenges: after.scavenges - before.scavenges,
    fullCollections: after.fullCollections - before.fullCollections,
    fullCollectionMs: after.fullCollectionMs - before.fullCollectionMs,
  };
}

export function addGc(a: GcTally, b: GcTally): GcTally {
  return {
    scavenges: a.scavenges + b.scavenges,
    fullCollections: a.fullCollections + b.fullCollections,
    fullCollectionMs: a.fullCollectionMs + b.fullCollectionMs,
  };
}

/**
 * The collections traced so far in a growing output file, read on from where the last call
 * stopped (an observed server's request log grows by megabytes a round).
 */
export function gcTracker(file: string): () => GcTally {
  const tally = { ...NO_GC };
  let offset = 0;
  let partial = "";
  const chunk = Buffer.alloc(1024 * 1024);
  return () => {
    const fd = openSync(file, "r");
    try {
      const size = fstatSync(fd).size;
      while (offset < size) {
        const read = readSync(fd, chunk, 0, Math.min(chunk.length, size - offset), offset);
        if (read === 0) break;
        offset += read;
        const lines = (partial + chunk.toString("latin1", 0, read)).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) tallyLine(tally, line);
      }
    } finally {
      closeSync(fd);
    }
    return { ...tally };
  };
}
