import type { Metadata } from "../../../generated/prisma/client.js";
import type { Database } from "../../db/database.js";
import type { SqlArg, SqlRunner } from "../../db/sql.js";

/** A row as Prisma's model types it, without the surrogate id nobody outside the table needs. */
export type MetadataRow = Omit<Metadata, "id">;

/** One linked object's namespace within a tenant: where every statement is confined. */
export interface EntryScope {
  tenant: string;
  linkedObjectType: string;
  identifier: string;
  namespace: string;
}

/** One entry to write. */
export interface EntryValues {
  key: string;
  value: string;
  expiresAt: Date | null;
  /** Compare-and-set: 0 = must not exist; undefined = unconditional. */
  expectedVersion: number | undefined;
}

export interface UpsertValues extends EntryValues {
  maxKeysPerObject: number;
  now: Date;
}

export interface PageQuery {
  keyPrefix: string | undefined;
  /** Keys strictly after / before these bound the page. */
  afterKey: string | undefined;
  beforeKey: string | undefined;
  limit: number;
  /** Read from the end (Relay `last`): rows come back in descending key order. */
  fromEnd: boolean;
  now: Date;
}

// Every statement a request sends is hand-written SQL on the SQL runner (Prisma's driver adapter
// without Prisma Client's query compiler: see src/db/sql.ts). Columns are aliased to Prisma's
// model so rows keep one type.
const COLUMNS = `tenant, linked_object_type AS "linkedObjectType", identifier, namespace, key, value, version,
  created_at AS "createdAt", updated_at AS "updatedAt", expires_at AS "expiresAt"`;
const RETURNING = `RETURNING ${COLUMNS}`;
/** $1-$4 the scope: one object's namespace, expired rows included. */
const IN_SCOPE = "tenant = $1 AND linked_object_type = $2 AND identifier = $3 AND namespace = $4";
/** $1-$4 the scope, $5 the clock: one object's namespace, live entries only. */
const LIVE_IN_SCOPE = `${IN_SCOPE}
  AND (expires_at IS NULL OR expires_at > $5::timestamptz)`;
/** $1-$3 the object, `clock` the parameter holding now: its live entries in every namespace (the key limit's count). */
const liveOnObject = (clock: string) =>
  `tenant = $1 AND linked_object_type = $2 AND identifier = $3 AND (expires_at IS NULL OR expires_at > ${clock}::timestamptz)`;

// The upserts' shared parts, $5 the clock. An expired row counts as absent: compare-and-set sees
// version 0, and writing it starts again at version 1.
const INSERT_INTO = `INSERT INTO metadata AS m (tenant, linked_object_type, identifier, namespace, key, value, expires_at, version, created_at, updated_at)`;
const CAS_VERSION = "CASE WHEN m.expires_at <= $5::timestamptz THEN 0 ELSE m.version END";
const ON_CONFLICT_UPDATE = `ON CONFLICT (tenant, linked_object_type, identifier, namespace, key) DO UPDATE SET
  value = EXCLUDED.value,
  expires_at = EXCLUDED.expires_at,
  version = CASE WHEN m.expires_at <= $5::timestamptz THEN 1 ELSE m.version + 1 END,
  created_at = CASE WHEN m.expires_at <= $5::timestamptz THEN $5::timestamptz ELSE m.created_at END,
  updated_at = $5::timestamptz`;

// Batches on one object take this lock, one after the other: a REPLACE never interleaves with
// another batch's writes, and the key limit counts what the batches before committed. The two-key
// form keeps it apart from the migrations' one-key lock (src/db/migrations.ts); a hash collision
// only makes two objects' batches wait for each other.
const LOCK_OBJECT = `SELECT pg_advisory_xact_lock(${0x6d67}, hashtext(json_build_array($1::text, $2::text, $3::text)::text))`;

/** The smallest string above every string starting with `prefix` (keys are ASCII, collation "C"). */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/** Key-range conditions as SQL over parameters numbered from `first`, with their values. */
function keyRange(q: Partial<Pick<PageQuery, "keyPrefix" | "afterKey" | "beforeKey">>, first: number) {
  const conditions: string[] = [];
  const values: string[] = [];
  const add = (op: string, value: string) => {
    values.push(value);
    conditions.push(`key ${op} $${first + values.length - 1}`);
  };
  if (q.keyPrefix) {
    add(">=", q.keyPrefix);
    add("<", prefixEnd(q.keyPrefix));
  }
  if (q.afterKey !== undefined) add(">", q.afterKey);
  if (q.beforeKey !== undefined) add("<", q.beforeKey);
  return { sql: conditions.map((c) => ` AND ${c}`).join(""), values };
}

/** The only module that talks to the metadata table. */
export function createMetadataRepository({ sql, transaction }: Pick<Database, "sql" | "transaction">) {
  return {
    ...statementsOn(sql),

    /**
     * Runs `fn` in one transaction holding the object's batch lock (LOCK_OBJECT): what it writes is
     * committed together, or rolled back together when it throws.
     */
    inObjectTransaction<T>(scope: EntryScope, fn: (tx: MetadataStatements) => Promise<T>): Promise<T> {
      return transaction(async (txSql) => {
        await txSql.query(LOCK_OBJECT, [scope.tenant, scope.linkedObjectType, scope.identifier]);
        return fn(statementsOn(txSql));
      });
    },

    /**
     * Removes up to `limit` rows expired at `now` (the oldest first, through the expires_at index);
     * returns them as they were, for their EXPIRED events. The caller repeats while rounds are full.
     */
    purgeExpired(now: Date, limit: number): Promise<MetadataRow[]> {
      return sql.query<MetadataRow>(
        `DELETE FROM metadata WHERE id = ANY(ARRAY(
  SELECT id FROM metadata WHERE expires_at <= $1::timestamptz ORDER BY expires_at LIMIT $2::int
)) ${RETURNING}`,
        [now, limit],
      );
    },
  };
}

export type MetadataRepository = ReturnType<typeof createMetadataRepository>;
/** The statements, on the pool or on one transaction. */
export type MetadataStatements = ReturnType<typeof statementsOn>;

function statementsOn(sql: SqlRunner) {
  /** $1-$5 of every statement: the scope and the clock. */
  const scopeArgs = (s: EntryScope, now: Date): SqlArg[] => [
    s.tenant,
    s.linkedObjectType,
    s.identifier,
    s.namespace,
    now,
  ];

  return {
    async findLive(scope: EntryScope, key: string, now: Date): Promise<MetadataRow | null> {
      const rows = await sql.query<MetadataRow>(`SELECT ${COLUMNS} FROM metadata WHERE ${LIVE_IN_SCOPE} AND key = $6`, [
        ...scopeArgs(scope, now),
        key,
      ]);
      return rows[0] ?? null;
    },

    findManyLive(scope: EntryScope, now: Date): Promise<MetadataRow[]> {
      return sql.query<MetadataRow>(`SELECT ${COLUMNS} FROM metadata WHERE ${LIVE_IN_SCOPE} ORDER BY key`, [
        ...scopeArgs(scope, now),
      ]);
    },

    /**
     * One page and the count of every live key matching the prefix, in one statement: the count is
     * an uncorrelated subquery (planned once, index-only), the page joined to it so that an empty
     * page still answers the count.
     */
    async findPage(scope: EntryScope, q: PageQuery): Promise<{ rows: MetadataRow[]; totalCount: number }> {
      const prefix = keyRange({ keyPrefix: q.keyPrefix }, 6);
      const cursors = keyRange({ afterKey: q.afterKey, beforeKey: q.beforeKey }, 6 + prefix.values.length);
      const limit = 6 + prefix.values.length + cursors.values.length;
      const rows = await sql.query<Partial<MetadataRow> & { totalCount: number }>(
        `SELECT total.count AS "totalCount", page.*
FROM (SELECT count(*)::int AS count FROM metadata WHERE ${LIVE_IN_SCOPE}${prefix.sql}) AS total
LEFT JOIN LATERAL (
  SELECT ${COLUMNS} FROM metadata WHERE ${LIVE_IN_SCOPE}${prefix.sql}${cursors.sql}
  ORDER BY key ${q.fromEnd ? "DESC" : "ASC"} LIMIT $${limit}
) AS page ON true`,
        [...scopeArgs(scope, q.now), ...prefix.values, ...cursors.values, q.limit],
      );
      return {
        rows: rows.filter((row): row is MetadataRow & { totalCount: number } => row.key != null),
        totalCount: rows[0]?.totalCount ?? 0,
      };
    },

    /**
     * Creates or updates in one statement. Returns null when nothing was written: the
     * compare-and-set failed, or a new key would pass the per-object limit. An expired row counts
     * as absent: writing it starts again at version 1.
     */
    async upsert(scope: EntryScope, v: UpsertValues): Promise<MetadataRow | null> {
      const rows = await sql.query<MetadataRow>(
        `${INSERT_INTO}
SELECT $1::text, $2::text, $3::text, $4::text, $6::text, $7::text, $8::timestamptz, 1, $5::timestamptz, $5::timestamptz
WHERE ($9::int IS NULL OR $9::int = 0
       OR EXISTS (SELECT 1 FROM metadata WHERE ${IN_SCOPE} AND key = $6))
  AND CASE
        WHEN EXISTS (SELECT 1 FROM metadata WHERE ${LIVE_IN_SCOPE} AND key = $6) THEN true
        ELSE (SELECT count(*) FROM metadata WHERE ${liveOnObject("$5")}) < $10::int
      END
${ON_CONFLICT_UPDATE}
WHERE $9::int IS NULL OR $9::int = ${CAS_VERSION}
${RETURNING}`,
        [...scopeArgs(scope, v.now), v.key, v.value, v.expiresAt, v.expectedVersion ?? null, v.maxKeysPerObject],
      );
      return rows[0] ?? null;
    },

    /** Deletes a live entry, optionally only at `expectedVersion`; returns it as it was. */
    async delete(scope: EntryScope, key: string, expectedVersion: number | undefined, now: Date) {
      const rows = await sql.query<MetadataRow>(
        `DELETE FROM metadata WHERE ${LIVE_IN_SCOPE} AND key = $6 AND ($7::int IS NULL OR version = $7::int) ${RETURNING}`,
        [...scopeArgs(scope, now), key, expectedVersion ?? null],
      );
      return rows[0] ?? null;
    },

    /**
     * Upserts several entries in one statement, each with its own compare-and-set, as `upsert` does
     * one but without the key limit (the caller counts afterwards, in its transaction). Returns the
     * rows written, in no particular order: an entry whose compare-and-set failed is missing. Keys
     * must be unique (a second write of one row in a statement is an error).
     */
    upsertMany(scope: EntryScope, entries: readonly EntryValues[], now: Date): Promise<MetadataRow[]> {
      return sql.query<MetadataRow>(
        `WITH entry AS (
  SELECT * FROM unnest($6::text[], $7::text[], $8::timestamptz[], $9::int[]) AS e(key, value, expires_at, expected_version)
)
${INSERT_INTO}
SELECT $1::text, $2::text, $3::text, $4::text, e.key, e.value, e.expires_at, 1, $5::timestamptz, $5::timestamptz
FROM entry AS e
WHERE e.expected_version IS NULL OR e.expected_version = 0
   OR EXISTS (SELECT 1 FROM metadata WHERE ${IN_SCOPE} AND key = e.key)
${ON_CONFLICT_UPDATE}
WHERE (SELECT e.expected_version IS NULL OR e.expected_version = ${CAS_VERSION} FROM entry AS e WHERE e.key = EXCLUDED.key)
${RETURNING}`,
        [
          ...scopeArgs(scope, now),
          entries.map((e) => e.key),
          entries.map((e) => e.value),
          entries.map((e) => e.expiresAt),
          entries.map((e) => e.expectedVersion ?? null),
        ],
      );
    },

    /** Deletes these keys' live entries; returns them as they were (absent keys are not in the result). */
    deleteKeys(scope: EntryScope, keys: readonly string[], now: Date): Promise<MetadataRow[]> {
      return sql.query<MetadataRow>(
        `DELETE FROM metadata WHERE ${LIVE_IN_SCOPE} AND key = ANY($6::text[]) ${RETURNING}`,
        [...scopeArgs(scope, now), keys],
      );
    },

    /** Deletes every live entry of the namespace but these keys'; returns them as they were. */
    deleteOtherKeys(scope: EntryScope, keep: readonly string[], now: Date): Promise<MetadataRow[]> {
      return sql.query<MetadataRow>(
        `DELETE FROM metadata WHERE ${LIVE_IN_SCOPE} AND key <> ALL($6::text[]) ${RETURNING}`,
        [...scopeArgs(scope, now), keep],
      );
    },

    /** Live entries of the object in every namespace: what METADATA_MAX_KEYS_PER_OBJECT limits. */
    async countLiveOnObject(scope: EntryScope, now: Date): Promise<number> {
      const [row] = await sql.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM metadata WHERE ${liveOnObject("$4")}`,
        [scope.tenant, scope.linkedObjectType, scope.identifier, now],
      );
      return row?.count ?? 0;
    },
  };
}
