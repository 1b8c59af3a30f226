import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { openDatabase } from "../src/db/database.js";
import { applyPendingMigrations } from "../src/db/migrations.js";
import { seedSql } from "./dataset.js";
import { REPO_ROOT } from "./servers.js";
import type { Query } from "./verify.js";

export const OUR_TABLE = "metadata";
export const REFERENCE_TABLE = "reference_metadata";

/**
 * Applies our migrations and the reference's schema, then fills both tables with the same `rows`
 * entries server-side (generate_series), VACUUM ANALYZE and a checkpoint so that the first round
 * does not pay for them, and loads both tables and their indexes into shared buffers (pg_prewarm):
 * the rounds measure a warm server, as in production, not the first touch of each page (at
 * 1,000,000 rows that first touch doubled a list's latency). Wipes whatever the tables held.
 */
export async function seedPostgres(databaseUrl: string, rows: number, identifiers: number): Promise<void> {
  const db = await openDatabase({ databaseUrl, dataDir: "" });
  try {
    await applyPendingMigrations(db);
  } finally {
    await db.close();
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(await readFile(join(REPO_ROOT, "bench/reference/schema.sql"), "utf8"));
    await client.query(`TRUNCATE ${OUR_TABLE} RESTART IDENTITY`);
    await Promise.all([OUR_TABLE, REFERENCE_TABLE].map((t) => seedTable(databaseUrl, t, rows, identifiers)));
    await client.query(`VACUUM ANALYZE ${OUR_TABLE}`);
    await client.query(`VACUUM ANALYZE ${REFERENCE_TABLE}`);
    await client.query("CHECKPOINT");
    await prewarm(client, [OUR_TABLE, REFERENCE_TABLE]);
  } finally {
    await client.end();
  }
}

/** Best effort: a BENCH_DATABASE_URL server may lack the extension; the bench then runs colder. */
async function prewarm(client: pg.Client, tables: string[]): Promise<void> {
  try {
    await client.query("CREATE EXTENSION IF NOT EXISTS pg_prewarm");
    await client.query(
      `SELECT pg_prewarm(c.oid) FROM pg_class c
       WHERE c.oid = ANY($1::regclass[]) OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY($1::regclass[]))`,
      [tables],
    );
  } catch (error) {
    console.error(`pg_prewarm unavailable, the first round runs on a cold cache: ${(error as Error).message}`);
  }
}

/** One connection per table: the two fills run in parallel, one per core. */
async function seedTable(databaseUrl: string, table: string, rows: number, identifiers: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(seedSql(table, rows, identifiers));
  } finally {
    await client.end();
  }
}

/** Our migrations and `rows` entries in a PGlite under `dataDir`, closed again before the server opens it. */
export async function seedPglite(dataDir: string, rows: number, identifiers: number): Promise<void> {
  const db = await openDatabase({ databaseUrl: undefined, dataDir });
  try {
    await applyPendingMigrations(db);
    await db.withConnection(async (exec) => {
      await exec(seedSql(OUR_TABLE, rows, identifiers));
      await exec(`VACUUM ANALYZE ${OUR_TABLE}`);
    });
  } finally {
    await db.close();
  }
}

export function postgresQuery(pool: pg.Pool): Query {
  return async <R>(text: string, params: unknown[]) => (await pool.query(text, params)).rows as R[];
}

/** Opens the PGlite under `dataDir` just for `fn` (the server must be stopped). */
export async function withPglite<T>(dataDir: string, fn: (query: Query) => Promise<T>): Promise<T> {
  const pglite = await PGlite.create(join(dataDir, "pglite"));
  try {
    return await fn(async <R>(text: string, params: unknown[]) => (await pglite.query<R>(text, params)).rows);
  } finally {
    await pglite.close();
  }
}
