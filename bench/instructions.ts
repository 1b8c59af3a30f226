/**
 * Instructions per request, counted by callgrind (valgrind): a count, not a time, so the same
 * whatever else the machine does. On this shared host req/s and CPU time per request move by tens of
 * percent from one round to the next; two servers of the same code counted here agreed within
 * 0.05 % when V8 ended the warm-up in the same state, within ~2.5 % across states (late tier-ups,
 * a full collection's leftovers in the window). The count leaves out the kernel (system calls),
 * cache misses and waiting: it measures the work a change adds to the request path, not the time
 * it takes.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { ServerSpec } from "./servers.js";

const run = promisify(execFile);

/** How `npm run bench -- --instructions` loads each server. */
export const COUNTING = {
  /** Requests before counting: V8 has optimized the request path by then. */
  warmupRequests: 20_000,
  requests: 5_000,
  /** Under callgrind a server answers a few hundred requests a second: fewer connections, no timeouts. */
  connections: 8,
  /** An upper bound only: counted loads stop after their number of requests. */
  maxSeconds: 3600,
};

export type Counting = typeof COUNTING;

/** `--quick`: a smoke run of the counting, ~1 min; V8 may still be optimizing the request path. */
export const QUICK_COUNTING: Counting = { ...COUNTING, warmupRequests: 2_000, requests: 500 };

/**
 * V8's compilers and garbage collector on the main thread (`--single-threaded`): in one count, in
 * the same order every run, rather than on helper threads that callgrind would serialize by its
 * own schedule. Under callgrind a request takes ~50× longer and V8 keeps optimizing functions
 * again through the counted window (70–130 k compiler instructions per request, with or without
 * `--no-flush-bytecode`), where natively it optimizes 2–3 functions per 10,000 reads by then
 * (`--trace-opt`): the compilers are counted apart, not in the request path.
 * An old generation that starts at 1 GiB: no full collection during the run. Under callgrind one fell
 * into a counted window by chance and left V8 re-tiering code for thousands of requests after it
 * (the side that had it read 1–4 % more instructions per read); full collections are charged from
 * the time pair's native traces instead (bench/gc-trace.ts).
 */
const V8_FLAGS = ["--single-threaded", "--initial-old-space-size=1024"];

/** The server's spec run under callgrind, counting nothing until `setInstrumentation(…, true)`. */
export function underCallgrind(
  spec: Omit<ServerSpec, "command" | "args">,
  main: { script: string; args: string[] },
  outFile: string,
): ServerSpec {
  return {
    ...spec,
    command: "valgrind",
    args: [
      "--tool=callgrind",
      // Start-up and warm-up run uninstrumented (~5× faster than counted).
      "--instr-atstart=no",
      `--callgrind-out-file=${outFile}`,
      process.execPath,
      ...V8_FLAGS,
      main.script,
      ...main.args,
    ],
  };
}

/**
 * Counting on or off, through valgrind's gdbserver (`callgrind_control`). Its pipes are named after
 * the process's USER and HOST variables: callgrind_control gets the server's.
 */
export async function setInstrumentation(pid: number, on: boolean, serverEnv: NodeJS.ProcessEnv): Promise<void> {
  await run("callgrind_control", [`--instr=${on ? "on" : "off"}`, String(pid)], { env: serverEnv });
}

export interface InstructionCount {
  /** Every instruction counted, all threads. */
  total: number;
  /** V8's optimizing and baseline compilers: late tier-ups, mostly done by the end of a long warm-up. */
  compilers: number;
  /**
   * Full garbage collections (mark-compact): ~150 M instructions each; with the old generation's
   * large start (V8_FLAGS) only marking's leftovers remain, ~1–3 k per request on either side.
   * Scavenges, every few hundred requests, stay in the request path.
   */
  fullCollections: number;
}

const COMPILER = /v8::internal::(compiler|maglev|turboshaft|baseline)::/;
const FULL_COLLECTION =
  /v8::internal::(MarkCompact|MainMarking|ConcurrentMarking|IncrementalMarking|Sweeper|Evacuat|LiveObject|PointersUpdating|RecordMigratedSlot)|MarkingVisitor/;

/** Sums callgrind's per-function counts (`callgrind_annotate`) by what spent them. */
export async function countInstructions(outFile: string): Promise<InstructionCount> {
  // `--threshold=100`: every function, not only the top 99 %.
  const { stdout } = await run("callgrind_annotate", ["--threshold=100", outFile], { maxBuffer: 256 * 1024 * 1024 });
  const count: InstructionCount = { total: 0, compilers: 0, fullCollections: 0 };
  for (const line of stdout.split("\n")) {
    const match = /^\s*([\d,]+) \([\s\d.]+%\)\s+(.*)$/.exec(line);
    if (!match?.[1] || !match[2]) continue;
    const instructions = Number(match[1].replaceAll(",", ""));
    if (match[2].includes("PROGRAM TOTALS")) {
      count.total = instructions;
    } else if (COMPILER.test(match[2])) {
      count.compilers += instructions;
    } else if (FULL_COLLECTION.test(match[2])) {
      count.fullCollections += instructions;
    }
  }
  if (count.total === 0) throw new Error(`callgrind counted nothing in ${outFile}`);
  return count;
}

/** What a request costs: all but the compilers and full collections, which fall in a window by chance. */
function requestPath(count: InstructionCount): number {
  return count.total - count.compilers - count.fullCollections;
}

export interface CountedSide {
  label: string;
  requests: number;
  count: InstructionCount;
}

export interface CountedPair {
  name: string;
  observed: CountedSide;
  quiet: CountedSide;
}

/** The observed side's request path per request over the quiet side's. */
export function observedOverQuiet(pair: CountedPair): number {
  const perRequest = (side: CountedSide) => requestPath(side.count) / side.requests;
  return perRequest(pair.observed) / perRequest(pair.quiet);
}

/** How the counts were taken, for the reports. */
export function countingMethod(seededRows: number, counting: Counting): string {
  return (
    `callgrind (valgrind), Node ${process.version} with \`${V8_FLAGS.join(" ")}\`; PostgreSQL 15 seeded with ${seededRows.toLocaleString("en-US")} rows. ` +
    `Each server: ${counting.warmupRequests.toLocaleString("en-US")} requests uncounted, then ${counting.requests.toLocaleString("en-US")} counted ` +
    `(${counting.connections} connections). Request path: every instruction of the process but V8's compilers (under callgrind V8 keeps re-optimizing; ` +
    "natively it is done by then) and full garbage collections (the old generation starts large enough for none to run; the targets charge them " +
    "from the time pair's native traces). Scavenges stay in. A count, not a time: the kernel, cache misses and waits are not in it."
  );
}

/** Per request, each side's request path, full collections and compilers, and the ratio of request paths. */
export function countsTable(rows: CountedPair[]): string[] {
  const perRequest = (side: CountedSide, instructions: number) =>
    Math.round(instructions / side.requests).toLocaleString("en-US");
  const cells = (side: CountedSide) =>
    [requestPath(side.count), side.count.fullCollections, side.count.compilers].map((n) => perRequest(side, n));
  const [first] = rows;
  return [
    `| Scenario | ${first?.observed.label ?? "observed"}: request path | full GC | compilers | ${first?.quiet.label ?? "quiet"}: request path | full GC | compilers | Observed / quiet (request path) |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (row) =>
        `| ${row.name} | ${cells(row.observed).join(" | ")} | ${cells(row.quiet).join(" | ")} | **${observedOverQuiet(row).toFixed(3)}×** |`,
    ),
  ];
}

/** `--instructions`' own report. */
export function instructionsMarkdown(
  startedAt: string,
  seededRows: number,
  counting: Counting,
  rows: CountedPair[],
): string {
  return [
    `## metadata-graph instructions per request, ${startedAt}`,
    "",
    countingMethod(seededRows, counting),
    "",
    ...countsTable(rows),
    "",
  ].join("\n");
}
