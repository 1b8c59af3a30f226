import { type PGlite, protocol, types } from "@electric-sql/pglite";
import { type QueryListener, type SqlArg, type SqlRunner, toDriverArg } from "./sql.js";

/**
 * PGlite: named prepared statements too. `pglite.query` parses, plans and describes every statement
 * again (~4x the CPU of a prepared upsert, measured in the README's Performance section); here each
 * SQL text is parsed and described once, then every call is one Bind/Execute/Sync message.
 */
// Unique in the process: runners sharing one PGlite (tests) must not reuse a statement's name.
let statementCount = 0;

export function createPgliteRunner(pglite: PGlite, onQuery?: QueryListener): SqlRunner {
  const statements = new Map<string, Promise<PreparedStatement>>();
  const prepare = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = describeStatement(pglite, `mg_${++statementCount}`, sql);
      // A statement that failed to prepare (bad SQL) is not cached: the next call reports it again.
      statement.catch(() => statements.delete(sql));
      statements.set(sql, statement);
    }
    return statement;
  };
  return {
    async query<Row>(sql: string, args: readonly SqlArg[]): Promise<Row[]> {
      const started = performance.now();
      const { name, fields } = await prepare(sql);
      const message = concat([
        protocol.serialize.bind({ statement: name, values: args.map(toPgliteArg) }),
        protocol.serialize.execute({}),
        protocol.serialize.sync(),
      ]);
      const { messages } = await exclusive(pglite, () => pglite.execProtocol(message));
      const rows: Row[] = [];
      for (const message of messages) {
        if (message instanceof protocol.messages.DataRowMessage) rows.push(toRow<Row>(pglite, fields, message.fields));
      }
      onQuery?.({ query: sql, params: JSON.stringify(args), duration: performance.now() - started });
      return rows;
    },
  };
}

interface PreparedStatement {
  name: string;
  fields: readonly { name: string; dataTypeID: number }[];
}

async function describeStatement(pglite: PGlite, name: string, sql: string): Promise<PreparedStatement> {
  const message = concat([
    protocol.serialize.parse({ name, text: sql, types: [] }),
    protocol.serialize.describe({ type: "S", name }),
    protocol.serialize.sync(),
  ]);
  const { messages } = await exclusive(pglite, () => pglite.execProtocol(message));
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
