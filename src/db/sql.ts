import { createHash } from "node:crypto";
import type pg from "pg";
import { createOutageLog, toServiceUnavailable } from "./unavailable.js";

/** A value bound to a statement parameter. Dates travel as ISO-8601 text with their zone. */
export type SqlArg = string | number | Date | null;

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
 * PostgreSQL: named prepared statements, parsed and planned once per connection (node-postgres
 * remembers which statements each connection has parsed: a connection opened after an outage
 * parses them again). A database that cannot be reached surfaces as ServiceUnavailable, here and
 * only here: every statement a request sends passes through this runner.
 */
export function createPostgresRunner(
  pool: pg.Pool,
  onQuery?: QueryListener,
  warn?: (message: string) => void,
): SqlRunner {
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
  return {
    async query<Row>(sql: string, args: readonly SqlArg[]): Promise<Row[]> {
      const started = performance.now();
      let result: pg.QueryResult;
      try {
        result = await pool.query({ name: nameOf(sql), text: sql, values: args.map(toDriverArg) });
      } catch (error) {
        outage.failed(error);
        throw toServiceUnavailable(error);
      }
      outage.succeeded();
      onQuery?.({ query: sql, params: JSON.stringify(args), duration: performance.now() - started });
      return result.rows as Row[];
    },
  };
}

// ISO text keeps the instant whatever the session's TimeZone.
export function toDriverArg(arg: SqlArg): string | number | null {
  return arg instanceof Date ? arg.toISOString() : arg;
}
