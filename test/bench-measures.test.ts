import { execFileSync } from "node:child_process";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { gcTracker, NO_GC, TRACE_GC, tallyLine } from "../bench/gc-trace.js";
import type { CountedPair } from "../bench/instructions.js";
import type { LoadResult } from "../bench/load.js";
import { evaluateTargets, extraFullCollectionShare, type ScenarioResult, summarize } from "../bench/report.js";
import { readPreemptions } from "../bench/servers.js";

// What the bench decides the logs-and-metrics target from: native GC traces and instruction counts.

/** What this very Node prints with --trace-gc for a full collection and some scavenges. */
function tracedGcLines(): string[] {
  const script = "let kept = []; for (let i = 0; i < 300000; i++) kept.push({ i }); gc();";
  const output = execFileSync(process.execPath, [TRACE_GC, "--expose-gc", "-e", script], { encoding: "utf8" });
  return output.split("\n").filter(Boolean);
}

describe("GC traces", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("tallies this Node's own --trace-gc lines: scavenges, full collections and their main-thread ms", () => {
    const lines = tracedGcLines();
    const tally = { ...NO_GC };
    for (const line of lines) tallyLine(tally, line);
    const full = lines.filter((line) => line.includes("Mark-Compact"));
    expect(full.length).toBeGreaterThanOrEqual(1);
    expect(tally.fullCollections).toBe(full.length);
    expect(tally.scavenges).toBe(lines.filter((line) => line.includes("Scavenge")).length);
    expect(tally.scavenges).toBeGreaterThan(0);
    // The forced collection's pause, at least: a number read off the line, not a count.
    expect(tally.fullCollectionMs).toBeGreaterThan(0);
  });

  it("adds a full collection's pause and its incremental marking steps; other lines count for nothing", () => {
    const tally = { ...NO_GC };
    tallyLine(
      tally,
      "[1:0x1]      440 ms: Mark-Compact 55.6 (74.2) -> 45.8 (80.6) MB, 20.48 / 0.00 ms  (+ 7.8 ms in 3 steps since start of marking, biggest step 7.7 ms) finalize incremental marking",
    );
    tallyLine(
      tally,
      "[1:0x1]       51 ms: Scavenge 4.8 (5.8) -> 4.4 (6.8) MB, pooled: 0 MB, 5.05 / 0.00 ms  (average mu = 1.000) allocation failure;",
    );
    tallyLine(tally, '{"level":30,"msg":"Mark-Compact 1 ms: Scavenge 2.0 / 0.0 ms"}');
    expect(tally.fullCollections).toBe(1);
    expect(tally.scavenges).toBe(1);
    expect(tally.fullCollectionMs).toBeCloseTo(28.28, 5);
  });

  it("reads a growing output file on from where it stopped, a line split across reads counted once", () => {
    const dir = mkdtempSync(join(tmpdir(), "mg-gc-trace-"));
    dirs.push(dir);
    const file = join(dir, "output.log");
    const scavenge = "[1:0x1]       51 ms: Scavenge 4.8 (5.8) -> 4.4 (6.8) MB, 5.05 / 0.00 ms  allocation failure;\n";
    writeFileSync(file, `listening\n${scavenge}${scavenge.slice(0, 30)}`);
    const soFar = gcTracker(file);
    expect(soFar().scavenges).toBe(1);
    appendFileSync(file, `${scavenge.slice(30)}{"msg":"request"}\n`);
    expect(soFar().scavenges).toBe(2);
    expect(soFar().scavenges).toBe(2);
  });
});

describe("the logs-and-metrics target", () => {
  const round = (requests: number, mainThreadCpuMicros: number, fullCollectionMs: number): LoadResult => ({
    durationSeconds: 10,
    requests,
    requestsPerSecond: requests / 10,
    p50: 1,
    p99: 2,
    errors: 0,
    serverMainThreadCpuMicros: mainThreadCpuMicros,
    serverGc: { scavenges: requests / 100, fullCollections: fullCollectionMs > 0 ? 1 : 0, fullCollectionMs },
  });
  const timed = (observedFullMs: number, quietFullMs: number): ScenarioResult => ({
    name: "observability-read",
    title: "read",
    ours: summarize("observed", [round(10_000, 500, observedFullMs), round(10_000, 500, 0)], undefined),
    baseline: summarize("quiet", [round(10_000, 500, quietFullMs), round(10_000, 500, 0)], undefined),
    ratios: [1],
    ratio: 1,
  });
  const counted = (observedPerRequest: number): CountedPair => ({
    name: "read",
    observed: {
      label: "observed",
      requests: 1000,
      count: { total: observedPerRequest * 1000, compilers: 0, fullCollections: 0 },
    },
    quiet: { label: "quiet", requests: 1000, count: { total: 1_000_000, compilers: 0, fullCollections: 0 } },
  });
  const readTarget = (scenarios: ScenarioResult[], pairs: CountedPair[]) =>
    evaluateTargets(scenarios, pairs).find((t) => t.goal.includes("of reads"));

  it("charges the observed side's extra full-collection time natively as a share of the quiet main thread", () => {
    // 200 ms over 20,000 requests: 10 µs a request, 2 % of the quiet side's 500 µs.
    expect(extraFullCollectionShare(timed(200, 0))).toBeCloseTo(0.02, 10);
    expect(extraFullCollectionShare(timed(0, 200))).toBe(0);
    expect(extraFullCollectionShare(undefined)).toBe(0);
  });

  it("is met at +4 % of instructions, missed when full collections add 2 % more, or at +6 % alone", () => {
    expect(readTarget([timed(0, 0)], [counted(1040)])?.met).toBe(true);
    expect(readTarget([timed(200, 0)], [counted(1040)])).toMatchObject({ met: false });
    expect(readTarget([timed(200, 0)], [counted(1040)])?.measured).toMatch(
      /^\+6\.0 %: instructions per request \+4\.0 %, full collections natively \+2\.0 %/,
    );
    expect(readTarget([timed(0, 0)], [counted(1060)])?.met).toBe(false);
  });

  it("is not decided without instruction counts, nor without both sides' native GC traces", () => {
    expect(readTarget([timed(0, 0)], [])).toMatchObject({ met: undefined });
    const untraced = timed(0, 0);
    untraced.ours = summarize("observed", [{ ...round(10_000, 500, 0), serverGc: undefined }], undefined);
    expect(readTarget([untraced], [counted(1040)])).toMatchObject({
      met: undefined,
      measured: expect.stringMatching(/^full collections not traced natively/),
    });
    expect(readTarget([], [counted(1040)])).toMatchObject({ met: undefined });
  });

  it("prints beside the verdict both readings in time: loaded at once and each alone in turn", () => {
    const alone: ScenarioResult = {
      name: "observability-read-alone",
      title: "read, alone",
      ours: summarize("observed", [round(10_000, 515, 0)], undefined),
      baseline: summarize("quiet", [round(10_000, 500, 0)], undefined),
      ratios: [0.97],
      ratio: 0.97,
      mainThreadCpuRatios: [1.03],
      mainThreadCpuRatio: 1.03,
    };
    const atOnce = { ...timed(0, 0), mainThreadCpuRatio: 1.061 };
    expect(readTarget([atOnce, alone], [counted(1030)])?.measured).toBe(
      "+3.0 %: instructions per request +3.0 %, full collections natively +0.0 % (in time, loaded at once: " +
        "req/s 1×, main thread 1.061× CPU per request; each alone in turn: req/s 0.97×, main thread 1.03× CPU per request)",
    );
    // The time readings inform; the verdict stays the count's.
    expect(readTarget([{ ...atOnce, mainThreadCpuRatio: 1.2 }, alone], [counted(1030)])?.met).toBe(true);
  });
});

describe("main-thread preemptions", () => {
  it("reads this process's main thread's non-voluntary context switches, a count that only grows", () => {
    const first = readPreemptions(process.pid, process.pid);
    expect(first).toEqual(expect.any(Number));
    const later = readPreemptions(process.pid, process.pid) ?? -1;
    expect(later).toBeGreaterThanOrEqual(first ?? 0);
    expect(readPreemptions(process.pid, 0)).toBeUndefined();
  });
});
