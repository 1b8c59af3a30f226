import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { SignJWT } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { openDatabase } from "../src/db/database.js";
import { describeFailure, isDatabaseUnavailable } from "../src/db/unavailable.js";
import { createApp } from "../src/server.js";
import { TEST_SECRET } from "./support/app.js";
import {
  dataDirWithEmptyCluster,
  type GraphQLResponse,
  graphql,
  killLeftovers,
  prepareEmptyCluster,
  REPO_ROOT,
  removeTempDirs,
  type ServerProcess,
  startServer,
  tempDir,
} from "./support/process.js";

// What survives a crash of the service, and what a client sees while PostgreSQL is down. Real
// processes (`node dist/src/main.js serve`, as `npm start` runs it) and, for PostgreSQL, a throwaway cluster of
// this file's own (.ci/postgres.sh), so that stopping it disturbs no other test file.

const SET = `mutation Set($input: MetadataInput!) {
  updateMetadata(input: $input) { metadata { key value version } }
}`;
const GET = `query Get($identifier: String!, $key: String!) {
  metadataForKey(identifier: $identifier, key: $key) { key value version }
}`;
const LIST = `query List($identifier: String!, $after: String) {
  metadataList(linkedObjectType: ACCOUNT, identifier: $identifier, first: 100, after: $after) {
    edges { node { key value version } }
    pageInfo { hasNextPage endCursor }
  }
}`;

interface Entry {
  key: string;
  value: string;
  version: number;
}
type SetResult = { updateMetadata: { metadata: Entry } };
type GetResult = { metadataForKey: Entry | null };
type ListResult = {
  metadataList: { edges: { node: Entry }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
};

const STACK_LINE = /^\s+at /m;
const EXITED_OK = { code: 0, signal: null };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setInput(identifier: string, key: string, value: string) {
  return { variables: { input: { linkedObjectType: "ACCOUNT", identifier, key, value } } };
}

function requireToken(server: ServerProcess): string {
  if (!server.devToken) throw new Error(`no dev token printed:\n${server.stdout()}`);
  return `Bearer ${server.devToken}`;
}

// Started now, awaited by the tests that need them: initdb and PGlite's first start run while the
// first test does.
beforeAll(() => {
  void prepareEmptyCluster();
  if (HAS_POSTGRES) getCluster().catch(() => {});
});

afterAll(async () => {
  await killLeftovers();
  const started = await cluster?.catch(() => undefined);
  if (started) await postgresScript(["stop", started.dir]);
  await removeTempDirs();
}, 60_000);

// ---------------------------------------------------------------------------------------------
// Crash: SIGKILL during a burst of writes, restart on the same storage.

/** One write sent during the burst, and what its client learnt. */
interface SentWrite {
  identifier: string;
  key: string;
  value: string;
  /** unknown: no answer (the process died first); it may or may not have been committed. */
  outcome: "unknown" | "acknowledged" | "refused";
  version?: number;
  answer?: unknown;
}

const WORKERS = 12;
const SHARED_KEYS = 4;

/**
 * Each worker writes in turn a new key of its own object, its own hot key (one worker per key: at
 * most one of its writes in flight, so an acknowledged last write must be exactly what is stored)
 * and one of a few keys every worker updates concurrently (row-lock contention). The process is
 * SIGKILLed from inside the response handler of the `killAfter`-th acknowledged write, while the
 * other workers' requests are in flight.
 */
async function burstThenKill(server: ServerProcess, auth: string, killAfter: number, maxMs = 20_000) {
  const writes: SentWrite[] = [];
  let acknowledged = 0;
  let killedAt: number | undefined;
  const kill = () => {
    if (killedAt !== undefined) return;
    killedAt = Date.now();
    server.child.kill("SIGKILL");
  };
  const started = Date.now();
  const cap = setTimeout(kill, maxMs);
  const worker = async (w: number) => {
    for (let i = 0; killedAt === undefined; i++) {
      const turn = i % 3;
      const write: SentWrite =
        turn === 0
          ? { identifier: `A-crash-${w}`, key: `new-${i}`, value: `w${w}-${i}`, outcome: "unknown" }
          : turn === 1
            ? { identifier: `A-crash-${w}`, key: "hot", value: `w${w}-${i}`, outcome: "unknown" }
            : {
                identifier: "A-crash-shared",
                key: `shared-${(w + i) % SHARED_KEYS}`,
                value: `w${w}-${i}`,
                outcome: "unknown",
              };
      writes.push(write);
      let result: GraphQLResponse<SetResult>;
      try {
        result = await graphql<SetResult>(server.origin, SET, {
          ...setInput(write.identifier, write.key, write.value),
          authorization: auth,
        });
      } catch {
        return; // The process is gone: this write stays unknown.
      }
      const entry = result.body.data?.updateMetadata.metadata;
      if (result.status === 200 && !result.body.errors && entry?.key === write.key && entry.value === write.value) {
        write.outcome = "acknowledged";
        write.version = entry.version;
        if (++acknowledged >= killAfter) kill();
      } else {
        write.outcome = "refused";
        write.answer = { status: result.status, body: result.body };
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  clearTimeout(cap);
  // Workers stop early only if the process died on its own (the exit then says so): never wait on a live one.
  kill();
  const exit = await server.exited;
  return { writes, exit, burstMs: (killedAt ?? Date.now()) - started };
}

async function listAll(server: ServerProcess, auth: string, identifier: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  let after: string | null = null;
  for (;;) {
    const result: GraphQLResponse<ListResult> = await graphql<ListResult>(server.origin, LIST, {
      variables: { identifier, after },
      authorization: auth,
    });
    expect(result.body.errors, JSON.stringify(result.body.errors)).toBeUndefined();
    const page = result.body.data?.metadataList;
    if (!page) throw new Error(`no metadataList for ${identifier}`);
    entries.push(...page.edges.map((e) => e.node));
    if (!page.pageInfo.hasNextPage) return entries;
    after = page.pageInfo.endCursor;
  }
}

/**
 * Every acknowledged write is stored with at least its version; where no write of a key is left
 * unanswered, exactly its last acknowledged one. A version above that comes from a write that was
 * in flight at the kill (its value proves it), and versions count commits: acknowledged ≤ version ≤
 * acknowledged + unanswered. Nothing is stored that was never sent.
 */
async function checkAfterRestart(server: ServerProcess, auth: string, writes: SentWrite[]) {
  const stored = new Map<string, Entry>();
  for (const identifier of new Set(writes.map((w) => w.identifier))) {
    for (const entry of await listAll(server, auth, identifier)) stored.set(`${identifier}/${entry.key}`, entry);
  }
  // Not Map.groupBy: Node 20 lacks it.
  const byKey = new Map<string, SentWrite[]>();
  for (const w of writes) {
    const id = `${w.identifier}/${w.key}`;
    const group = byKey.get(id);
    if (group) group.push(w);
    else byKey.set(id, [w]);
  }
  const problems: string[] = [];
  let exact = 0;
  let committedUnanswered = 0;
  for (const [id, sent] of byKey) {
    const acked = sent.filter((w) => w.outcome === "acknowledged");
    const unknown = sent.filter((w) => w.outcome === "unknown");
    const entry = stored.get(id);
    const last = acked.reduce<SentWrite | undefined>(
      (a, w) => ((w.version ?? 0) > (a?.version ?? 0) ? w : a),
      undefined,
    );
    const version = entry?.version ?? 0;
    if (last) {
      const v = last.version ?? 0;
      if (!entry) problems.push(`${id}: acknowledged v${v} is missing`);
      else if (version < v) problems.push(`${id}: acknowledged v${v}, stored v${version}`);
      else if (version === v && entry.value !== last.value)
        problems.push(`${id}: v${v} acknowledged '${last.value}', stored '${entry.value}'`);
      else if (version > v && !unknown.some((w) => w.value === entry.value))
        problems.push(`${id}: stored v${version} '${entry.value}' is no unanswered write's value`);
      if (unknown.length === 0) {
        exact++;
        if (version !== v) problems.push(`${id}: every write answered, last v${v}, stored v${version}`);
      }
    } else if (entry && !unknown.some((w) => w.value === entry.value)) {
      problems.push(`${id}: stored '${entry.value}' was never sent`);
    }
    if (version < acked.length || version > acked.length + unknown.length) {
      problems.push(`${id}: v${version} after ${acked.length} acknowledged and ${unknown.length} unanswered writes`);
    }
    committedUnanswered += Math.max(0, version - acked.length);
  }
  for (const id of stored.keys()) if (!byKey.has(id)) problems.push(`${id}: stored but never written`);
  expect(problems).toEqual([]);
  return {
    acknowledgedChecked: writes.filter((w) => w.outcome === "acknowledged").length,
    keysChecked: byKey.size,
    keysExact: exact,
    unanswered: writes.filter((w) => w.outcome === "unknown").length,
    committedUnanswered,
  };
}

/** Burst, SIGKILL, restart with `restart`, check; the figures. */
async function crashAndCheck(first: ServerProcess, restart: () => Promise<ServerProcess>, killAfter: number) {
  const auth = requireToken(first);
  const { writes, exit, burstMs } = await burstThenKill(first, auth, killAfter);
  expect(exit).toEqual({ code: null, signal: "SIGKILL" });
  // Before the kill every answer was a success: the burst itself is valid.
  expect(writes.filter((w) => w.outcome === "refused").map((w) => w.answer)).toEqual([]);
  expect(writes.filter((w) => w.outcome === "acknowledged").length).toBeGreaterThanOrEqual(killAfter);

  const restartStarted = Date.now();
  const second = await restart();
  const restartMs = Date.now() - restartStarted;
  // The migration history survived: nothing re-applied, and the server serves.
  expect(second.stdout()).not.toContain("Applied migrations");
  const figures = { burstMs, restartMs, sent: writes.length, ...(await checkAfterRestart(second, auth, writes)) };
  // Writing continues the version sequence of a key written during the burst.
  const hot = (await listAll(second, auth, "A-crash-0")).find((e) => e.key === "hot");
  const next = await graphql<SetResult>(second.origin, SET, {
    ...setInput("A-crash-0", "hot", "after"),
    authorization: auth,
  });
  expect(next.body.data?.updateMetadata.metadata.version).toBe((hot?.version ?? 0) + 1);
  expect(await second.stop()).toEqual(EXITED_OK);
  expect(second.stderr()).not.toMatch(STACK_LINE);
  return figures;
}

describe("crash (SIGKILL) during a write burst", () => {
  it("PGlite: every acknowledged write is there after a restart on the same DATA_DIR", async () => {
    const started = Date.now();
    const dataDir = await dataDirWithEmptyCluster();
    const first = await startServer({ DATA_DIR: dataDir });
    const startMs = Date.now() - started;
    const figures = await crashAndCheck(first, () => startServer({ DATA_DIR: dataDir }), 200);
    console.log(`[durability] PGlite crash: ${JSON.stringify({ startMs, ...figures })}`);
  }, 90_000);
});

// ---------------------------------------------------------------------------------------------
// PostgreSQL: a throwaway cluster of this file's own.

const PG_BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";
const PG_SCRIPT = join(REPO_ROOT, ".ci/postgres.sh");
const run = promisify(execFile);

/** .ci/postgres.sh with a bound; its stdout. */
async function postgresScript(args: string[]): Promise<string> {
  const { stdout } = await run(PG_SCRIPT, args, { timeout: 90_000 });
  return stdout;
}

interface Cluster {
  url: string;
  dir: string;
}

const HAS_POSTGRES = existsSync(join(PG_BIN, "pg_ctl"));
let cluster: Promise<Cluster> | undefined;

/** Starts this file's cluster (once). */
function getCluster(): Promise<Cluster> {
  cluster ??= postgresScript(["start"]).then((out) => {
    const url = /^export DATABASE_URL=(\S+)$/m.exec(out)?.[1];
    const dir = /^export PG_THROWAWAY_DIR=(\S+)$/m.exec(out)?.[1];
    if (!url || !dir) throw new Error(`unexpected output of postgres.sh start: ${out}`);
    return { url, dir };
  });
  return cluster;
}

describe.runIf(HAS_POSTGRES)("PostgreSQL (a throwaway cluster of this file)", () => {
  async function freshDatabase(name: string): Promise<string> {
    const { url } = await getCluster();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
    const dbUrl = new URL(url);
    dbUrl.pathname = `/${name}`;
    return dbUrl.toString();
  }

  it("crash: every acknowledged write is there after a restart on the same database", async () => {
    const started = Date.now();
    const url = await freshDatabase("mg_crash");
    const clusterMs = Date.now() - started;
    const env = { DATABASE_URL: url, DATA_DIR: await tempDir() };
    const first = await startServer(env);
    const startMs = Date.now() - started - clusterMs;
    const figures = await crashAndCheck(first, () => startServer(env), 300);
    console.log(`[durability] PostgreSQL crash: ${JSON.stringify({ clusterMs, startMs, ...figures })}`);
  }, 90_000);

  it("outage: SERVICE_UNAVAILABLE fast while PostgreSQL is stopped, /ready 503 (/health 200), recovery without a restart", async () => {
    const { dir } = await getCluster();
    const url = await freshDatabase("mg_outage");
    // The purge job runs every second: it must fail quietly during the outage, not end the process.
    const server = await startServer({
      DATABASE_URL: url,
      DATA_DIR: await tempDir(),
      METADATA_PURGE_INTERVAL_SECONDS: "1",
    });
    const auth = requireToken(server);
    const set = (key: string, value: string) =>
      graphql<SetResult>(server.origin, SET, { ...setInput("A-outage", key, value), authorization: auth });
    const get = (key: string) =>
      graphql<GetResult>(server.origin, GET, { variables: { identifier: "A-outage", key }, authorization: auth });
    // Readiness follows the database; liveness does not (restarting the service fixes no outage).
    const probe = async (path: "/ready" | "/health") => {
      const response = await fetch(`${server.origin}${path}`);
      return { status: response.status, body: (await response.json()) as unknown };
    };

    expect((await set("before", "1")).body).toEqual({
      data: { updateMetadata: { metadata: { key: "before", value: "1", version: 1 } } },
    });
    expect(await probe("/ready")).toEqual({ status: 200, body: { status: "ready" } });
    expect(await probe("/health")).toEqual({ status: 200, body: { status: "ok" } });

    // Writes keep coming while PostgreSQL shuts down: each is answered, with success or
    // SERVICE_UNAVAILABLE (sessions terminated mid-statement, refused connections), nothing else.
    let shuttingDown = true;
    const across: { status: number; codes: unknown[] }[] = [];
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; shuttingDown; i++) {
        const r = await set(`across-${w}-${i}`, "x");
        across.push({ status: r.status, codes: (r.body.errors ?? []).map((e) => e.extensions?.code) });
      }
    });
    await sleep(200);
    const pausedAt = Date.now();
    await postgresScript(["pause", dir]);
    shuttingDown = false;
    await Promise.all(writers);
    expect(across.filter((a) => a.status !== 200 || a.codes.some((c) => c !== "SERVICE_UNAVAILABLE"))).toEqual([]);
    expect(across.length).toBeGreaterThan(0);

    // PostgreSQL is down. Every request fails fast, and says why.
    const latencies: number[] = [];
    const timed = async <T>(fn: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      const result = await fn();
      latencies.push(performance.now() - t);
      return result;
    };
    const expectUnavailable = (result: GraphQLResponse<unknown>) => {
      expect(result.status).toBe(200);
      expect(result.body.errors).toHaveLength(1);
      const [error] = result.body.errors ?? [];
      expect(error?.message).toBe("The database is unavailable; try again shortly");
      expect(error?.extensions).toEqual({ code: "SERVICE_UNAVAILABLE" });
      // No driver detail, address or stack reaches the client.
      expect(JSON.stringify(result.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|Connection|stack|\bat /);
    };
    for (let i = 0; i < 10; i++) {
      expectUnavailable(await timed(() => set(`down-${i}`, "x")));
      expectUnavailable(await timed(() => get("before")));
    }
    const concurrent = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        timed<GraphQLResponse<unknown>>(() => (i % 2 ? get("before") : set(`down-c${i}`, "x"))),
      ),
    );
    for (const result of concurrent) expectUnavailable(result);
    // The media type of GraphQL-over-HTTP: a field error in an executed operation is still a 200.
    const modern = await timed(async () => {
      const response = await fetch(`${server.origin}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/graphql-response+json",
          authorization: auth,
        },
        body: JSON.stringify({ query: SET, ...setInput("A-outage", "modern", "x") }),
      });
      return { status: response.status, body: (await response.json()) as GraphQLResponse<unknown>["body"] };
    });
    expectUnavailable(modern);
    const healthStarted = performance.now();
    expect(await probe("/ready")).toEqual({
      status: 503,
      body: { status: "unavailable", reason: "database unreachable" },
    });
    const healthMs = performance.now() - healthStarted;
    expect(await probe("/health")).toEqual({ status: 200, body: { status: "ok" } });
    // Refused connections answer in milliseconds; 1 s leaves room for a loaded CI machine and
    // stays below the pool's 2 s connect timeout (src/db/database.ts), which would mean waiting.
    expect(Math.max(...latencies, healthMs)).toBeLessThan(1_000);

    // Long enough for the purge job to have failed at least twice; the process is still there.
    await sleep(Math.max(0, pausedAt + 2_500 - Date.now()));
    expect(server.child.exitCode).toBeNull();

    await postgresScript(["resume", dir]);
    const resumedAt = performance.now();
    let attempts = 0;
    for (;;) {
      attempts++;
      const result = await set("after", "1");
      if (!result.body.errors) break;
      expectUnavailable(result);
      if (performance.now() - resumedAt > 10_000) throw new Error("no recovery within 10 s of PostgreSQL's return");
      await sleep(100);
    }
    const recoveryMs = performance.now() - resumedAt;
    // Prepared statements on the new connections: the read and the update sent before the outage.
    expect((await get("before")).body).toEqual({ data: { metadataForKey: { key: "before", value: "1", version: 1 } } });
    expect((await set("before", "2")).body.data?.updateMetadata.metadata.version).toBe(2);
    expect((await get("after")).body.data?.metadataForKey?.version).toBe(1);
    expect(await probe("/ready")).toEqual({ status: 200, body: { status: "ready" } });

    // Log lines, on stdout.
    // With its reason (describeFailure), never "undefined".
    expect(server.stdout()).toMatch(
      /Database unavailable \((?!undefined\))[^)]+\): requests answer SERVICE_UNAVAILABLE/,
    );
    expect(server.stdout()).toMatch(/Database available again after /);
    expect(server.stderr()).not.toMatch(STACK_LINE);
    expect(await server.stop()).toEqual(EXITED_OK);
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(
      `[durability] PostgreSQL outage: ${JSON.stringify({
        answeredAcrossShutdown: across.length,
        unavailableDuringShutdown: across.filter((a) => a.codes.length).length,
        requestsWhileDown: latencies.length,
        medianMs: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
        maxMs: Math.round(sorted.at(-1) ?? 0),
        healthMs: Math.round(healthMs),
        recoveryMs: Math.round(recoveryMs),
        attempts,
      })}`,
    );
  }, 90_000);
});

// ---------------------------------------------------------------------------------------------
// In-process: a database host that accepts but never answers (packets dropped, a hung proxy).

describe("a database that never answers", () => {
  let silent: Server | undefined;
  afterAll(() => {
    silent?.close();
  });

  it("requests answer SERVICE_UNAVAILABLE after the pool's 2 s connect timeout, /ready 503 (/health 200)", async () => {
    const sockets = new Set<Socket>();
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    const port = await new Promise<number>((resolve) => {
      silent?.listen(0, "127.0.0.1", () => {
        const address = silent?.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
    const config = loadConfig({ JWT_SECRET: TEST_SECRET, NODE_ENV: "test", LOG_LEVEL: "silent" });
    const db = await openDatabase({
      databaseUrl: `postgresql://nobody@127.0.0.1:${port}/none`,
      dataDir: config.dataDir,
    });
    const app = await createApp({ config, db });
    try {
      const token = await new SignJWT({ sub: "u1", scope: "metadata.read", accounts: ["A-1"] })
        .setProtectedHeader({ alg: "HS256" })
        .setExpirationTime("1h")
        .sign(new TextEncoder().encode(TEST_SECRET));
      const started = performance.now();
      const [response, ready, health] = await Promise.all([
        app.yoga.fetch("http://yoga/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: '{ metadataForKey(identifier: "A-1", key: "k") { value } }' }),
        }),
        app.yoga.fetch("http://yoga/ready"),
        // Liveness answers at once: it never waits for the database.
        (async () => {
          const { status } = await app.yoga.fetch("http://yoga/health");
          return { status, ms: performance.now() - started };
        })(),
      ]);
      const elapsed = performance.now() - started;
      const body = (await response.json()) as { errors?: { extensions?: unknown }[] };
      expect(body.errors?.map((e) => e.extensions)).toEqual([{ code: "SERVICE_UNAVAILABLE" }]);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: "unavailable", reason: "database unreachable" });
      expect(health.status).toBe(200);
      expect(health.ms).toBeLessThan(1_000);
      expect(elapsed).toBeGreaterThan(1_900);
      expect(elapsed).toBeLessThan(5_000);
      console.log(`[durability] silent database: answered after ${Math.round(elapsed)} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await app.close();
    }
  }, 30_000);
});

describe("isDatabaseUnavailable: the one rule for SERVICE_UNAVAILABLE", () => {
  const withCode = (code: string, message = "x") => Object.assign(new Error(message), { code });
  it.each([
    ["admin shutdown (57P01)", withCode("57P01", "terminating connection due to administrator command"), true],
    ["crash shutdown (57P02)", withCode("57P02"), true],
    ["starting up (57P03)", withCode("57P03", "the database system is starting up"), true],
    ["connection failure (08006)", withCode("08006"), true],
    ["too many connections (53300)", withCode("53300"), true],
    ["refused", withCode("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"), true],
    ["reset", withCode("ECONNRESET"), true],
    ["broken pipe", withCode("EPIPE"), true],
    ["timed out", withCode("ETIMEDOUT"), true],
    ["every address refused", new AggregateError([withCode("ECONNREFUSED")], "connect failed"), true],
    ["terminated", new Error("Connection terminated unexpectedly"), true],
    ["pool timeout", new Error("timeout exceeded when trying to connect"), true],
    ["connect timeout", new Error("Connection terminated due to connection timeout"), true],
    ["wrapped", new Error("adapter", { cause: withCode("ECONNREFUSED") }), true],
    ["unique violation (23505)", withCode("23505", "duplicate key value"), false],
    ["syntax error (42601)", withCode("42601"), false],
    ["missing database (3D000): configuration, not an outage", withCode("3D000"), false],
    ["a bug", new TypeError("x is undefined"), false],
    ["not an error", "ECONNREFUSED", false],
  ])("%s", (_, error, expected) => {
    expect(isDatabaseUnavailable(error)).toBe(expected);
  });
});

describe("describeFailure: what the log says of a database or network error", () => {
  it.each([
    [
      "a code",
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }),
      "ECONNREFUSED",
    ],
    ["an SQLSTATE", Object.assign(new Error("sorry, too many clients already"), { code: "53300" }), "53300"],
    ["no code: the message", new Error("Connection terminated unexpectedly"), "Connection terminated unexpectedly"],
    ["every address refused", new AggregateError([], "connect failed"), "connect failed"],
    ["not an error", "gone", "gone"],
    ["nothing", null, "null"],
  ])("%s", (_, error, expected) => {
    expect(describeFailure(error)).toBe(expected);
  });
});
