/** The results as a markdown table plus targets, and their JSON twin, under bench/results/. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { addGc, type GcTally, NO_GC } from "./gc-trace.js";
import { type CountedPair, type Counting, countingMethod, countsTable, observedOverQuiet } from "./instructions.js";
import type { LoadResult } from "./load.js";
import { REPO_ROOT } from "./servers.js";
import type { Verification } from "./verify.js";

export interface SideResult {
  label: string;
  /** Medians over the measured rounds (warm-ups excluded). */
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  rssMiB: number | undefined;
  /** The server's CPU time per request (user + system), µs: what a request costs, whatever else shares the cores. */
  cpuMicros: number | undefined;
  /** The same for the server's main thread alone. */
  mainThreadCpuMicros: number | undefined;
  /** How often per request its main thread was preempted (older reports: none). */
  mainThreadPreemptions: number | undefined;
  /** Garbage collections over the measured rounds, with their requests, when the server traced them. */
  gc?: GcTally & { requests: number };
  rounds: LoadResult[];
}

export interface ScenarioResult {
  name: string;
  title: string;
  ours: SideResult;
  baseline?: SideResult;
  /** Ours / baseline req/s per pair of rounds, and their median. */
  ratios: number[];
  ratio?: number;
  /**
   * Observability pairs: the observed server's main-thread CPU per request / the quiet one's, per
   * pair of rounds, and their median (older reports: none).
   */
  mainThreadCpuRatios?: number[];
  mainThreadCpuRatio?: number;
}

export interface TargetResult {
  goal: string;
  measured: string;
  met: boolean | undefined;
}

export interface Report {
  startedAt: string;
  machine: { cpu: string; cores: number; node: string; platform: string };
  settings: {
    rows: number;
    identifiers: number;
    embeddedRows: number;
    durationSeconds: number;
    warmupSeconds: number;
    rounds: number;
    connections: number;
    /** `--ours-env`: settings every one of our servers ran with (older reports: none recorded). */
    oursEnv?: Record<string, string>;
    /** The instruction counts' sizes, when they ran. */
    counting?: Counting;
  };
  scenarios: ScenarioResult[];
  /** The observability scenario's instruction counts (older reports, or without valgrind: none). */
  instructions?: CountedPair[];
  targets: TargetResult[];
  verifications: (Verification & { after: string })[];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function summarize(label: string, rounds: LoadResult[], rssMiB: number | undefined): SideResult {
  const medianOf = (values: (number | undefined)[]) => {
    const known = values.filter((v) => v !== undefined);
    return known.length ? median(known) : undefined;
  };
  return {
    label,
    requestsPerSecond: median(rounds.map((r) => r.requestsPerSecond)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
    rssMiB,
    cpuMicros: medianOf(rounds.map((r) => r.serverCpuMicros)),
    mainThreadCpuMicros: medianOf(rounds.map((r) => r.serverMainThreadCpuMicros)),
    mainThreadPreemptions: medianOf(rounds.map((r) => r.serverMainThreadPreemptions)),
    ...gcOver(rounds),
    rounds,
  };
}

function gcOver(rounds: LoadResult[]): Pick<SideResult, "gc"> {
  const traced = rounds.filter((r) => r.serverGc && r.serverGc.scavenges + r.serverGc.fullCollections > 0);
  if (traced.length === 0) return {};
  const requests = traced.reduce((sum, r) => sum + r.requests, 0);
  return { gc: { ...traced.reduce((sum, r) => addGc(sum, r.serverGc ?? sum), NO_GC), requests } };
}

/**
 * What full collections cost the observed side beyond the quiet one natively, as a share of the quiet
 * side's main-thread CPU per request (0 when it ran no more of them, or nothing was traced).
 */
export function extraFullCollectionShare(scenario: ScenarioResult | undefined): number {
  const observed = scenario?.ours;
  const quiet = scenario?.baseline;
  if (!observed?.gc || !quiet?.gc || !quiet.mainThreadCpuMicros) return 0;
  const microsPerRequest = (gc: GcTally & { requests: number }) => (gc.fullCollectionMs * 1000) / gc.requests;
  return Math.max(0, microsPerRequest(observed.gc) - microsPerRequest(quiet.gc)) / quiet.mainThreadCpuMicros;
}

export function evaluateTargets(scenarios: ScenarioResult[], counted: CountedPair[] = []): TargetResult[] {
  const find = (name: string) => scenarios.find((s) => s.name === name);
  const ratio = (name: string, goal: string, min: number): TargetResult => {
    const r = find(name)?.ratio;
    return {
      goal,
      measured: r === undefined ? "not run" : `${r.toFixed(2)}×`,
      met: r === undefined ? undefined : r >= min,
    };
  };
  const p99 = (name: string, goal: string, max: number): TargetResult => {
    const s = find(name);
    return { goal, measured: s ? `${fmt(s.ours.p99)} ms` : "not run", met: s ? s.ours.p99 <= max : undefined };
  };
  const rate = (name: string, goal: string, min: number): TargetResult => {
    const s = find(name);
    return {
      goal,
      measured: s ? `${fmt(s.ours.requestsPerSecond)} req/s` : "not run",
      met: s ? s.ours.requestsPerSecond >= min : undefined,
    };
  };
  // Instructions per request, observed / quiet, plus whatever more the observed side spent in full
  // collections natively (which the count leaves out): on this kind of shared host the time pair's
  // spread from one run to the next is larger than the cost it would decide (README, Performance).
  const cost = (name: string, goal: string, max: number): TargetResult => {
    const timed = find(`observability-${name}`);
    const alone = find(`observability-${name}-alone`);
    const readings = [
      timed && `loaded at once: ${inTimeText(timed)}`,
      alone && `each alone in turn: ${inTimeText(alone)}`,
    ].filter(Boolean);
    const inTime = readings.length ? ` (in time, ${readings.join("; ")})` : "";
    const pair = counted.find((p) => p.name === name);
    if (!pair) return { goal, measured: `instructions not counted${inTime}`, met: undefined };
    // Without both sides' traces the full collections would read as free.
    if (!timed?.ours.gc || !timed.baseline?.gc) {
      return { goal, measured: `full collections not traced natively${inTime}`, met: undefined };
    }
    const instructions = observedOverQuiet(pair) - 1;
    const fullCollections = extraFullCollectionShare(timed);
    const total = instructions + fullCollections;
    return {
      goal,
      measured:
        `${percent(total)}: instructions per request ${percent(instructions)}, ` +
        `full collections natively ${percent(fullCollections)}${inTime}`,
      met: total <= max,
    };
  };
  return [
    ratio("read", "point read ≥ 1.2× reference req/s", 1.2),
    ratio("upsert", "upsert ≥ 1.0× reference req/s", 1.0),
    ratio("mixed", "mixed 90/10 ≥ 1.1× reference req/s", 1.1),
    p99("read", "read p99 ≤ 25 ms", 25),
    p99("upsert", "upsert p99 ≤ 40 ms", 40),
    rate("embedded-upsert", "PGlite ≥ 1,000 upserts/s", 1000),
    rate("embedded-read", "PGlite ≥ 3,000 reads/s", 3000),
    ratio("jwks", "JWKS (RS256) read within 10 % of HS256 read", 0.9),
    cost("read", "logs at info + metrics cost ≤ 5 % of reads", 0.05),
    cost("upsert", "logs at info + metrics cost ≤ 5 % of upserts", 0.05),
  ];
}

const inTimeText = (s: ScenarioResult) =>
  `req/s ${fmt(s.ratio, 2)}×, main thread ${fmt(s.mainThreadCpuRatio, 3)}× CPU per request`;

const fmt = (n: number | undefined, maxDigits = 0) =>
  n === undefined || Number.isNaN(n) ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: maxDigits });

const percent = (share: number) => `${share >= 0 ? "+" : ""}${(share * 100).toFixed(1)} %`;

const mark = (met: boolean | undefined) => (met === undefined ? "➖" : met ? "✅" : "❌");

export function toMarkdown(report: Report): string {
  const { machine: m, settings: s } = report;
  const side = (r: SideResult | undefined) =>
    r
      ? [
          r.label,
          fmt(r.requestsPerSecond),
          fmt(r.p50, 1),
          fmt(r.p99, 1),
          fmt(r.cpuMicros),
          fmt(r.errors),
          fmt(r.rssMiB),
        ]
      : ["—", "—", "—", "—", "—", "—", "—"];
  const rows = report.scenarios.map((sc) => {
    const ours = side(sc.ours).slice(1);
    const base = side(sc.baseline);
    const ratio = sc.ratio === undefined ? "—" : `**${sc.ratio.toFixed(2)}×**`;
    return `| ${sc.title} | ${ours.join(" | ")} | ${base.join(" | ")} | ${ratio} |`;
  });
  const lines = [
    `## metadata-graph benchmark, ${report.startedAt}`,
    "",
    `Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node} (${m.platform}). PostgreSQL 15 seeded with ${fmt(s.rows)} rows ` +
      `over ${fmt(s.identifiers)} identifiers × 3 tenants (PGlite: ${fmt(s.embeddedRows)}). autocannon: ${s.connections} connections, ${s.warmupSeconds} s warm-up per ` +
      `server and scenario, then ${s.rounds} × ${s.durationSeconds} s rounds per server, alternating in mirrored pairs (A B B A); ` +
      "the observability pairs load both servers at once, half the connections each, the first load started alternating, " +
      "then each alone in turn (A B B A, 2 rounds of at most 5 s a side and pair). " +
      "Figures are medians over the rounds; the ratio is the median over the pairs of rounds. CPU µs/req: CPU time (user + system) of the serving node process per request. RSS: VmRSS of the " +
      "serving node process at the end of the scenario. Load generator, servers and database share the machine." +
      oursEnvNote(s.oursEnv),
    "",
    "| Scenario | Ours req/s | p50 ms | p99 ms | CPU µs/req | errors | RSS MiB | Baseline | req/s | p50 ms | p99 ms | CPU µs/req | errors | RSS MiB | Ours / baseline |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
    ...mainThreadLines(report.scenarios),
    ...(report.instructions?.length && s.counting
      ? [
          "### Logs and metrics, instructions per request",
          "",
          countingMethod(s.rows, s.counting),
          "",
          ...countsTable(report.instructions),
          "",
        ]
      : []),
    "### Targets",
    "",
    ...report.targets.map((t) => `- ${mark(t.met)} ${t.goal}: ${t.measured}`),
    "",
    "### Writes vs. the table",
    "",
    ...(report.verifications.length
      ? report.verifications.map((v) => {
          const low = v.seededRows + v.newKeysAcknowledged;
          const expected = v.newKeysInFlight
            ? `${fmt(low)}…${fmt(low + v.newKeysInFlight)} (${fmt(v.seededRows)} seeded + ${fmt(v.newKeysAcknowledged)} ` +
              `new keys acknowledged + up to ${fmt(v.newKeysInFlight)} whose requests were in flight when a round stopped)`
            : `${fmt(low)} (${fmt(v.seededRows)} seeded + ${fmt(v.newKeysAcknowledged)} new keys acknowledged)`;
          return (
            `- ${mark(v.ok)} \`${v.table}\` after ${v.after}: ${fmt(v.acknowledgedKeys)} acknowledged keys, each at ` +
            `≥ its highest acknowledged version; ${fmt(v.rows)} rows, expected ${expected}` +
            (v.problems.length ? `. Problems: ${v.problems.join("; ")}` : "")
          );
        })
      : ["- no write scenario ran"]),
    "",
  ];
  return lines.join("\n");
}

/**
 * The observability pairs' second reading of the same cost: main-thread CPU per request, observed
 * over quiet, measured over the same seconds (req/s under a shared load spreads more; README, Logs
 * and metrics).
 */
function mainThreadLines(scenarios: ScenarioResult[]): string[] {
  const lines = scenarios.flatMap((sc) => {
    if (sc.mainThreadCpuRatio === undefined || !sc.baseline) return [];
    const spread = sc.mainThreadCpuRatios?.length
      ? `, pairs of rounds ${Math.min(...sc.mainThreadCpuRatios).toFixed(3)}–${Math.max(...sc.mainThreadCpuRatios).toFixed(3)}`
      : "";
    return [
      `- ${sc.title}: main-thread CPU per request ${fmt(sc.ours.mainThreadCpuMicros)} vs ${fmt(sc.baseline.mainThreadCpuMicros)} µs, ` +
        `observed / quiet **${sc.mainThreadCpuRatio.toFixed(3)}×** (median${spread})` +
        `${preemptionText(sc.ours, sc.baseline)}${gcText(sc.ours.gc, sc.baseline.gc)}`,
    ];
  });
  return lines.length ? ["Main thread (where requests run), same rounds:", "", ...lines, ""] : [];
}

/** How often each side's main thread was preempted per request, when read (median over the rounds). */
function preemptionText(observed: SideResult, quiet: SideResult): string {
  if (observed.mainThreadPreemptions === undefined || quiet.mainThreadPreemptions === undefined) return "";
  return `; preempted ${fmt(observed.mainThreadPreemptions, 2)} vs ${fmt(quiet.mainThreadPreemptions, 2)} times per request`;
}

/** Both sides' garbage collections per 100,000 requests, when traced. */
function gcText(observed: SideResult["gc"], quiet: SideResult["gc"]): string {
  if (!observed || !quiet) return "";
  const per100k = (gc: GcTally & { requests: number }, n: number) => fmt((n * 100_000) / gc.requests, 1);
  return (
    `; per 100,000 requests, full collections ${per100k(observed, observed.fullCollections)} vs ${per100k(quiet, quiet.fullCollections)} ` +
    `(${per100k(observed, observed.fullCollectionMs)} vs ${per100k(quiet, quiet.fullCollectionMs)} ms), ` +
    `scavenges ${per100k(observed, observed.scavenges)} vs ${per100k(quiet, quiet.scavenges)}`
  );
}

export async function writeReport(report: Report): Promise<string[]> {
  const dir = join(REPO_ROOT, "bench/results");
  await mkdir(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, "-");
  const markdown = toMarkdown(report);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const files = [`${stamp}.md`, `${stamp}.json`, "latest.md", "latest.json"].map((f) => join(dir, f));
  await Promise.all(files.map((f) => writeFile(f, f.endsWith(".md") ? markdown : json)));
  return files;
}

function oursEnvNote(env: Record<string, string> | undefined): string {
  const set = Object.entries(env ?? {});
  if (set.length === 0) return "";
  return ` Every one of our servers also ran with ${set.map(([name, value]) => `\`${name}=${value}\``).join(", ")} (\`--ours-env\`).`;
}
