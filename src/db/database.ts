import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import type { Config } from "../config.js";
import { PrismaClient } from "../generated/prisma/client.js";

/** The one Prisma client of the process, plus the raw access migrations and health need. */
export interface Database {
  readonly prisma: PrismaClient;
  readonly kind: "pglite" | "postgres";
  /**
   * Runs `fn` with exclusive use of one connection (session-level advisory locks); `exec` takes
   * SQL of one or more statements and returns the rows of the last.
   */
  withConnection<T>(fn: (exec: (sql: string) => Promise<unknown[]>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export type DatabaseOptions = Pick<Config, "databaseUrl" | "dataDir"> & {
  /** PGlite only: keep the data in memory (tests). */
  inMemory?: boolean;
};

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl
    ? openPostgres(options.databaseUrl)
    : openPglite(options.inMemory ? undefined : join(options.dataDir, "pglite"));
}

async function openPostgres(connectionString: string): Promise<Database> {
  // Connections beyond a few per core only queue inside PostgreSQL; a small pool is faster.
  const pool = new pg.Pool({ connectionString, max: 10, connectionTimeoutMillis: 5000 });
  // An idle client losing its server (restart, failover) must not crash the process.
  pool.on("error", () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    prisma,
    kind: "postgres",
    async withConnection(fn) {
      const client = await pool.connect();
      try {
        return await fn(async (sql) => {
          // Several statements answer with one result each; callers want the last.
          const result: pg.QueryResult | pg.QueryResult[] = await client.query(sql);
          return Array.isArray(result) ? (result.at(-1)?.rows ?? []) : result.rows;
        });
      } finally {
        client.release();
      }
    },
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

async function openPglite(dataDir: string | undefined): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pglite = await PGlite.create(dataDir);
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
  return {
    prisma,
    kind: "pglite",
    // PGlite is a single connection inside this process: it is always exclusive.
    async withConnection(fn) {
      return fn(async (sql) => (await pglite.exec(sql)).at(-1)?.rows ?? []);
    },
    async close() {
      await prisma.$disconnect();
      await pglite.close();
    },
  };
}
