import { type Attributes, SpanKind, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from "@opentelemetry/semantic-conventions";
import { type Database, wrapStatements } from "../db/database.js";
import type { SqlArg, SqlRunner } from "../db/sql.js";

/**
 * The database with one CLIENT span per statement its SQL runner sends (both runners, PostgreSQL
 * and PGlite, implement SqlRunner: one wrapper covers them). Only installed when tracing is on, so
 * the statement path is untouched otherwise. The span carries the SQL text, never the parameter
 * values: every statement is parameterized, so values (identifiers, keys, metadata) stay out.
 */
export function withStatementSpans(db: Database, tracer: Tracer): Database {
  // A service sends a handful of distinct statements: each is described once, for the pool and
  // for every transaction alike.
  const described = new Map<string, { name: string; attributes: Attributes }>();
  const describe = (sql: string) => {
    let d = described.get(sql);
    if (!d) {
      d = describeStatement(sql);
      described.set(sql, d);
    }
    return d;
  };
  return wrapStatements(db, (runner) => tracedRunner(runner, tracer, describe));
}

function tracedRunner(
  runner: SqlRunner,
  tracer: Tracer,
  describe: (sql: string) => { name: string; attributes: Attributes },
): SqlRunner {
  return {
    query<Row>(sql: string, args: readonly SqlArg[]): Promise<Row[]> {
      const { name, attributes } = describe(sql);
      return tracer.startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
        try {
          const rows = await runner.query<Row>(sql, args);
          span.setAttribute("db.response.returned_rows", rows.length);
          return rows;
        } catch (error) {
          const code = (error as { code?: unknown } | null)?.code;
          span.setAttribute(ATTR_ERROR_TYPE, typeof code === "string" ? code : (error as Error).name);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          throw error;
        } finally {
          span.end();
        }
      });
    },
  };
}

/**
 * Span name and attributes of a statement, as the database semantic conventions ask
 * (https://opentelemetry.io/docs/specs/semconv/database/database-spans/): `{operation} {table}`,
 * the stable attribute names and the older ones (db.system, db.statement, db.operation) that many
 * tracing back ends still read, as instrumentations do in their "dup" mode.
 */
export function describeStatement(sql: string): { name: string; attributes: Attributes } {
  const first = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? "";
  // The writes are `WITH changed AS (INSERT …), event AS (INSERT INTO metadata_event …) SELECT …`:
  // named by their first data-modifying statement, the change itself.
  const change = first === "WITH" ? /\b(INSERT\s+INTO|DELETE\s+FROM|UPDATE)\s+"?([A-Za-z_]\w*)/i.exec(sql) : null;
  const operation = change?.[1] ? (/^\w+/.exec(change[1])?.[0].toUpperCase() ?? first) : first;
  const table = change?.[2] ?? /\b(?:FROM|INTO|UPDATE)\s+"?([A-Za-z_]\w*)/i.exec(sql)?.[1];
  const attributes: Attributes = {
    [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    [ATTR_DB_QUERY_TEXT]: sql,
    [ATTR_DB_OPERATION_NAME]: operation,
    "db.system": DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    "db.statement": sql,
    "db.operation": operation,
  };
  if (table) attributes[ATTR_DB_COLLECTION_NAME] = table;
  return { name: table ? `${operation} ${table}` : operation, attributes };
}
