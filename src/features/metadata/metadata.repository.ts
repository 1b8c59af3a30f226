import type { Metadata } from "../../../generated/prisma/client.js";
import type { Database } from "../../db/database.js";
import type { SqlArg, SqlRunner } from "../../db/sql.js";
import type { MetadataEvent } from "./metadata.events.js";

/**
 * A row as Prisma's model types it, without the surrogate id nobody outside the table needs; its
 * `sequence` read as a number (exact below 2^53: see COLUMNS).
 */
export type MetadataRow = Omit<Metadata, "id" | "sequence"> & { sequence: number };

/** A row as a write left it (deletes: as it was) and the event the same statement appended. */
export interface Written {
  row: MetadataRow;
  event: MetadataEvent;
}

/** Who changed an entry: the token's `sub` or client id; null for the expiry job. */
export type Actor = string | null;

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
  actor: Actor;
}

export interface HistoryQuery {
  /** Undefined: every key of the namespace. */
  key: string | undefined;
  /** Events strictly older (lower sequence) than this. */
  beforeSequence: number | undefined;
  limit: number;
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
// model so rows keep one type. Sequences are read as float8: a JS number, exact below 2^53 (at
// 10,000 changes a second, 28,000 years), where the drivers read bigint as a string or a BigInt.
const COLUMNS = `tenant, linked_object_type AS "linkedObjectType", identifier, namespace, key, value, version,
  created_at AS "createdAt", updated_at AS "updatedAt", expires_at AS "expiresAt", sequence::float8 AS sequence`;
const EVENT_COLUMNS = `sequence::float8 AS sequence, operation, tenant, linked_object_type AS "linkedObjectType",
  identifier, namespace, key, old_version AS "oldVersion", new_version AS "newVersion", value, actor,
  occurred_at AS "occurredAt"`;

// Every write appends its events in the same statement (data-modifying CTEs): no extra round trip,
// and they commit or roll back with the change. The `changed`/`removed` CTE returns the metadata
// rows (RETURNING *), the `event` CTE what it appended under names that do not clash with them.
const INSERT_EVENT = `INSERT INTO metadata_event (sequence, tenant, linked_object_type, identifier, namespace, key,
  operation, old_version, new_version, value, actor, occurred_at)`;
const EVENT_RETURNING = `RETURNING sequence AS event_sequence, key AS event_key, operation, old_version, new_version,
  value AS event_value, actor, occurred_at`;
/** The final SELECT's columns: the row's (COLUMNS) and its event's. */
const WRITTEN_COLUMNS = `${COLUMNS}, event_sequence::float8 AS "eventSequence", operation, old_version AS "oldVersion",
  new_version AS "newVersion", event_value AS "eventValue", actor, occurred_at AS "occurredAt"`;
/**
 * Upserts (`changed`): the row's new sequence is its event's. Versions only ever go up by one, and
 * a write over an absent or expired row starts at 1: the old version is always version - 1.
 * `actor` and `clock` name the statement's parameters.
 */
const upsertEvents = (actor: string, clock: string) => `, event AS (
${INSERT_EVENT}
SELECT sequence, tenant, linked_object_type, identifier, namespace, key,
  CASE WHEN version = 1 THEN 'CREATED' ELSE 'UPDATED' END, version - 1, version, value, ${actor}::text, ${clock}::timestamptz
FROM changed
${EVENT_RETURNING}
)
SELECT ${WRITTEN_COLUMNS} FROM changed JOIN event ON event_sequence = changed.sequence`;
/** Deletes (`removed`, rows of one scope): each event takes the next sequence. */
const deleteEvents = (actor: string, clock: string) => `, event AS (
${INSERT_EVENT}
SELECT nextval('metadata_sequence'), tenant, linked_object_type, identifier, namespace, key,
  'DELETED', version, NULL, NULL, ${actor}::text, ${clock}::timestamptz
FROM removed
${EVENT_RETURNING}
)
SELECT ${WRITTEN_COLUMNS} FROM removed JOIN event ON event_key = removed.key`;

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
const INSERT_INTO = `INSERT INTO metadata AS m (tenant, linked_object_type, identifier, namespace, key, value, expires_at, version, created_at, updated_at, sequence)`;
const CAS_VERSION = "CASE WHEN m.expires_at <= $5::timestamptz THEN 0 ELSE m.version END";
const ON_CONFLICT_UPDATE = `ON CONFLICT (tenant, linked_object_type, identifier, namespace, key) DO UPDATE SET
  value = EXCLUDED.value,
  expires_at = EXCLUDED.expires_at,
  version = CASE WHEN m.expires_at <= $5::timestamptz THEN 1 ELSE m.version + 1 END,
  created_at = CASE WHEN m.expires_at <= $5::timestamptz THEN $5::timestamptz ELSE m.created_at END,
  updated_at = $5::timestamptz,
  sequence = EXCLUDED.sequence`;

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

/** The only module that talks to the metadata and metadata_event tables. */
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
     * Removes up to `limit` expired rows, appending an EXPIRED event for each (at the
     * instant it expired, no actor); returns the events. The outer `expires_at` test is checked
     * again on a row a concurrent write changed meanwhile: a row written again is not removed.
     */
    purgeExpired(now: Date, limit: number): Promise<MetadataEvent[]> {
      return sql.query<MetadataEvent>(
        `WITH removed AS (
  DELETE FROM metadata WHERE expires_at <= $1::timestamptz
    AND id IN (SELECT id FROM metadata WHERE expires_at <= $1::timestamptz LIMIT $2::int)
  RETURNING *
)
${INSERT_EVENT}
SELECT nextval('metadata_sequence'), tenant, linked_object_type, identifier, namespace, key,
  'EXPIRED', version, NULL, NULL, NULL, expires_at
FROM removed
RETURNING ${EVENT_COLUMNS}`,
        [now, limit],
      );
    },

    /**
     * Removes up to `limit` events that occurred before `before`; returns how many. Rows are found
     * through the time index and deleted by their physical address (a TID scan): the primary key
     * starts with the object, not the sequence, and events are never updated, so the address holds.
     */
    async pruneHistory(before: Date, limit: number): Promise<number> {
      const [row] = await sql.query<{ count: number }>(
        `WITH pruned AS (
  DELETE FROM metadata_event
  WHERE ctid = ANY(ARRAY(SELECT ctid FROM metadata_event WHERE occurred_at < $1::timestamptz LIMIT $2::int))
  RETURNING 1
)
SELECT count(*)::int AS count FROM pruned`,
        [before, limit],
      );
      return row?.count ?? 0;
    },

    /** One object's namespace's events (one key's, or all), newest first. */
    findHistory(scope: EntryScope, q: HistoryQuery): Promise<MetadataEvent[]> {
      const args: SqlArg[] = [scope.tenant, scope.linkedObjectType, scope.identifier, scope.namespace];
      let where = IN_SCOPE;
      if (q.key !== undefined) {
        args.push(q.key);
        where += ` AND key = $${args.length}`;
      }
      if (q.beforeSequence !== undefined) {
        args.push(q.beforeSequence);
        where += ` AND sequence < $${args.length}::bigint`;
      }
      args.push(q.limit);
      return sql.query<MetadataEvent>(
        // Qualified: the bare name would sort by the float8 output column, which no index orders.
        `SELECT ${EVENT_COLUMNS} FROM metadata_event WHERE ${where} ORDER BY metadata_event.sequence DESC LIMIT $${args.length}::int`,
        args,
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
     * Creates or updates in one statement, appending its event. Returns null when nothing was
     * written: the compare-and-set failed, or a new key would pass the per-object limit. An expired
     * row counts as absent: writing it starts again at version 1.
     */
    async upsert(scope: EntryScope, v: UpsertValues): Promise<Written | null> {
      const rows = await sql.query<WrittenColumns>(
        `WITH changed AS (
${INSERT_INTO}
SELECT $1::text, $2::text, $3::text, $4::text, $6::text, $7::text, $8::timestamptz, 1, $5::timestamptz, $5::timestamptz,
  nextval('metadata_sequence')
WHERE ($9::int IS NULL OR $9::int = 0
       OR EXISTS (SELECT 1 FROM metadata WHERE ${IN_SCOPE} AND key = $6))
  AND CASE
        WHEN EXISTS (SELECT 1 FROM metadata WHERE ${LIVE_IN_SCOPE} AND key = $6) THEN true
        ELSE (SELECT count(*) FROM metadata WHERE ${liveOnObject("$5")}) < $10::int
      END
${ON_CONFLICT_UPDATE}
WHERE $9::int IS NULL OR $9::int = ${CAS_VERSION}
RETURNING *
)${upsertEvents("$11", "$5")}`,
        [
          ...scopeArgs(scope, v.now),
          v.key,
          v.value,
          v.expiresAt,
          v.expectedVersion ?? null,
          v.maxKeysPerObject,
          v.actor,
        ],
      );
      return rows[0] ? toWritten(rows[0]) : null;
    },

    /** Deletes a live entry, optionally only at `expectedVersion`, appending its event; returns it as it was. */
    async delete(
      scope: EntryScope,
      key: string,
      expectedVersion: number | undefined,
      now: Date,
      actor: Actor,
    ): Promise<Written | null> {
      const rows = await sql.query<WrittenColumns>(
        `WITH removed AS (
  DELETE FROM metadata WHERE ${LIVE_IN_SCOPE} AND key = $6 AND ($7::int IS NULL OR version = $7::int) RETURNING *
)${deleteEvents("$8", "$5")}`,
        [...scopeArgs(scope, now), key, expectedVersion ?? null, actor],
      );
      return rows[0] ? toWritten(rows[0]) : null;
    },

    /**
     * Upserts several entries in one statement, each with its own compare-and-set, as `upsert` does
     * one but without the key limit (the caller counts afterwards, in its transaction), appending
     * their events. Returns the rows written, in no particular order: an entry whose
     * compare-and-set failed is missing. Keys must be unique (a second write of one row in a
     * statement is an error).
     */
    async upsertMany(scope: EntryScope, entries: readonly EntryValues[], now: Date, actor: Actor): Promise<Written[]> {
      const rows = await sql.query<WrittenColumns>(
        `WITH entry AS (
  SELECT * FROM unnest($6::text[], $7::text[], $8::timestamptz[], $9::int[]) AS e(key, value, expires_at, expected_version)
), changed AS (
${INSERT_INTO}
SELECT $1::text, $2::text, $3::text, $4::text, e.key, e.value, e.expires_at, 1, $5::timestamptz, $5::timestamptz,
  nextval('metadata_sequence')
FROM entry AS e
WHERE e.expected_version IS NULL OR e.expected_version = 0
   OR EXISTS (SELECT 1 FROM metadata WHERE ${IN_SCOPE} AND key = e.key)
${ON_CONFLICT_UPDATE}
WHERE (SELECT e.expected_version IS NULL OR e.expected_version = ${CAS_VERSION} FROM entry AS e WHERE e.key = EXCLUDED.key)
RETURNING *
)${upsertEvents("$10", "$5")}`,
        [
          ...scopeArgs(scope, now),
          entries.map((e) => e.key),
          entries.map((e) => e.value),
          entries.map((e) => e.expiresAt),
          entries.map((e) => e.expectedVersion ?? null),
          actor,
        ],
      );
      return rows.map(toWritten);
    },

    /** Deletes these keys' live entries, appending their events; returns them as they were (absent keys are not in the result). */
    async deleteKeys(scope: EntryScope, keys: readonly string[], now: Date, actor: Actor): Promise<Written[]> {
      const rows = await sql.query<WrittenColumns>(
        `WITH removed AS (
  DELETE FROM metadata WHERE ${LIVE_IN_SCOPE} AND key = ANY($6::text[]) RETURNING *
)${deleteEvents("$7", "$5")}`,
        [...scopeArgs(scope, now), keys, actor],
      );
      return rows.map(toWritten);
    },

    /** Deletes every live entry of the namespace but these keys', appending their events; returns them as they were. */
    async deleteOtherKeys(scope: EntryScope, keep: readonly string[], now: Date, actor: Actor): Promise<Written[]> {
      const rows = await sql.query<WrittenColumns>(
        `WITH removed AS (
  DELETE FROM metadata WHERE ${LIVE_IN_SCOPE} AND key <> ALL($6::text[]) RETURNING *
)${deleteEvents("$7", "$5")}`,
        [...scopeArgs(scope, now), keep, actor],
      );
      return rows.map(toWritten);
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

/** A row of WRITTEN_COLUMNS: the metadata row's columns, then its event's. */
type WrittenColumns = MetadataRow &
  Pick<MetadataEvent, "operation" | "oldVersion" | "newVersion" | "actor" | "occurredAt"> & {
    eventSequence: number;
    eventValue: string | null;
  };

function toWritten(r: WrittenColumns): Written {
  const { operation, oldVersion, newVersion, actor, occurredAt, eventSequence, eventValue, ...row } = r;
  return {
    row,
    event: {
      sequence: eventSequence,
      operation,
      tenant: row.tenant,
      linkedObjectType: row.linkedObjectType,
      identifier: row.identifier,
      namespace: row.namespace,
      key: row.key,
      oldVersion,
      newVersion,
      value: eventValue,
      actor,
      occurredAt,
    },
  };
}
