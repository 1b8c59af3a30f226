import { mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "../../generated/prisma/client.js";
import type { PrismaClientOptions } from "../../generated/prisma/internal/prismaNamespace.js";
import type { Config } from "../config.js";
import { createPgliteListener, createPostgresListener, type Listener } from "./notifications.js";
import { createPostgresRunner, type QueryListener, type SqlRunner, type Transact } from "./sql.js";
import { type StatementObserver, StatementTiming } from "./statement-timing.js";

/** The one Prisma client of the process, plus the raw access migrations and health need. */
export interface Database {
  readonly prisma: PrismaClient;
  /** The statements a request sends: hand-written SQL on the same connections (src/db/sql.ts). */
  readonly sql: SqlRunner;
  /** Several of those statements as one transaction, on one connection (src/db/sql.ts). */
  readonly transaction: Transact;
  readonly kind: "pglite" | "postgres";
  /** LISTEN/NOTIFY on a dedicated connection (src/db/notifications.ts); closed with the database. */
  readonly listener: Listener;
  /**
   * Runs `fn` with exclusive use of one connection (session-level advisory locks); `exec` takes
   * SQL of one or more statements and returns the rows of the last.
   */
  withConnection<T>(fn: (exec: (sql: string) => Promise<unknown[]>) => Promise<T>): Promise<T>;
  /**
   * Reports the duration of every statement `sql` and `transaction` send, failed ones included
   * (metrics); the function returned stops it.
   */
  observeStatements(observer: StatementObserver): () => void;
  /** PostgreSQL only: the connection pool's use right now (metrics). */
  readonly poolStats?: () => PoolStats;
  close(): Promise<void>;
}

export interface PoolStats {
  /** Open connections, busy or idle. */
  total: number;
  idle: number;
  /** Requests waiting for a connection. */
  waiting: number;
  /** The most connections the pool opens. */
  max: number;
}

/** A statement as sent: `params` is its JSON-encoded parameter list. */
export type QueryEvent = Parameters<QueryListener>[0];

export type DatabaseOptions = Pick<Config, "databaseUrl" | "dataDir"> &
  Partial<Pick<Config, "databasePoolSize">> & {
    /** PGlite only: keep the data in memory (tests). */
    inMemory?: boolean;
    /** Sees every statement sent, by Prisma Client or the SQL runner (tests EXPLAIN them). */
    onQuery?: QueryListener;
    /** Where the lines announcing an outage and its end go (src/db/unavailable.ts); default: stderr. */
    warn?: (message: string) => void;
  };

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl
    ? openPostgres(options.databaseUrl, options.databasePoolSize ?? defaultPoolSize(), options.onQuery, options.warn)
    : openPglite(options.inMemory ? undefined : join(options.dataDir, "pglite"), options.onQuery);
}

function createPrisma(adapter: PrismaClientOptions["adapter"], onQuery: DatabaseOptions["onQuery"]): PrismaClient {
  if (!onQuery) return new PrismaClient({ adapter });
  const prisma = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  prisma.$on("query", onQuery);
  return prisma;
}

/**
 * Two connections per core: more only queue inside PostgreSQL and lengthen the tail. Measured on
 * 2 cores (bench, read): 10 connections 2,609 req/s p99 32.5 ms; 4 connections 3,841 req/s p99 21 ms.
 */
function defaultPoolSize(): number {
  return 2 * availableParallelism();
}

async function openPostgres(
  connectionString: string,
  poolSize: number,
  onQuery: DatabaseOptions["onQuery"],
  warn: DatabaseOptions["warn"],
): Promise<Database> {
  const pool = new pg.Pool({
    connectionString,
    max: poolSize,
    // Bounds how long a request waits for a connection (a new one, or a free one of the pool).
    // A reachable PostgreSQL connects in milliseconds and a stopped one refuses at once; only an
    // unreachable host (packets dropped) or a pool saturated for seconds reaches this bound, and the
    // request then answers SERVICE_UNAVAILABLE after 2 s rather than hold its client longer.
    connectionTimeoutMillis: 2000,
    // Prisma's adapters read timestamptz as if the session were in UTC (they drop the offset):
    // on a server with another TimeZone every timestamp would drift by hours.
    options: "-c TimeZone=UTC",
  });
  // An idle client losing its server (restart, failover) must not crash the process; the pool has
  // already dropped it, and the next request opens a new connection: recovery needs no restart.
  pool.on("error", () => {});
  const adapter = new PrismaPg(pool);
  const prisma = createPrisma(adapter, onQuery);
  const timing = new StatementTiming();
  const sql = createPostgresRunner(pool, { onQuery, warn, timing });
  const listener = createPostgresListener(connectionString, warn ?? console.warn);
  return {
    prisma,
    sql,
    transaction: sql.transaction,
    kind: "postgres",
    listener,
    observeStatements: (observer) => timing.add(observer),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolSize }),
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
      await listener.close();
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

async function openPglite(dataDir: string | undefined, onQuery: DatabaseOptions["onQuery"]): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  // Loaded only in embedded mode: the WASM build costs ~45 MB of memory.
  const [{ PGlite }, { PrismaPGlite }, { createPgliteRunner }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("pglite-prisma-adapter"),
    import("./pglite-sql.js"),
  ]);
  const pglite = await PGlite.create(dataDir);
  // Its Prisma adapter drops the offset of timestamps it reads: the session must be in UTC.
  await pglite.exec("SET TIME ZONE 'UTC'");
  const adapter = new PrismaPGlite(pglite);
  const prisma = createPrisma(adapter, onQuery);
  const timing = new StatementTiming();
  const sql = createPgliteRunner(pglite, { onQuery, timing });
  return {
    prisma,
    sql,
    transaction: sql.transaction,
    kind: "pglite",
    listener: createPgliteListener(pglite),
    observeStatements: (observer) => timing.add(observer),
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

/**
 * The database with every statement it sends, on the pool or inside a transaction, passing through
 * `wrap` (metrics, spans): built once, so what a wrapper keeps (e.g. a per-statement cache) is shared.
 */
export function wrapStatements(db: Database, wrap: (runner: SqlRunner) => SqlRunner): Database {
  return { ...db, sql: wrap(db.sql), transaction: (fn) => db.transaction((tx) => fn(wrap(tx))) };
}
