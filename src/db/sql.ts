import { createHash } from "node:crypto";
// Not the global: `performance` on globalThis is an accessor, looked up again on every call.
import { performance } from "node:perf_hooks";
import type pg from "pg";
import type { StatementTiming } from "./statement-timing.js";
import { createOutageLog, toServiceUnavailable } from "./unavailable.js";

/** A value bound to a statement parameter. Dates travel as ISO-8601 text with their zone. */
export type SqlScalar = string | number | Date | null;
/** A scalar, or an array of them for a `$n::text[]`-style parameter (set-based statements over `unnest`). */
export type SqlArg = SqlScalar | readonly SqlScalar[];

/** Sees every statement sent (tests EXPLAIN them). */
export type QueryListener = (event: { query: string; params: string; duration: number }) => void;

/**
 * The statements a request sends, on the connections Prisma uses, without Prisma Client: its query
 * compiler costs ~120 µs of CPU per statement (raw queries included), and its driver adapter cannot
 * prepare statements, so PostgreSQL would parse and plan every one again. Measured in the README's
 * Performance section. Prisma Client keeps the schema, the row types and the cold paths.
 */
export interface SqlRunner {
  /** Rows as objects keyed by column name; timestamps as Dates. */
  query<Row>(sql: string, args: readonly SqlArg[]): Promise<Row[]>;
}

/**
 * Runs `fn` in one transaction on one connection: COMMIT when it resolves, ROLLBACK when it throws
 * (and the error goes on). Single statements need none, being atomic: the hot paths stay without.
 */
export type Transact = <T>(fn: (tx: SqlRunner) => Promise<T>) => Promise<T>;

export interface TransactionalRunner extends SqlRunner {
  transaction: Transact;
}

export interface RunnerOptions {
  /** Sees every statement sent, with its parameters (tests EXPLAIN them). */
  onQuery?: QueryListener | undefined;
  /** Where an outage and its end are announced (src/db/unavailable.ts). */
  warn?: ((message: string) => void) | undefined;
  /** Hears each statement's duration, failed ones included (the metrics). */
  timing?: StatementTiming | undefined;
}

/** What a statement is sent on: the pool (any free connection) or a transaction's own client. */
type Queryable = Pick<pg.PoolClient, "query">;

/**
 * PostgreSQL: named prepared statements, parsed and planned once per connection (node-postgres
 * remembers which statements each connection has parsed: a connection opened after an outage
 * parses them again). A database that cannot be reached surfaces as ServiceUnavailable, here and
 * only here: every statement a request sends passes through this runner.
 */
export function createPostgresRunner(
  pool: pg.Pool,
  { onQuery, warn, timing }: RunnerOptions = {},
): TransactionalRunner {
  const outage = createOutageLog(warn);
  const names = new Map<string, string>();
  const nameOf = (sql: string) => {
    let name = names.get(sql);
    if (!name) {
      name = `mg_${createHash("sha1").update(sql).digest("hex").slice(0, 16)}`;
      names.set(sql, name);
    }
    return name;
  };
  /** A driver call (a statement, or a transaction's connect, BEGIN, COMMIT): an unreachable database surfaces as ServiceUnavailable. */
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      outage.failed(error);
      throw toServiceUnavailable(error);
    }
    outage.succeeded();
    return result;
  };
  const send = async <Row>(on: Queryable, sql: string, args: readonly SqlArg[]): Promise<Row[]> => {
    const started = performance.now();
    try {
      const result: pg.QueryResult = await call(() =>
        on.query({ name: nameOf(sql), text: sql, values: args.map(toDriverArg) }),
      );
      onQuery?.({ query: sql, params: JSON.stringify(args), duration: performance.now() - started });
      return result.rows as Row[];
    } finally {
      timing?.done(started);
    }
  };
  return {
    query: <Row>(sql: string, args: readonly SqlArg[]) => send<Row>(pool, sql, args),
    async transaction(fn) {
      const client = await call(() => pool.connect());
      // A client whose ROLLBACK failed is in an unknown state: released with the error, the pool drops it.
      let broken: Error | undefined;
      try {
        await call(() => client.query("BEGIN"));
        const result = await fn({ query: <Row>(sql: string, args: readonly SqlArg[]) => send<Row>(client, sql, args) });
        await call(() => client.query("COMMIT"));
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw error;
      } finally {
        client.release(broken);
      }
    },
  };
}

// ISO text keeps the instant whatever the session's TimeZone. An array becomes PostgreSQL's array
// literal, which both drivers send as text for the statement's `$n::type[]` to parse.
export function toDriverArg(arg: SqlArg): string | number | null {
  if (arg === null || typeof arg !== "object") return arg;
  return arg instanceof Date ? arg.toISOString() : toArrayLiteral(arg);
}

function toArrayLiteral(items: readonly SqlScalar[]): string {
  const elements = items.map((item) => {
    const value = toDriverArg(item);
    return value === null ? "NULL" : `"${String(value).replace(/["\\]/g, "\\$&")}"`;
  });
  return `{${elements.join(",")}}`;
}
