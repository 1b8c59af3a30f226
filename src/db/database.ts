import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import type { Config } from "../config.js";
import { PrismaClient } from "../generated/prisma/client.js";
import type { PrismaClientOptions } from "../generated/prisma/internal/prismaNamespace.js";

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

/** A statement as Prisma sent it: `params` is its JSON-encoded parameter list. */
export interface QueryEvent {
  query: string;
  params: string;
  duration: number;
}

export type DatabaseOptions = Pick<Config, "databaseUrl" | "dataDir"> & {
  /** PGlite only: keep the data in memory (tests). */
  inMemory?: boolean;
  /** Sees every statement Prisma sends (tests EXPLAIN them). */
  onQuery?: (event: QueryEvent) => void;
};

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl
    ? openPostgres(options.databaseUrl, options.onQuery)
    : openPglite(options.inMemory ? undefined : join(options.dataDir, "pglite"), options.onQuery);
}

function createPrisma(adapter: PrismaClientOptions["adapter"], onQuery: DatabaseOptions["onQuery"]): PrismaClient {
  if (!onQuery) return new PrismaClient({ adapter });
  const prisma = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  prisma.$on("query", onQuery);
  return prisma;
}

async function openPostgres(connectionString: string, onQuery: DatabaseOptions["onQuery"]): Promise<Database> {
  // Connections beyond a few per core only queue inside PostgreSQL; a small pool is faster.
  const pool = new pg.Pool({ connectionString, max: 10, connectionTimeoutMillis: 5000 });
  // An idle client losing its server (restart, failover) must not crash the process.
  pool.on("error", () => {});
  const prisma = createPrisma(new PrismaPg(pool), onQuery);
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

async function openPglite(dataDir: string | undefined, onQuery: DatabaseOptions["onQuery"]): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pglite = await PGlite.create(dataDir);
  const prisma = createPrisma(new PrismaPGlite(pglite), onQuery);
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
