/**
 * Benchmark: metadata-graph (`npm start`, as a user runs it) against a hand-rolled reference server
 * (bench/reference: graphql-yoga + jose + pg, prepared statements), loaded by autocannon.
 *
 *   npm run bench                          100,000 rows; 3 s warm-up, then 2 × 10 s rounds per server, A B B A
 *   npm run bench -- --quick               smoke run: 10,000 rows, 1 s warm-up, 1 × 3 s round, short counts
 *   npm run bench -- --profile             our server under `node --cpu-prof`, read scenario: top 15 by self time
 *   npm run bench -- --profile --scenarios upsert      the same for upsert (or list, mixed)
 *   npm run bench -- --profile --scenarios embedded    the same for the embedded (PGlite) read
 *   npm run bench -- --scenarios read,mixed --rows 1000000 --duration 20 --rounds 3 --connections 64
 *   npm run bench -- --profile --ours-env LOG_LEVEL=silent,METRICS_ENABLED=false   settings for our servers
 *   npm run bench -- --scenarios observability --process-pairs 12  pairs of fresh servers it compares (8)
 *   npm run bench -- --scenarios observability --ours-env LOG_LEVEL=silent,METRICS_ENABLED=false
 *                                          A/A: both sides off, what the pair measures when nothing differs
 *   npm run bench -- --scenarios read,list --rows 10000 --identifiers 101   as many keys per object (33) as
 *                                          the 1,000,000-row default: the table grows, the pages stay alike
 *   npm run bench -- --instructions        the observability scenario's instruction counts alone (~8 min)
 *
 * Scenarios: read, upsert, list, mixed (90 % reads), jwks (RS256 via a local JWKS, ours vs ours HS256),
 * observability (read and upsert with logs at info and metrics on, ours vs ours with both off: in
 * time over several pairs of fresh servers, both loaded at once, then each alone in turn; then in
 * instructions per request under callgrind, which its targets read: bench/instructions.ts),
 * embedded (PGlite, ours only, at most 10,000 rows). Every response is checked; one bad response,
 * or a table that lost an acknowledged write, fails the run (exit code 1).
 * PostgreSQL: a throwaway PostgreSQL 15 from .ci/postgres.sh, or BENCH_DATABASE_URL (whose
 * `metadata` and `reference_metadata` tables are wiped and reseeded).
 * Results: bench/results/<timestamp>.md and .json, and latest.md / latest.json.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, platform, release, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { IDENTIFIERS } from "./dataset.js";
import { gcBetween, TRACE_GC } from "./gc-trace.js";
import {
  COUNTING,
  type CountedPair,
  type Counting,
  countInstructions,
  instructionsMarkdown,
  QUICK_COUNTING,
  setInstrumentation,
  underCallgrind,
} from "./instructions.js";
import { type LoadResult, runLoad } from "./load.js";
import { providePostgres } from "./postgres.js";
import { findProfile, formatProfile, monotonicMicros, summarizeProfile } from "./profile.js";
import {
  evaluateTargets,
  median,
  type Report,
  type ScenarioResult,
  summarize,
  toMarkdown,
  writeReport,
} from "./report.js";
import { OUR_TABLE, postgresQuery, REFERENCE_TABLE, seedPglite, seedPostgres, withPglite } from "./seed.js";
import { REPO_ROOT, type ServerProcess, type ServerSpec, startServer } from "./servers.js";
import { type Authorizations, hs256Authorizations, startJwksServer } from "./tokens.js";
import { type Query, type Verification, verifyLedger, WriteLedger } from "./verify.js";
import { type Target, type WorkloadName, workload } from "./workload.js";

const SCENARIOS = ["read", "upsert", "list", "mixed", "jwks", "observability", "embedded"] as const;
type Scenario = (typeof SCENARIOS)[number];
const TITLES: Record<WorkloadName, string> = {
  read: "read (metadataForKey)",
  upsert: "upsert (updateMetadata, ½ new keys)",
  list: "list (metadataList first 50, keyPrefix)",
  mixed: "mixed (90 % read / 10 % upsert)",
};
const EMBEDDED_MAX_ROWS = 10_000;
const READY = /listening on (http:\/\/\S+\/graphql)/;

interface Options {
  rows: number;
  identifiers: number;
  duration: number;
  warmup: number;
  rounds: number;
  connections: number;
  scenarios: Scenario[];
  profile: boolean;
  instructions: boolean;
  /** Settings added to every one of our servers (`--ours-env LOG_LEVEL=silent,METRICS_ENABLED=false`). */
  oursEnv: Record<string, string>;
  /** Pairs of fresh servers the observability scenario compares (`--process-pairs`). */
  processPairs: number;
  /** How many requests its instruction counts run uncounted and counted. */
  counting: Counting;
}

class BenchFailure extends Error {}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: "string" },
      identifiers: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      rounds: { type: "string" },
      connections: { type: "string" },
      scenarios: { type: "string" },
      profile: { type: "boolean", default: false },
      instructions: { type: "boolean", default: false },
      "ours-env": { type: "string" },
      "process-pairs": { type: "string" },
      quick: { type: "boolean", default: false },
    },
  });
  const quick = values.quick;
  const int = (name: string, given: string | undefined, fallback: number, min: number) => {
    const n = given === undefined ? fallback : Number(given.replaceAll("_", "").replaceAll(",", ""));
    if (!Number.isSafeInteger(n) || n < min) throw new BenchFailure(`--${name} must be an integer ≥ ${min}`);
    return n;
  };
  const scenarios = (values.scenarios?.split(",").map((s) => s.trim()) ?? [...SCENARIOS]).filter(Boolean);
  for (const s of scenarios) {
    if (!(SCENARIOS as readonly string[]).includes(s)) {
      throw new BenchFailure(`unknown scenario '${s}': use ${SCENARIOS.join(", ")}`);
    }
  }
  return {
    rows: int("rows", values.rows, quick ? 10_000 : 100_000, 1),
    identifiers: int("identifiers", values.identifiers, IDENTIFIERS, 1),
    duration: int("duration", values.duration, quick ? 3 : 10, 1),
    warmup: int("warmup", values.warmup, quick ? 1 : 3, 0),
    rounds: int("rounds", values.rounds, quick ? 1 : 2, 1),
    connections: int("connections", values.connections, 32, 1),
    scenarios: scenarios as Scenario[],
    profile: values.profile,
    instructions: values.instructions,
    oursEnv: parseEnv(values["ours-env"]),
    processPairs: int("process-pairs", values["process-pairs"], quick ? 1 : 8, 1),
    counting: quick ? QUICK_COUNTING : COUNTING,
  };
}

function parseEnv(given: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of given?.split(",").filter(Boolean) ?? []) {
    const at = pair.indexOf("=");
    if (at < 1) throw new BenchFailure(`--ours-env takes NAME=value pairs separated by commas, not '${pair}'`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

/** Undo steps, run last-in first-out on exit, error or Ctrl-C. */
const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> = Promise.resolve();
let interrupted = false;
/** Runs the steps registered so far; calls queue behind each other, so awaiting one means all is undone. */
function cleanUp(): Promise<void> {
  cleaning = cleaning.then(async () => {
    for (let step = cleanups.pop(); step; step = cleanups.pop()) {
      await step().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
    }
  });
  return cleaning;
}

const log = (line: string) => console.log(line);
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

interface Side {
  label: string;
  server: ServerProcess;
  target: Target;
}

async function start(spec: ServerSpec): Promise<ServerProcess> {
  if (interrupted) throw new BenchFailure("interrupted");
  const server = await startServer(spec);
  cleanups.push(() => server.stop());
  log(`  ${spec.name} ready at ${server.url} (pid ${server.pid})`);
  return server;
}

/** Our server's settings in every scenario, then the scenario's own. */
function oursEnv(o: Options, env: Record<string, string>): Record<string, string> {
  // Three principals send thousands of operations a second: the limiter runs (its cost is measured)
  // with an allowance this load stays under, as an operator would size it.
  return {
    NODE_ENV: "production",
    PORT: "0",
    HOST: "127.0.0.1",
    RATE_LIMIT_PER_MINUTE: "100000000",
    ...o.oursEnv,
    ...env,
  };
}

/** The observability scenario's sides: as `npm start` runs (logs at info, metrics on), and both off. */
const QUIET_ENV = { LOG_LEVEL: "silent", METRICS_ENABLED: "false" };
const QUIET_LABEL = "ours, logs + metrics off";

/** The observed side's label: as `npm start` runs, unless --ours-env changed it (both off: an A/A run). */
function observedLabel(o: Options): string {
  const changed = Object.keys(QUIET_ENV).filter((name) => name in o.oursEnv);
  return changed.length
    ? `ours, ${changed.map((name) => `${name}=${o.oursEnv[name]}`).join(" ")}`
    : "ours, logs info + metrics on";
}

/** PostgreSQL (throwaway, or BENCH_DATABASE_URL) seeded with `rows` rows; stopped at clean-up. */
async function seededPostgres(o: Options, rows: number) {
  const database = await providePostgres();
  cleanups.push(() => database.stop());
  await seedPostgres(database.url, rows, o.identifiers);
  return database;
}

/**
 * `npm start`; with Node flags (some, like `--trace-gc`, are refused in NODE_OPTIONS), what it
 * runs after its build, which the caller then runs first (`buildOurs`).
 */
function oursSpec(o: Options, name: string, env: Record<string, string>, nodeFlags: string[] = []): ServerSpec {
  const base = oursEnv(o, env);
  return nodeFlags.length
    ? { name, command: process.execPath, args: [...nodeFlags, "dist/src/main.js", "serve"], env: base, ready: READY }
    : { name, command: "npm", args: ["start"], env: base, ready: READY };
}

/** The build `npm start` runs before it starts the server (dist/). */
function buildOurs(): void {
  execFileSync("npm", ["run", "-s", "build"], { cwd: REPO_ROOT, stdio: "ignore" });
}

function referenceSpec(databaseUrl: string, secret: string): ServerSpec {
  return {
    name: "reference",
    command: process.execPath,
    args: ["--import", "tsx", "bench/reference/server.ts"],
    env: { NODE_ENV: "production", PORT: "0", HOST: "127.0.0.1", DATABASE_URL: databaseUrl, JWT_SECRET: secret },
    ready: READY,
  };
}

async function load(
  o: Options,
  scenario: string,
  side: Side,
  name: WorkloadName,
  phase: string,
  secs: number,
  connections = o.connections,
  amount?: number,
) {
  const cpuBefore = side.server.cpuSeconds();
  const mainBefore = side.server.mainThreadCpuSeconds();
  const preemptionsBefore = side.server.mainThreadPreemptions();
  const gcBefore = side.server.gcSoFar();
  const result = await runLoad(side.server.url, workload(name, side.target), connections, secs, amount);
  const cpuAfter = side.server.cpuSeconds();
  const mainAfter = side.server.mainThreadCpuSeconds();
  const preemptionsAfter = side.server.mainThreadPreemptions();
  result.serverGc = gcBetween(gcBefore, side.server.gcSoFar());
  const perRequest = (before: number | undefined, after: number | undefined) =>
    before !== undefined && after !== undefined && result.requests > 0
      ? Math.round(((after - before) * 1e6) / result.requests)
      : undefined;
  result.serverCpuMicros = perRequest(cpuBefore, cpuAfter);
  result.serverMainThreadCpuMicros = perRequest(mainBefore, mainAfter);
  if (preemptionsBefore !== undefined && preemptionsAfter !== undefined && result.requests > 0) {
    result.serverMainThreadPreemptions = (preemptionsAfter - preemptionsBefore) / result.requests;
  }
  log(
    `  ${scenario.padEnd(15)} ${side.label.padEnd(22)} ${phase.padEnd(9)} ${Math.round(result.requestsPerSecond)
      .toString()
      .padStart(
        6,
      )} req/s  p50 ${result.p50} ms  p99 ${result.p99} ms  CPU ${result.serverCpuMicros ?? "?"} µs/req  errors ${result.errors}`,
  );
  if (result.errors > 0) {
    throw new BenchFailure(
      `${scenario} on ${side.label}: ${result.errors} failed requests; the first: ${result.firstBad}\n` +
        `${side.server.name} output (tail):\n${side.server.output().slice(-3000)}`,
    );
  }
  return result;
}

/**
 * Warm-up of each, then the rounds in mirrored pairs, A B B A A B …: the rounds of each side. Load
 * drifts over a run (the load generator's JIT and GC, PostgreSQL's caches, the host): in A B A B the
 * drift from one round to the next counts against the same side every time. A/A runs of the observability pair in A B A B order read
 * their second rounds lower than their first in 7 of 8 scenarios (2026-11-28, 2026-12-06 reports).
 */
async function alternate(o: Options, scenario: string, a: Side, b: Side, name: WorkloadName) {
  if (o.warmup > 0) {
    await load(o, scenario, a, name, "warm-up", o.warmup);
    await load(o, scenario, b, name, "warm-up", o.warmup);
  }
  const ra: LoadResult[] = [];
  const rb: LoadResult[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    const runA = async () => ra.push(await load(o, scenario, a, name, `round ${round}`, o.duration));
    const runB = async () => rb.push(await load(o, scenario, b, name, `round ${round}`, o.duration));
    if (round % 2 === 1) {
      await runA();
      await runB();
    } else {
      await runB();
      await runA();
    }
  }
  return { ra, rb };
}

/**
 * Both servers loaded at the same time, half the connections each, warm-up and rounds: whatever the
 * machine does meanwhile (other tenants, PostgreSQL's checkpoints, the load generator's GC) falls on
 * both alike, and each one's CPU per request is measured over the same seconds. Two servers of
 * the same code loaded this way measure the pair's noise floor (the A/A run, README Performance).
 */
async function together(o: Options, scenario: string, a: Side, b: Side, name: WorkloadName) {
  const half = Math.max(1, Math.floor(o.connections / 2));
  // The load started first gets ~5 % more requests through (A/A, 2026-12-06T21-55-33-085Z): each
  // round the other side's starts first.
  const both = async (phase: string, secs: number, aFirst: boolean) => {
    const runA = () => load(o, scenario, a, name, phase, secs, half);
    const runB = () => load(o, scenario, b, name, phase, secs, half);
    if (aFirst) return Promise.all([runA(), runB()]);
    const [resultB, resultA] = await Promise.all([runB(), runA()]);
    return [resultA, resultB] as const;
  };
  if (o.warmup > 0) await both("warm-up", o.warmup, false);
  const ra: LoadResult[] = [];
  const rb: LoadResult[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    const [resultA, resultB] = await both(`round ${round}`, o.duration, round % 2 === 1);
    ra.push(resultA);
    rb.push(resultB);
  }
  return { ra, rb };
}

/**
 * The observability pair loaded alone in turn, after its rounds at once: 2 rounds of 5 s per side
 * and server pair, A B B A, so 16 a side over 8 pairs; still, an A/A's pairs of rounds spread from
 * 0.70× to 1.21× (2026-12-07T17-06-17-184Z). No warm-up: the rounds at once warmed both.
 */
const aloneInTurn = (o: Options): Options => ({ ...o, warmup: 0, rounds: 2, duration: Math.min(o.duration, 5) });

/** A's req/s over B's, pair of rounds by pair of rounds. */
function requestRateRatios(ra: LoadResult[], rb: LoadResult[]): number[] {
  return ra.map((a, i) => a.requestsPerSecond / (rb[i]?.requestsPerSecond ?? Number.NaN));
}

/**
 * Observed / quiet per pair of rounds, in req/s and in main-thread CPU per request (how much more
 * the observed server's main thread worked for each), and their medians.
 */
function observedOverQuietResult(
  name: string,
  title: string,
  label: string,
  rounds: { ra: LoadResult[]; rb: LoadResult[] },
  rss: { observed?: number; quiet?: number } | undefined,
): ScenarioResult {
  const { ra, rb } = rounds;
  const ratios = requestRateRatios(ra, rb);
  const mainThreadCpuRatios = ra.flatMap((a, i) => {
    const quiet = rb[i]?.serverMainThreadCpuMicros;
    return a.serverMainThreadCpuMicros && quiet ? [a.serverMainThreadCpuMicros / quiet] : [];
  });
  return {
    name,
    title,
    ours: summarize(label, ra, rss?.observed),
    baseline: summarize(QUIET_LABEL, rb, rss?.quiet),
    ratios,
    ratio: median(ratios),
    mainThreadCpuRatios,
    ...(mainThreadCpuRatios.length > 0 && { mainThreadCpuRatio: median(mainThreadCpuRatios) }),
  };
}

/** The ratio is A / B per pair of rounds, and their median. */
async function compare(o: Options, scenario: string, title: string, a: Side, b: Side, name: WorkloadName) {
  const { ra, rb } = await alternate(o, scenario, a, b, name);
  const ratios = requestRateRatios(ra, rb);
  return {
    name: scenario,
    title,
    ours: summarize(a.label, ra, a.server.rssMiB()),
    baseline: summarize(b.label, rb, b.server.rssMiB()),
    ratios,
    ratio: median(ratios),
  } satisfies ScenarioResult;
}

async function solo(o: Options, scenario: string, title: string, side: Side, name: WorkloadName) {
  if (o.warmup > 0) await load(o, scenario, side, name, "warm-up", o.warmup);
  const rounds: LoadResult[] = [];
  for (let round = 1; round <= o.rounds; round++)
    rounds.push(await load(o, scenario, side, name, `round ${round}`, o.duration));
  return {
    name: scenario,
    title,
    ours: summarize(side.label, rounds, side.server.rssMiB()),
    ratios: [],
  } satisfies ScenarioResult;
}

type Checked = Verification & { after: string };

async function check(query: Query, ledger: WriteLedger, after: string): Promise<Checked> {
  // Requests cut off at a round's end may still be finishing on the server.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const v = await verifyLedger(query, ledger);
  log(`  check ${v.table} after ${after}: ${v.ok ? "ok" : `FAILED: ${v.problems.join("; ")}`} (${v.rows} rows)`);
  return { ...v, after };
}

async function benchPostgres(
  o: Options,
  secret: string,
  dataDir: string,
  results: ScenarioResult[],
  checks: Checked[],
  counted: CountedPair[],
) {
  const t = performance.now();
  const database = await seededPostgres(o, o.rows);
  log(
    `PostgreSQL at ${database.url}, ${o.rows} rows seeded into ${OUR_TABLE} and ${REFERENCE_TABLE}, analyzed (${seconds(t)})`,
  );
  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  cleanups.push(() => pool.end());
  const query = postgresQuery(pool);

  const authorizations = await hs256Authorizations(secret);
  const ourLedger = new WriteLedger(OUR_TABLE, o.rows);
  const referenceLedger = new WriteLedger(REFERENCE_TABLE, o.rows);
  const ours: Side = {
    label: "ours",
    server: await start(oursSpec(o, "ours", { DATABASE_URL: database.url, JWT_SECRET: secret, DATA_DIR: dataDir })),
    target: { rows: o.rows, identifiers: o.identifiers, authorizations, ledger: ourLedger },
  };
  const reference: Side = {
    label: "reference",
    server: await start(referenceSpec(database.url, secret)),
    target: { rows: o.rows, identifiers: o.identifiers, authorizations, ledger: referenceLedger },
  };

  for (const name of ["read", "upsert", "list", "mixed"] as const) {
    if (!o.scenarios.includes(name)) continue;
    results.push(await compare(o, name, TITLES[name], ours, reference, name));
    if (name === "upsert" || name === "mixed") {
      checks.push(await check(query, ourLedger, name), await check(query, referenceLedger, name));
    }
  }

  if (o.scenarios.includes("jwks")) {
    const jwks = await startJwksServer();
    cleanups.push(() => jwks.close());
    const viaJwks: Side = {
      label: "ours, RS256 (JWKS)",
      server: await start(
        oursSpec(o, "ours-jwks", { DATABASE_URL: database.url, JWKS_URL: jwks.url, DATA_DIR: dataDir }),
      ),
      target: { rows: o.rows, identifiers: o.identifiers, authorizations: jwks.authorizations, ledger: ourLedger },
    };
    const hs256 = { ...ours, label: "ours, HS256" };
    results.push(await compare(o, "jwks", "read, RS256 token via JWKS", viaJwks, hs256, "read"));
    await viaJwks.server.stop();
  }

  if (o.scenarios.includes("observability")) {
    // Load varies over time on a shared machine: identical servers loaded one after the other
    // ranged 0.91×–1.24× per pair (A/A, 2026-12-06T19-16-17-088Z), more than the 5 % this pair
    // checks. So both sides run at once (see `together`), and `processPairs` pairs of fresh servers
    // do it, because two processes of the same code also differ (now and then one runs ~30 % slower
    // for its whole life, 2026-12-06T22-40-54-076Z); the ratio is the median over all their rounds
    // (an even number of pairs: each side starts first as often). Loaded at once, each main thread is
    // preempted about once per read, alone once in 5–8: so each pair is also loaded alone, in turn,
    // and the report gives both readings (alone, the observed side's extra CPU per read stayed:
    // 2026-12-07T16-46-44-297Z, README Performance).
    // The observed side runs as `npm start` does: logs at info, metrics on. The baseline turns both off.
    const names = ["read", "upsert"] as const;
    const label = observedLabel(o);
    const atOnce = new Map(names.map((name) => [name, { ra: [] as LoadResult[], rb: [] as LoadResult[] }]));
    const alone = new Map(names.map((name) => [name, { ra: [] as LoadResult[], rb: [] as LoadResult[] }]));
    // RSS at the end of each scenario, of the last pair (its servers are stopped when it is reported).
    const rss = new Map<string, { observed?: number; quiet?: number }>();
    buildOurs();
    for (let pair = 1; pair <= o.processPairs; pair++) {
      const env = { DATABASE_URL: database.url, JWT_SECRET: secret, DATA_DIR: dataDir };
      // Each side's garbage collections, natively: what the instruction counts leave out (bench/gc-trace.ts).
      const observedSpec = oursSpec(o, `ours-observed-${pair}`, env, [TRACE_GC]);
      const quietSpec = oursSpec(o, `ours-quiet-${pair}`, { ...env, ...QUIET_ENV }, [TRACE_GC]);
      // Every other pair the quiet server starts first, and its load starts first in odd rounds (`together`).
      const observedFirst = pair % 2 === 1;
      const firstServer = await start(observedFirst ? observedSpec : quietSpec);
      const secondServer = await start(observedFirst ? quietSpec : observedSpec);
      const [observedServer, quietServer] = observedFirst ? [firstServer, secondServer] : [secondServer, firstServer];
      const observed: Side = { label, server: observedServer, target: { ...ours.target } };
      const quiet: Side = { label: QUIET_LABEL, server: quietServer, target: { ...ours.target } };
      // Either way round, the results come back observed first.
      const inOrder = async (measure: (a: Side, b: Side) => Promise<{ ra: LoadResult[]; rb: LoadResult[] }>) =>
        observedFirst ? measure(observed, quiet) : measure(quiet, observed).then(({ ra, rb }) => ({ ra: rb, rb: ra }));
      for (const name of names) {
        const scenario = `observability-${name}`;
        const loadedAtOnce = await inOrder((a, b) => together(o, scenario, a, b, name));
        atOnce.get(name)?.ra.push(...loadedAtOnce.ra);
        atOnce.get(name)?.rb.push(...loadedAtOnce.rb);
        // Then each alone, all the connections, in turn (A B B A): no second server shares the
        // cores, so neither main thread is preempted by the other (warm from the rounds at once).
        const inTurn = await inOrder((a, b) => alternate(aloneInTurn(o), `${scenario}-alone`, a, b, name));
        alone.get(name)?.ra.push(...inTurn.ra);
        alone.get(name)?.rb.push(...inTurn.rb);
        rss.set(name, { observed: observed.server.rssMiB(), quiet: quiet.server.rssMiB() });
      }
      await Promise.all([observed.server.stop(), quiet.server.stop()]);
    }
    const versus = `${label.slice("ours, ".length)} vs logs + metrics off`;
    for (const name of names) {
      const sides = rss.get(name);
      const pairs = `${o.processPairs} server pairs`;
      const both = atOnce.get(name);
      if (both) {
        const title = `${name}, ${versus} (loaded at once, ${pairs})`;
        results.push(observedOverQuietResult(`observability-${name}`, title, label, both, sides));
      }
      const inTurn = alone.get(name);
      if (inTurn) {
        const title = `${name}, ${versus} (each loaded alone in turn, ${pairs})`;
        results.push(observedOverQuietResult(`observability-${name}-alone`, title, label, inTurn, sides));
      }
    }
    checks.push(await check(query, ourLedger, "observability"));
    // The targets read instructions: in time the pair's spread is larger than the cost (README, Performance).
    if (hasValgrind()) {
      const env = { DATABASE_URL: database.url, JWT_SECRET: secret, DATA_DIR: dataDir };
      counted.push(...(await countObservability(o, env, authorizations, dataDir)));
    } else {
      log("  observability: valgrind is missing, instructions not counted (its targets: not measured)");
    }
  }
  await Promise.all([ours.server.stop(), reference.server.stop()]);
}

async function benchEmbedded(o: Options, secret: string, tmp: string, results: ScenarioResult[], checks: Checked[]) {
  const rows = Math.min(o.rows, EMBEDDED_MAX_ROWS);
  const dataDir = join(tmp, "embedded");
  const t = performance.now();
  await seedPglite(dataDir, rows, o.identifiers);
  log(`seeded ${rows} rows into PGlite at ${dataDir} (${seconds(t)})`);
  const ledger = new WriteLedger(OUR_TABLE, rows);
  const side: Side = {
    label: "ours (PGlite)",
    server: await start(oursSpec(o, "ours-pglite", { JWT_SECRET: secret, DATA_DIR: dataDir })),
    target: { rows, identifiers: o.identifiers, authorizations: await hs256Authorizations(secret), ledger },
  };
  const size = `PGlite, ${rows.toLocaleString("en-US")} rows`;
  results.push(await solo(o, "embedded-read", `embedded read (${size})`, side, "read"));
  results.push(await solo(o, "embedded-upsert", `embedded upsert (${size}, ½ new keys)`, side, "upsert"));
  await side.server.stop();
  checks.push(await withPglite(dataDir, (query) => check(query, ledger, "embedded-upsert")));
}

async function bench(o: Options): Promise<void> {
  const startedAt = new Date().toISOString();
  const secret = randomBytes(32).toString("base64url");
  const tmp = await mkdtemp(join(tmpdir(), "mg-bench-"));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const results: ScenarioResult[] = [];
  const checks: Checked[] = [];
  const counted: CountedPair[] = [];
  if (o.scenarios.some((s) => s !== "embedded")) await benchPostgres(o, secret, tmp, results, checks, counted);
  if (o.scenarios.includes("embedded")) await benchEmbedded(o, secret, tmp, results, checks);

  const report: Report = {
    startedAt,
    machine: {
      cpu: cpus()[0]?.model ?? "unknown CPU",
      cores: availableParallelism(),
      node: process.version,
      platform: `${platform()} ${release()}`,
    },
    settings: {
      rows: o.rows,
      identifiers: o.identifiers,
      embeddedRows: Math.min(o.rows, EMBEDDED_MAX_ROWS),
      durationSeconds: o.duration,
      warmupSeconds: o.warmup,
      rounds: o.rounds,
      connections: o.connections,
      oursEnv: o.oursEnv,
      ...(counted.length > 0 && { counting: o.counting }),
    },
    scenarios: results,
    ...(counted.length > 0 && { instructions: counted }),
    targets: evaluateTargets(results, counted),
    verifications: checks,
  };
  const files = await writeReport(report);
  log(`\n${toMarkdown(report)}`);
  log(`written: ${files.join(", ")}`);
  const lost = checks.filter((c) => !c.ok);
  if (lost.length) {
    throw new BenchFailure(
      `the table does not hold what was acknowledged: ${lost.flatMap((c) => c.problems).join("; ")}`,
    );
  }
}

const isWorkload = (s: string): s is WorkloadName => s in TITLES;

/** The one workload `--profile` runs: read (by default, and for `--scenarios embedded`), or the one named. */
function profiledWorkload(scenarios: readonly Scenario[]): WorkloadName {
  if (scenarios.length === SCENARIOS.length) return "read";
  const [only] = scenarios;
  if (scenarios.length === 1 && only === "embedded") return "read";
  if (scenarios.length === 1 && only !== undefined && isWorkload(only)) return only;
  throw new BenchFailure("--profile runs one scenario: --scenarios read, upsert, list, mixed or embedded");
}

async function profile(o: Options): Promise<void> {
  const secret = randomBytes(32).toString("base64url");
  const tmp = await mkdtemp(join(tmpdir(), "mg-bench-profile-"));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const embedded = o.scenarios.length === 1 && o.scenarios[0] === "embedded";
  const profiled = profiledWorkload(o.scenarios);
  const rows = embedded ? Math.min(o.rows, EMBEDDED_MAX_ROWS) : o.rows;
  const env: Record<string, string> = { JWT_SECRET: secret, DATA_DIR: tmp };
  if (embedded) {
    await seedPglite(tmp, rows, o.identifiers);
  } else {
    env.DATABASE_URL = (await seededPostgres(o, rows)).url;
  }
  log(`seeded ${rows} rows${embedded ? " into PGlite" : ""}`);
  const profileDir = join(tmp, "cpuprofile");
  buildOurs();
  const side: Side = {
    label: "ours (--cpu-prof)",
    server: await start(oursSpec(o, "ours-profiled", env, ["--cpu-prof", `--cpu-prof-dir=${profileDir}`])),
    target: {
      rows,
      identifiers: o.identifiers,
      authorizations: await hs256Authorizations(secret),
      ledger: new WriteLedger(OUR_TABLE, rows),
    },
  };
  if (o.warmup > 0) await load(o, profiled, side, profiled, "warm-up", o.warmup);
  const window = { fromMicros: monotonicMicros(), toMicros: 0 };
  const rounds: LoadResult[] = [];
  for (let round = 1; round <= o.rounds; round++)
    rounds.push(await load(o, profiled, side, profiled, `round ${round}`, o.duration));
  window.toMicros = monotonicMicros();
  await side.server.stop();
  const result = summarize(side.label, rounds, undefined);
  log(`${profiled} under --cpu-prof: ${Math.round(result.requestsPerSecond)} req/s, p99 ${result.p99} ms\n`);
  // Kept past the clean-up of the temporary directory: open it in Chrome DevTools for the call tree.
  const kept = join(tmpdir(), `metadata-graph-${profiled}-${Date.now()}.cpuprofile`);
  await copyFile(await findProfile(profileDir), kept);
  log(formatProfile(await summarizeProfile(kept, window)));
  log(
    `requests measured: ${rounds.reduce((sum, r) => sum + r.requests, 0)} (monotonic µs ${window.fromMicros}–${window.toMicros}); profile kept at ${kept}`,
  );
}

/** Whether valgrind (Debian's package) is there to count instructions. */
function hasValgrind(): boolean {
  try {
    execFileSync("valgrind", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Read and upsert, our server as the observability scenario's observed side and as its quiet side,
 * each under callgrind: instructions per request, the figure the scenario's targets read. The two
 * servers of a workload run at once: what one counts does not depend on the load beside it.
 */
async function countObservability(
  o: Options,
  env: Record<string, string>,
  authorizations: Authorizations,
  tmp: string,
): Promise<CountedPair[]> {
  buildOurs();
  const sides = [
    { label: observedLabel(o), env },
    { label: QUIET_LABEL, env: { ...env, ...QUIET_ENV } },
  ];
  const pairs: CountedPair[] = [];
  for (const name of ["read", "upsert"] as const) {
    const [observed, quiet] = await Promise.all(
      sides.map(async (side, i) => {
        const outFile = join(tmp, `${name}-${i}.callgrind`);
        const serverEnv = oursEnv(o, side.env);
        const spec = { name: `ours-${name}-${i}-callgrind`, env: serverEnv, ready: READY };
        const server = await start(underCallgrind(spec, { script: "dist/src/main.js", args: ["serve"] }, outFile));
        const target = {
          rows: o.rows,
          identifiers: o.identifiers,
          authorizations,
          ledger: new WriteLedger(OUR_TABLE, o.rows),
        };
        const counted: Side = { label: side.label, server, target };
        const countedLoad = (phase: string, amount: number) =>
          load(o, `count-${name}`, counted, name, phase, o.counting.maxSeconds, o.counting.connections, amount);
        await countedLoad("warm-up", o.counting.warmupRequests);
        // callgrind_control must see the environment the server was started with (setInstrumentation).
        const controlEnv = { ...process.env, ...serverEnv };
        await setInstrumentation(server.pid, true, controlEnv);
        const { requests } = await countedLoad("counted", o.counting.requests);
        await setInstrumentation(server.pid, false, controlEnv);
        // callgrind writes its counts as the process exits.
        await server.stop();
        return { label: side.label, requests, count: await countInstructions(outFile) };
      }),
    );
    if (observed && quiet) pairs.push({ name, observed, quiet });
  }
  return pairs;
}

/** `--instructions`: the observability scenario's counts alone, in their own report. */
async function instructions(o: Options): Promise<void> {
  if (!hasValgrind()) throw new BenchFailure("--instructions needs valgrind (Debian's valgrind package)");
  const startedAt = new Date().toISOString();
  const secret = randomBytes(32).toString("base64url");
  const tmp = await mkdtemp(join(tmpdir(), "mg-bench-instructions-"));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const database = await seededPostgres(o, o.rows);
  log(`seeded ${o.rows} rows`);
  const env = { DATABASE_URL: database.url, JWT_SECRET: secret, DATA_DIR: tmp };
  const pairs = await countObservability(o, env, await hs256Authorizations(secret), tmp);
  const markdown = instructionsMarkdown(startedAt, o.rows, o.counting, pairs);
  const file = join(REPO_ROOT, "bench/results", `${startedAt.replaceAll(":", "-").replace(".", "-")}-instructions.md`);
  await writeFile(file, markdown);
  log(`\n${markdown}\nwritten: ${file}`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      interrupted = true;
      console.error(`${signal}: stopping servers and PostgreSQL`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  try {
    await (options.profile ? profile(options) : options.instructions ? instructions(options) : bench(options));
  } finally {
    await cleanUp();
  }
}

main().catch((error: unknown) => {
  if (interrupted) {
    console.error("bench interrupted");
    process.exit(130);
  }
  const usage = error instanceof BenchFailure || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
  console.error(`bench failed: ${usage ? (error as Error).message : ((error as Error).stack ?? String(error))}`);
  process.exit(1);
});
