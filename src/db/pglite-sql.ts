// Not the global: `performance` on globalThis is an accessor, looked up again on every call.
import { performance } from "node:perf_hooks";
import { type PGlite, protocol, types } from "@electric-sql/pglite";
import { type RunnerOptions, type SqlArg, type TransactionalRunner, toDriverArg } from "./sql.js";

/**
 * PGlite: named prepared statements too. `pglite.query` parses, plans and describes every statement
 * again (~4x the CPU of a prepared upsert, measured in the README's Performance section); here each
 * SQL text is parsed and described once, then every call is one Bind/Execute/Sync message.
 */
// Unique in the process: runners sharing one PGlite (tests) must not reuse a statement's name.
let statementCount = 0;

export function createPgliteRunner(
  pglite: PGlite,
  { onQuery, timing }: Omit<RunnerOptions, "warn"> = {},
): TransactionalRunner {
  const statements = new Map<string, Promise<PreparedStatement>>();
  /** Texts whose preparation has finished. */
  const prepared = new Set<string>();
  const outside: Exclusive = (fn) => exclusive(pglite, fn);
  // The transaction already holds PGlite's transaction lock: its statements take only the query lock.
  const inTransaction: Exclusive = (fn) => pglite._runExclusiveQuery(fn);
  const prepare = (sql: string, lock: Exclusive) => {
    let statement = statements.get(sql);
    // A preparation queued outside the transaction waits for the transaction's end: awaited inside
    // it, a deadlock. The transaction prepares its own (statements are not rolled back).
    if (!statement || (lock === inTransaction && !prepared.has(sql))) {
      const fresh = describeStatement(pglite, `mg_${++statementCount}`, sql, lock);
      // A statement that failed to prepare (bad SQL) is not cached: the next call reports it again.
      fresh.then(
        () => prepared.add(sql),
        () => {
          if (statements.get(sql) === fresh) statements.delete(sql);
        },
      );
      statements.set(sql, fresh);
      statement = fresh;
    }
    return statement;
  };
  const run = async <Row>(sql: string, args: readonly SqlArg[], lock: Exclusive): Promise<Row[]> => {
    const started = performance.now();
    try {
      const { name, fields } = await prepare(sql, lock);
      const message = concat([
        protocol.serialize.bind({ statement: name, values: args.map(toPgliteArg) }),
        protocol.serialize.execute({}),
        protocol.serialize.sync(),
      ]);
      const { messages } = await lock(() => pglite.execProtocol(message));
      const rows: Row[] = [];
      for (const message of messages) {
        if (message instanceof protocol.messages.DataRowMessage) rows.push(toRow<Row>(pglite, fields, message.fields));
      }
      onQuery?.({ query: sql, params: JSON.stringify(args), duration: performance.now() - started });
      return rows;
    } finally {
      timing?.done(started);
    }
  };
  return {
    query: <Row>(sql: string, args: readonly SqlArg[]) => run<Row>(sql, args, outside),
    // PGlite's own transaction: BEGIN, COMMIT or ROLLBACK, holding its transaction lock throughout.
    transaction: (fn) =>
      pglite.transaction(() =>
        fn({ query: <Row>(sql: string, args: readonly SqlArg[]) => run<Row>(sql, args, inTransaction) }),
      ),
  };
}

/** Runs `fn` with PGlite to itself. */
type Exclusive = <T>(fn: () => Promise<T>) => Promise<T>;

interface PreparedStatement {
  name: string;
  fields: readonly { name: string; dataTypeID: number }[];
}

async function describeStatement(
  pglite: PGlite,
  name: string,
  sql: string,
  lock: Exclusive,
): Promise<PreparedStatement> {
  const message = concat([
    protocol.serialize.parse({ name, text: sql, types: [] }),
    protocol.serialize.describe({ type: "S", name }),
    protocol.serialize.sync(),
  ]);
  const { messages } = await lock(() => pglite.execProtocol(message));
  const description = messages.find((m) => m instanceof protocol.messages.RowDescriptionMessage);
  return { name, fields: description?.fields ?? [] };
}

// Outside any transaction another caller (Prisma's adapter) has open, as `pglite.query` does.
function exclusive<T>(pglite: PGlite, fn: () => Promise<T>): Promise<T> {
  return pglite._runExclusiveTransaction(() => pglite._runExclusiveQuery(fn));
}

function toRow<Row>(pglite: PGlite, fields: PreparedStatement["fields"], values: (string | null)[]): Row {
  const row: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as PreparedStatement["fields"][number];
    row[field.name] = types.parseType(values[i] ?? null, field.dataTypeID, pglite.parsers);
  }
  return row as Row;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((length, part) => length + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function toPgliteArg(arg: SqlArg): string | null {
  const value = toDriverArg(arg);
  return value === null ? null : String(value);
}
