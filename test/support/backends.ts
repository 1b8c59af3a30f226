import { randomBytes } from "node:crypto";
import pg from "pg";
import { type Database, type DatabaseOptions, openDatabase } from "../../src/db/database.js";

/**
 * Every suite runs on embedded PGlite and, when DATABASE_URL is set, on that PostgreSQL too.
 * Each test file gets its own database, so files run in parallel.
 */
export interface Backend {
  name: "pglite" | "postgres";
  /** A fresh, empty database; `drop` removes it. */
  create(): Promise<{ options: DatabaseOptions; drop: () => Promise<void> }>;
}

const pglite: Backend = {
  name: "pglite",
  async create() {
    return { options: { databaseUrl: undefined, dataDir: "", inMemory: true }, drop: async () => {} };
  },
};

const postgres = (adminUrl: string): Backend => ({
  name: "postgres",
  async create() {
    const name = `mg_test_${randomBytes(6).toString("hex")}`;
    await withAdmin(adminUrl, async (c) => {
      await c.query(`CREATE DATABASE ${name}`);
      // A session zone far from UTC: a timestamp bound without its zone shows up as hours of drift.
      await c.query(`ALTER DATABASE ${name} SET timezone TO 'America/Los_Angeles'`);
    });
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return {
      options: { databaseUrl: url.toString(), dataDir: "" },
      drop: () => withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
    };
  },
});

async function withAdmin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export const backends: Backend[] = [pglite, ...(process.env.DATABASE_URL ? [postgres(process.env.DATABASE_URL)] : [])];

/** A fresh database of `backend`, opened; `close` closes and drops it (safe after a failed open). */
export async function openFreshDatabase(backend: Backend): Promise<{ db: Database; close: () => Promise<void> }> {
  const { options, drop } = await backend.create();
  const db = await openDatabase(options).catch(async (error: unknown) => {
    await drop();
    throw error;
  });
  return {
    db,
    close: async () => {
      await db.close();
      await drop();
    },
  };
}
