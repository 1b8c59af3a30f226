import {
  type ArgType,
  ColumnTypeEnum,
  type SqlDriverAdapterFactory,
  type SqlQueryable,
} from "@prisma/driver-adapter-utils";

/** A value bound to a statement parameter. Dates travel as ISO-8601 text with their zone. */
export type SqlArg = string | number | Date | null;

/** Sees every statement sent (tests EXPLAIN them). */
export type QueryListener = (event: { query: string; params: string; duration: number }) => void;

/**
 * Hot statements, sent through Prisma's driver adapter (the one Prisma Client uses, on the same
 * pool) without Prisma Client's query compiler, which costs ~100 µs of CPU per statement, raw
 * queries included: measured in the README's Performance section.
 */
export interface SqlRunner {
  /** Rows as objects keyed by column name; timestamps as Dates, bigints as bigint. */
  query<Row>(sql: string, args: readonly SqlArg[]): Promise<Row[]>;
}

export async function createSqlRunner(factory: SqlDriverAdapterFactory, onQuery?: QueryListener): Promise<SqlRunner> {
  const adapter: SqlQueryable = await factory.connect();
  return {
    async query<Row>(sql: string, args: readonly SqlArg[]): Promise<Row[]> {
      const started = performance.now();
      const result = await adapter.queryRaw({ sql, args: args.map(toDriverArg), argTypes: args.map(argType) });
      onQuery?.({ query: sql, params: JSON.stringify(args), duration: performance.now() - started });
      const { columnNames, columnTypes, rows } = result;
      return rows.map((row) => {
        const record: Record<string, unknown> = {};
        for (let i = 0; i < row.length; i++) {
          record[columnNames[i] as string] = decode(row[i], columnTypes[i]);
        }
        return record as Row;
      });
    },
  };
}

// A Date bound as the driver formats it would lose its zone (adapter-pg sends UTC wall-clock
// text, which `::timestamptz` reads in the session's TimeZone); ISO text keeps the instant.
function toDriverArg(arg: SqlArg): string | number | null {
  return arg instanceof Date ? arg.toISOString() : arg;
}

function argType(arg: SqlArg): ArgType {
  return { scalarType: typeof arg === "number" ? "int" : arg === null ? "unknown" : "string", arity: "scalar" };
}

const ZONED = /(?:[zZ]|[+-]\d\d(?::?\d\d)?)$/;

function decode(value: unknown, type: number | undefined): unknown {
  if (value === null || typeof value !== "string") return value;
  switch (type) {
    case ColumnTypeEnum.DateTime: {
      // adapter-pg answers "2026-11-27T12:00:00.000+00:00"; PGlite's drops the offset of its UTC session.
      const iso = value.replace(" ", "T");
      return new Date(ZONED.test(iso) ? iso : `${iso}Z`);
    }
    case ColumnTypeEnum.Int64:
      return BigInt(value);
    default:
      return value;
  }
}
