/**
 * What metadataSearch costs, and what its column and indexes cost the writes, on a real PostgreSQL:
 *
 *   eval "$(.ci/postgres.sh start)"; npx tsx scripts/measure-search.ts; .ci/postgres.sh stop "$PG_THROWAWAY_DIR"
 *
 * Seeds 100,000 entries like the bench (bench/dataset.ts: 3 tenants, 10,000 identifiers, ~100-byte
 * JSON values), but with 4 keys shared by every object instead of a key per row, so that a search
 * has 10,000 candidates per tenant and key. Then:
 * 1. times each search through the app (median of 30 after 5 warm-ups) and prints its statement's
 *    EXPLAIN (ANALYZE, BUFFERS);
 * 2. times 2,000 sequential updateMetadata calls (half updates of seeded keys, half new keys)
 *    against a database migrated without the search migration ("before") and one with it
 *    ("after"), alternating, 5 rounds each: wall time, the PostgreSQL backends' CPU time and WAL bytes.
 * Needs DATABASE_URL (a user that may create databases). Prints a Markdown report.
 */
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import pg from "pg";
import { randomValue, TENANTS } from "../bench/dataset.js";
import { loadConfig } from "../src/config.js";
import { openDatabase, type QueryEvent } from "../src/db/database.js";
import { applyPendingMigrations, MIGRATIONS_DIR, readMigrations } from "../src/db/migrations.js";
import { type SqlArg, toDriverArg } from "../src/db/sql.js";
import { createApp } from "../src/server.js";
import { executorFor } from "../test/support/app.js";
import { SearchMetadata, UpdateMetadata } from "../test/support/operations.js";

const ROWS = 100_000;
const IDENTIFIERS = 10_000;
const KEYS = 4;
const ROUNDS = 5;
/** `getconf CLK_TCK` on Linux. */
const CLOCK_TICKS = 100;
const SECRET = "measure-search-secret-with-32-characters!";
const SEARCH_MIGRATION = "20261127220000_search";

const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL is required (eval "$(.ci/postgres.sh start)")');

/** Like bench/dataset.ts's seedSql, with key pref.theme.<0..3>: unique per object, shared across objects. */
function seedSql(): string {
  const n = TENANTS.length;
  return `INSERT INTO metadata (tenant, linked_object_type, identifier, namespace, key, value)
SELECT 't' || (i % ${n}), 'ACCOUNT', 'A-' || ((i / ${n}) % ${IDENTIFIERS}), '', 'pref.theme.' || ((i / ${n}) / ${IDENTIFIERS}),
  format('{"theme":"%s","size":%s,"id":"%s","note":"%s"}', (ARRAY['dark','light','auto'])[1 + i % 3], i % 17,
    md5(i::text), md5((i * 7)::text))
FROM generate_series(0, ${ROWS - 1}) AS i`;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database, migrated from `migrationsDir`, seeded and analyzed; returns its URL. */
async function seededDatabase(
  label: string,
  migrationsDir: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `mg_measure_${label}_${randomBytes(4).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl as string);
  url.pathname = `/${name}`;
  const db = await openDatabase({ databaseUrl: url.toString(), dataDir: "" });
  try {
    await applyPendingMigrations(db, migrationsDir);
    await db.withConnection(async (exec) => {
      await exec(seedSql());
      await exec("VACUUM ANALYZE metadata");
    });
  } finally {
    await db.close();
  }
  return {
    url: url.toString(),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

async function appOn(url: string, onQuery?: (e: QueryEvent) => void) {
  const config = loadConfig({
    JWT_SECRET: SECRET,
    NODE_ENV: "production",
    LOG_LEVEL: "silent",
    RATE_LIMIT_PER_MINUTE: "0",
    DATABASE_URL: url,
  });
  const db = await openDatabase({ databaseUrl: url, dataDir: "", onQuery });
  const app = await createApp({ config, db });
  const token = (claims: Record<string, unknown>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(SECRET));
  return { app, db, execute: executorFor(app), token };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const ms = (x: number) => x.toFixed(2);

async function measureSearches(url: string): Promise<string[]> {
  const statements: QueryEvent[] = [];
  const { app, db, execute, token } = await appOn(url, (e) => statements.push(e));
  const out: string[] = [];
  try {
    const staff = await token({ sub: "staff", tenant: "t1", permissions: ["CAN_MUTATE_METADATA"] });
    const user = await token({
      sub: "u",
      tenant: "t1",
      scope: "metadata.read",
      accounts: ["A-1", "A-2", "A-3", "A-4"],
    });
    // Row i = 3 * 4 + 1 = 13: tenant t1, A-4, key pref.theme.0.
    const [row] = (await db.withConnection((exec) =>
      exec(`SELECT value FROM metadata WHERE tenant = 't1' AND identifier = 'A-4' AND key = 'pref.theme.0'`),
    )) as { value: string }[];
    const value = row?.value ?? "";
    const id = (JSON.parse(value) as { id: string }).id;
    const cases: [string, string, Record<string, unknown>][] = [
      ["valueEquals", staff, { valueEquals: value }],
      ["jsonContains {id}", staff, { jsonContains: { id } }],
      ["jsonContains {size: 5}", staff, { jsonContains: { size: 5 } }],
      ["jsonContains {theme: light, size: 5}", staff, { jsonContains: { theme: "light", size: 5 } }],
      ["jsonContains {theme: light}", staff, { jsonContains: { theme: "light" } }],
      ["jsonContains {theme: light}, user reaching 4 accounts", user, { jsonContains: { theme: "light" } }],
      ['jsonContains "dark" (scalar)', staff, { jsonContains: "dark" }],
    ];
    out.push(
      "| Search (tenant t1, key pref.theme.0: 10,000 candidates; first: 50) | Matches | Median ms (app, end to end) | p90 ms |",
      "| --- | ---: | ---: | ---: |",
    );
    const plans: string[] = [];
    for (const [label, tok, match] of cases) {
      const variables = { linkedObjectType: "ACCOUNT" as const, key: "pref.theme.0", first: 50, ...match };
      let total = 0;
      const times: number[] = [];
      for (let i = 0; i < 35; i++) {
        const started = performance.now();
        const result = await execute({ document: SearchMetadata, variables, token: tok });
        const elapsed = performance.now() - started;
        if (result.body.errors) throw new Error(`${label}: ${JSON.stringify(result.body.errors)}`);
        total = result.body.data?.metadataSearch.totalCount ?? 0;
        if (i >= 5) times.push(elapsed);
      }
      const sortedTimes = [...times].sort((a, b) => a - b);
      out.push(
        `| ${label} | ${total} | ${ms(median(times))} | ${ms(sortedTimes[Math.floor(times.length * 0.9)] ?? 0)} |`,
      );
      const statement = statements.at(-1) as QueryEvent;
      plans.push(`#### ${label}\n\n\`\`\`\n${await explainAnalyze(url, statement)}\n\`\`\``);
    }
    out.push(
      "",
      "Statement (staff, containment):",
      "",
      "```sql",
      statements.find((s) => s.query.includes("metadata_search_doc"))?.query ?? "",
      "```",
      "",
      ...plans,
    );
  } finally {
    await app.close();
  }
  return out;
}

async function explainAnalyze(url: string, { query, params }: QueryEvent): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const values = (JSON.parse(params) as SqlArg[]).map(toDriverArg);
    const result = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${query}`, values);
    return result.rows.map((r: Record<string, string>) => r["QUERY PLAN"]).join("\n");
  } finally {
    await client.end();
  }
}

interface WriteRound {
  wallMs: number;
  /** CPU time of the PostgreSQL backends serving the round (its own fresh pool), ms. */
  serverCpuMs: number;
  /** WAL the round wrote, bytes. */
  walBytes: number;
}

/**
 * 2,000 sequential updateMetadata calls: even calls update a seeded key, odd ones create a key.
 * Besides wall time (at the mercy of whoever else uses the cores), two figures the sharing does not
 * move: the CPU time of the round's PostgreSQL backends (/proc/<pid>/stat, this machine's server)
 * and the WAL bytes written (index entries, non-HOT updates).
 */
async function timeUpserts(url: string, round: number): Promise<WriteRound> {
  const { app, execute, token } = await appOn(url);
  const probe = new pg.Client({ connectionString: url });
  await probe.connect();
  try {
    const staff = await token({ sub: "staff", tenant: "t1", permissions: ["CAN_MUTATE_METADATA"] });
    const lsn = async () => ((await probe.query("SELECT pg_current_wal_lsn()::text AS l")).rows[0] as { l: string }).l;
    const walBefore = await lsn();
    const started = performance.now();
    for (let i = 0; i < 2000; i++) {
      const identifier = `A-${(i * 7919 + round * 13) % IDENTIFIERS}`;
      const key = i % 2 === 0 ? `pref.theme.${i % KEYS}` : `new.r${round}.${i}`;
      const result = await execute({
        document: UpdateMetadata,
        variables: { input: { linkedObjectType: "ACCOUNT", identifier, key, value: randomValue() } },
        token: staff,
      });
      if (result.body.errors) throw new Error(JSON.stringify(result.body.errors));
    }
    const wallMs = performance.now() - started;
    const walAfter = await lsn();
    const wal = await probe.query("SELECT pg_wal_lsn_diff($1, $2)::bigint AS bytes", [walAfter, walBefore]);
    const pids = await probe.query(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
    );
    let ticks = 0;
    for (const { pid } of pids.rows as { pid: number }[]) {
      const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
      // utime and stime: fields 14 and 15 of stat, 12 and 13 after "pid (comm) ".
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return {
      wallMs,
      serverCpuMs: (ticks * 1000) / CLOCK_TICKS,
      walBytes: Number((wal.rows[0] as { bytes: string }).bytes),
    };
  } finally {
    await probe.end();
    await app.close();
  }
}

async function main() {
  const withoutSearch = await mkdtemp(join(tmpdir(), "mg-before-"));
  for (const m of await readMigrations()) {
    if (m.name !== SEARCH_MIGRATION)
      await cp(join(MIGRATIONS_DIR, m.name), join(withoutSearch, m.name), { recursive: true });
  }
  const after = await seededDatabase("after", MIGRATIONS_DIR);
  const before = await seededDatabase("before", withoutSearch);
  try {
    const sizes = await sizesOf(after.url);
    const report = [
      `## metadataSearch over ${ROWS.toLocaleString("en")} entries (PostgreSQL ${await serverVersion()})`,
      "",
    ];
    report.push(
      `Sizes after seeding: table ${sizes?.table}, GIN ${sizes?.gin}, md5 btree ${sizes?.btree}, unique index ${sizes?.unique_idx}.`,
      "",
    );
    report.push(...(await measureSearches(after.url)), "");
    const runs = { before: [] as WriteRound[], after: [] as WriteRound[] };
    for (let round = 0; round < ROUNDS; round++) {
      runs.before.push(await timeUpserts(before.url, round));
      runs.after.push(await timeUpserts(after.url, round));
    }
    const stat = (k: "before" | "after", f: keyof WriteRound) => median(runs[k].map((r) => r[f]));
    report.push(
      `## Write cost: 2,000 sequential updateMetadata calls (half updates, half new keys), ${ROUNDS} alternating rounds`,
      "",
      "| Schema | Wall ms per round | Median wall ms | PostgreSQL CPU ms per round | Median CPU ms | WAL bytes per call (median) |",
      "| --- | --- | ---: | --- | ---: | ---: |",
      ...(["before", "after"] as const).map(
        (k) =>
          `| ${k === "before" ? "without" : "with"} ${SEARCH_MIGRATION} | ${runs[k].map((r) => r.wallMs.toFixed(0)).join(", ")} | ${stat(k, "wallMs").toFixed(0)} | ${runs[k].map((r) => r.serverCpuMs.toFixed(0)).join(", ")} | ${stat(k, "serverCpuMs").toFixed(0)} | ${(stat(k, "walBytes") / 2000).toFixed(0)} |`,
      ),
      "",
      `After / before (medians): wall ${(stat("after", "wallMs") / stat("before", "wallMs")).toFixed(3)}×, ` +
        `PostgreSQL CPU ${(stat("after", "serverCpuMs") / stat("before", "serverCpuMs")).toFixed(3)}×, ` +
        `WAL ${(stat("after", "walBytes") / stat("before", "walBytes")).toFixed(3)}×`,
    );
    console.log(report.join("\n"));
  } finally {
    await after.drop();
    await before.drop();
  }
}

async function sizesOf(url: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query(
      `SELECT pg_size_pretty(pg_table_size('metadata')) AS "table",
              pg_size_pretty(pg_relation_size('metadata_search_json_idx')) AS gin,
              pg_size_pretty(pg_relation_size('metadata_search_value_idx')) AS btree,
              pg_size_pretty(pg_relation_size('metadata_entry_key')) AS unique_idx`,
    );
    return r.rows[0] as Record<string, string>;
  } finally {
    await client.end();
  }
}

async function serverVersion(): Promise<string> {
  return admin(
    async (c) => ((await c.query("SHOW server_version")).rows[0] as { server_version: string }).server_version,
  );
}

await main();
