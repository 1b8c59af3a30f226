import type { Metadata } from "../../../generated/prisma/client.js";
import type { Database } from "../../db/database.js";
import type { SqlArg, SqlRunner, SqlScalar } from "../../db/sql.js";
import type { EntryOrder, Position } from "./metadata.cursor.js";
import type { MetadataEvent } from "./metadata.events.js";
import { addFilters, addPosition, Conditions, type EntryFilters, orderBy } from "./metadata.page-sql.js";
import { createUpsertQueue } from "./metadata.upsert-queue.js";

/**
 * A row as Prisma's model types it, without value_json, which PostgreSQL derives from value for
 * searches only; its `sequence` read as a number (exact below 2^53: see COLUMNS).
 */
export type MetadataRow = Omit<Metadata, "valueJson" | "sequence"> & { sequence: number };

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
  filters: EntryFilters;
  order: EntryOrder;
  /** Rows strictly after / before these positions (in `order`) bound the page. */
  after: Position | undefined;
  before: Position | undefined;
  limit: number;
  /** Read from the end (Relay `last`): rows come back in reverse order. */
  fromEnd: boolean;
  now: Date;
}

/** A search over one type's objects in one namespace, for the entries of one key. */
export interface SearchQuery {
  tenant: string;
  linkedObjectType: string;
  namespace: string;
  key: string;
  /** Exact text, or JSON (as text) the parsed value must contain; `scalar`: that JSON is not an object or array. */
  match: { valueEquals: string } | { jsonContains: string; scalar: boolean };
  /** Only these objects (a user's reach); undefined = all of the type. */
  identifiers: readonly string[] | undefined;
  afterIdentifier: string | undefined;
  beforeIdentifier: string | undefined;
  limit: number;
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
 * Upserts (`changed`, joined to the `entry` rows that asked for them): the row's new sequence is
 * its event's, and it happened at the row's `updated_at` (the clock of the entry). Versions only
 * ever go up by one, and a write over an absent or expired row starts at 1: the old version is
 * always version - 1.
 */
const UPSERT_EVENTS = `, event AS (
${INSERT_EVENT}
SELECT c.sequence, c.tenant, c.linked_object_type, c.identifier, c.namespace, c.key,
  CASE WHEN c.version = 1 THEN 'CREATED' ELSE 'UPDATED' END, c.version - 1, c.version, c.value, e.actor, c.updated_at
FROM changed AS c JOIN entry AS e USING (tenant, linked_object_type, identifier, namespace, key)
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
  AND ${liveAt("$5::timestamptz")}`;
/** $1-$3 the object, `clock` the parameter holding now: its live entries in every namespace (the key limit's count). */
const liveOnObject = (clock: string) =>
  `tenant = $1 AND linked_object_type = $2 AND identifier = $3 AND ${liveAt(`${clock}::timestamptz`)}`;

/**
 * Every upsert, of one entry or of many on many objects, in one statement: one `entry` row per
 * entry to write (UPSERT_ONE, UPSERT_MANY), each with its own compare-and-set, key limit (NULL:
 * none) and clock. An expired row counts as absent: compare-and-set sees version 0, and writing it
 * starts again at version 1. A new key under a limit takes its object's lock, then counts the
 * object's live keys as committed by then (metadata_admits_new_key, in
 * migrations/20261207000000_exact_key_limit): statements creating keys of one object at once count
 * one after the other, and the limit holds. The count does not see this statement's own rows, so
 * entries under a limit must be on different objects (UpsertQueue keeps to it; a batch on one
 * object has no limit here and counts afterwards, in its transaction). Entries come in key order
 * (UPSERT_MANY) and rows are written in key order, so that two statements take their object locks,
 * then their row locks, in the same order and never deadlock. Keys must be unique per object (a
 * second write of one row in a statement is an error).
 */
const upsertStatement = (entry: string) => `WITH entry AS (
  ${entry}
), changed AS (
INSERT INTO metadata AS m (tenant, linked_object_type, identifier, namespace, key, value, expires_at, version, created_at, updated_at, sequence)
SELECT e.tenant, e.linked_object_type, e.identifier, e.namespace, e.key, e.value, e.expires_at, 1, e.clock, e.clock,
  nextval('metadata_sequence')
FROM entry AS e
WHERE (e.expected_version IS NULL OR e.expected_version = 0
       OR EXISTS (SELECT 1 FROM metadata AS r WHERE ${sameEntry("r", "e")}))
  AND CASE
        WHEN e.max_keys IS NULL THEN true
        WHEN EXISTS (SELECT 1 FROM metadata AS r WHERE ${sameEntry("r", "e")} AND ${liveAt("e.clock", "r")}) THEN true
        ELSE metadata_admits_new_key(e.tenant, e.linked_object_type, e.identifier, e.namespace, e.key, e.clock, e.max_keys)
      END
ORDER BY e.tenant, e.linked_object_type, e.identifier, e.namespace, e.key
ON CONFLICT (tenant, linked_object_type, identifier, namespace, key) DO UPDATE SET
  value = EXCLUDED.value,
  expires_at = EXCLUDED.expires_at,
  version = CASE WHEN m.expires_at <= EXCLUDED.updated_at THEN 1 ELSE m.version + 1 END,
  created_at = CASE WHEN m.expires_at <= EXCLUDED.updated_at THEN EXCLUDED.updated_at ELSE m.created_at END,
  updated_at = EXCLUDED.updated_at,
  sequence = EXCLUDED.sequence
WHERE (SELECT e.expected_version IS NULL
              OR e.expected_version = CASE WHEN m.expires_at <= e.clock THEN 0 ELSE m.version END
       FROM entry AS e WHERE ${sameEntry("e", "EXCLUDED")})
RETURNING *
)${UPSERT_EVENTS}`;
const ENTRY_COLUMNS = [
  "tenant",
  "linked_object_type",
  "identifier",
  "namespace",
  "key",
  "value",
  "expires_at",
  "expected_version",
  "max_keys",
  "clock",
  "actor",
];
const ENTRY_TYPES = [
  "text",
  "text",
  "text",
  "text",
  "text",
  "text",
  "timestamptz",
  "int",
  "int",
  "timestamptz",
  "text",
];
/**
 * One entry: the columns as scalar parameters. Not `unnest` of one-element arrays: PostgreSQL
 * estimates an `unnest` of a parameter at 10 rows, so its generic plan always looks dearer than a
 * plan for the actual 1 and the prepared statement was planned again on every call (~0.5 ms on
 * PostgreSQL, ~1.5 ms in PGlite).
 */
const UPSERT_ONE = upsertStatement(
  `SELECT ${ENTRY_COLUMNS.map((c, i) => `$${i + 1}::${ENTRY_TYPES[i]} AS ${c}`).join(", ")}`,
);
/**
 * Several entries: one array per column (planned per call, for the batch's size), in key order:
 * the key limit's object locks are taken as the entries are read.
 */
const UPSERT_MANY = upsertStatement(
  `SELECT * FROM unnest(${ENTRY_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(", ")}) AS e(${ENTRY_COLUMNS.join(", ")})
  ORDER BY tenant, linked_object_type, identifier, namespace, key`,
);

/** The same entry (tenant, type, identifier, namespace, key) in two row sources. */
function sameEntry(a: string, b: string): string {
  return ["tenant", "linked_object_type", "identifier", "namespace", "key"]
    .map((c) => `${a}.${c} = ${b}.${c}`)
    .join(" AND ");
}

/** The row (of `alias`, when the statement names it) is live at `clock`: it does not expire, or later. */
function liveAt(clock: string, alias?: string): string {
  const expiresAt = alias ? `${alias}.expires_at` : "expires_at";
  return `(${expiresAt} IS NULL OR ${expiresAt} > ${clock})`;
}

/** One entry for UPSERT_ONE / UPSERT_MANY: where, what, and its conditions. */
export interface UpsertRow {
  scope: EntryScope;
  values: EntryValues;
  /** Null: no key limit (a batch counts afterwards, in its transaction). */
  maxKeysPerObject: number | null;
  now: Date;
  actor: Actor;
}

// Batches on one object take this lock (metadata_lock_object, in
// migrations/20261207000000_exact_key_limit), one after the other: a REPLACE never interleaves with
// another batch's writes, and the key limit counts what the batches before committed. An upsert of
// a new key under the limit takes it too, for its statement (upsertStatement).
const LOCK_OBJECT = "SELECT metadata_lock_object($1::text, $2::text, $3::text)";

const SCOPE_OF_SEARCH = "tenant = $1 AND linked_object_type = $2 AND namespace = $3 AND key = $4";

/** The search's document (migrations/20261127220000_search): the GIN index is over this expression. */
const searchDoc = (value: string) => `metadata_search_doc($1::text, $2::text, $3::text, $4::text, ${value})`;
const SEARCH_DOC_OF_ROW = "metadata_search_doc(tenant, linked_object_type, namespace, key, value_json)";

/**
 * $1-$5: tenant, type, namespace, key, value. Both forms are answered by an index: exact text by
 * (tenant, type, namespace, key, md5(value), identifier), containment by the GIN index over the
 * search document. Nested in the document, a scalar no longer matches an element of a top-level
 * array (`["a","b"] @> "a"` holds, `{"v":["a","b"]} @> {"v":"a"}` does not): a scalar also asks
 * for itself wrapped in an array, which is what `@>` on the value itself answers.
 */
function matchCondition(match: SearchQuery["match"]): string {
  if ("valueEquals" in match) return `${SCOPE_OF_SEARCH} AND md5(value) = md5($5::text) AND value = $5::text`;
  const contains = `${SEARCH_DOC_OF_ROW} @> ${searchDoc("$5::jsonb")}`;
  const inArray = `${SEARCH_DOC_OF_ROW} @> ${searchDoc("jsonb_build_array($5::jsonb)")}`;
  return `value_json IS NOT NULL AND ${match.scalar ? `(${contains} OR ${inArray})` : contains}`;
}

/**
 * The only module that talks to the metadata and metadata_event tables. With PostgreSQL,
 * single-entry upserts from concurrent requests share statements (UpsertQueue); at most half the
 * pool's connections (at least one) run them at once, so that reads always find a free connection.
 * PGlite (no pool) runs every statement in turn in this process and has no commit to share: each
 * upsert goes alone (coalesced, the embedded bench measured the same req/s, and a batch's `unnest`
 * is planned again on every call).
 */
export function createMetadataRepository({
  sql,
  transaction,
  poolStats,
}: Pick<Database, "sql" | "transaction" | "poolStats">) {
  const statements = statementsOn(sql);
  const queue = createUpsertQueue(
    statements.upsertRows,
    poolStats ? Math.max(1, Math.floor(poolStats().max / 2)) : Number.POSITIVE_INFINITY,
  );
  return {
    ...statements,

    upsert(scope: EntryScope, v: UpsertValues): Promise<Written | null> {
      return queue.upsert(upsertRow(scope, v));
    },

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
     * instant it expired, no actor); returns the rows as they were with their events. Rows are
     * found through the expiry index and deleted by their physical address (a TID scan). A row a
     * concurrent write changed meanwhile has moved: it is not removed (the next run sees it again if
     * it is still expired).
     */
    async purgeExpired(now: Date, limit: number): Promise<Written[]> {
      // Each removed row draws its event's sequence as it is returned: the event joins back on it
      // (rows of many objects: the key alone would not tell them apart).
      const rows = await sql.query<WrittenColumns>(
        `WITH removed AS (
  DELETE FROM metadata WHERE expires_at <= $1::timestamptz
    AND ctid = ANY(ARRAY(SELECT ctid FROM metadata WHERE expires_at <= $1::timestamptz LIMIT $2::int))
  RETURNING *, nextval('metadata_sequence') AS expiry_sequence
), event AS (
${INSERT_EVENT}
SELECT expiry_sequence, tenant, linked_object_type, identifier, namespace, key,
  'EXPIRED', version, NULL, NULL, NULL, expires_at
FROM removed
${EVENT_RETURNING}
)
SELECT ${WRITTEN_COLUMNS} FROM removed JOIN event ON event_sequence = removed.expiry_sequence`,
        [now, limit],
      );
      return rows.map(toWritten);
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

/** The rows of a page joined to its count (LEFT JOIN: one row of NULLs when the page is empty). */
function pageWithCount(rows: (Partial<MetadataRow> & { totalCount: number })[]) {
  return {
    rows: rows.filter((row): row is MetadataRow & { totalCount: number } => row.key != null),
    totalCount: rows[0]?.totalCount ?? 0,
  };
}
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

  /**
   * Writes every row in one statement (UPSERT_ONE or UPSERT_MANY); answers in the rows' order, null for a row that
   * was not written (its compare-and-set failed or its key limit stopped it).
   */
  async function upsertRows(rows: readonly UpsertRow[]): Promise<(Written | null)[]> {
    // A column's values: the one row's, or an array of every row's.
    const column = <T extends SqlScalar>(of: (row: UpsertRow) => T): SqlArg =>
      rows.length === 1 && rows[0] ? of(rows[0]) : rows.map(of);
    const result = await sql.query<WrittenColumns>(rows.length === 1 ? UPSERT_ONE : UPSERT_MANY, [
      column((r) => r.scope.tenant),
      column((r) => r.scope.linkedObjectType),
      column((r) => r.scope.identifier),
      column((r) => r.scope.namespace),
      column((r) => r.values.key),
      column((r) => r.values.value),
      column((r) => r.values.expiresAt),
      column((r) => r.values.expectedVersion ?? null),
      column((r) => r.maxKeysPerObject),
      column((r) => r.now),
      column((r) => r.actor),
    ]);
    const byEntry = new Map(result.map((r) => [entryId(r), r]));
    return rows.map((r) => {
      const written = byEntry.get(entryId({ ...r.scope, key: r.values.key }));
      return written ? toWritten(written) : null;
    });
  }

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
     * One page and the count of every live entry matching the filters, in one statement: the count
     * is an uncorrelated subquery (planned once), the page joined to it so that an empty page still
     * answers the count. Timestamp orderings sort the namespace's matching rows, found through the
     * primary key and bounded by METADATA_MAX_KEYS_PER_OBJECT: no index on updated_at, which every
     * upsert changes (it would cost every write and prevent HOT updates).
     */
    async findPage(scope: EntryScope, q: PageQuery): Promise<{ rows: MetadataRow[]; totalCount: number }> {
      const filters = new Conditions(6);
      addFilters(filters, q.filters);
      const page = new Conditions(6 + filters.values.length);
      if (q.after) addPosition(page, q.order, q.after, true);
      if (q.before) addPosition(page, q.order, q.before, false);
      const limit = page.param(q.limit);
      return pageWithCount(
        await sql.query<Partial<MetadataRow> & { totalCount: number }>(
          `SELECT total.count AS "totalCount", page.*
FROM (SELECT count(*)::int AS count FROM metadata WHERE ${LIVE_IN_SCOPE}${filters.and}) AS total
LEFT JOIN LATERAL (
  SELECT ${COLUMNS} FROM metadata WHERE ${LIVE_IN_SCOPE}${filters.and}${page.and}
  ORDER BY ${orderBy(q.order, q.fromEnd)} LIMIT ${limit}
) AS page ON true`,
          [...scopeArgs(scope, q.now), ...filters.values, ...page.values],
        ),
      );
    },

    /** One page of the entries matching a search, ordered by identifier, and the count of all. */
    async search(q: SearchQuery): Promise<{ rows: MetadataRow[]; totalCount: number }> {
      const value = "valueEquals" in q.match ? q.match.valueEquals : q.match.jsonContains;
      const where = new Conditions(7);
      if (q.identifiers) {
        // A user's reach: its few objects, found by the primary key (the scope spelled out for it).
        if ("jsonContains" in q.match) where.add(SCOPE_OF_SEARCH);
        where.add(`identifier = ANY(${where.param(q.identifiers)}::text[])`);
      }
      const page = new Conditions(7 + where.values.length);
      if (q.afterIdentifier !== undefined) page.add(`identifier > ${page.param(q.afterIdentifier)}`);
      if (q.beforeIdentifier !== undefined) page.add(`identifier < ${page.param(q.beforeIdentifier)}`);
      const limit = page.param(q.limit);
      const matching = `${matchCondition(q.match)} AND ${liveAt("$6::timestamptz")}${where.and}`;
      const direction = q.fromEnd ? "DESC" : "ASC";
      // Exact matches come out of their btree in identifier order: the page stops after `limit`
      // rows. Containment rechecks every candidate the GIN index returns (its hashes are lossy)
      // and sorts the matches: found once (MATERIALIZED), then counted and paged, instead of twice.
      const statement =
        "valueEquals" in q.match
          ? `SELECT total.count AS "totalCount", page.*
FROM (SELECT count(*)::int AS count FROM metadata WHERE ${matching}) AS total
LEFT JOIN LATERAL (
  SELECT ${COLUMNS} FROM metadata WHERE ${matching}${page.and}
  ORDER BY identifier ${direction} LIMIT ${limit}
) AS page ON true`
          : `WITH search_matches AS MATERIALIZED (SELECT ${COLUMNS} FROM metadata WHERE ${matching})
SELECT total.count AS "totalCount", page.*
FROM (SELECT count(*)::int AS count FROM search_matches) AS total
LEFT JOIN LATERAL (
  SELECT * FROM search_matches WHERE true${page.and} ORDER BY identifier ${direction} LIMIT ${limit}
) AS page ON true`;
      return pageWithCount(
        await sql.query<Partial<MetadataRow> & { totalCount: number }>(statement, [
          q.tenant,
          q.linkedObjectType,
          q.namespace,
          q.key,
          value,
          q.now,
          ...where.values,
          ...page.values,
        ]),
      );
    },

    /**
     * Creates or updates in one statement, appending its event. Returns null when nothing was
     * written: the compare-and-set failed, or a new key would pass the per-object limit. An expired
     * row counts as absent: writing it starts again at version 1.
     */
    async upsert(scope: EntryScope, v: UpsertValues): Promise<Written | null> {
      const [written] = await upsertRows([upsertRow(scope, v)]);
      return written ?? null;
    },

    upsertRows,

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
     * Upserts several entries of one object in one statement, each with its own compare-and-set, as
     * `upsert` does one but without the key limit (the caller counts afterwards, in its
     * transaction), appending their events. Returns the rows written: an entry whose
     * compare-and-set failed is missing. Keys must be unique.
     */
    async upsertMany(scope: EntryScope, entries: readonly EntryValues[], now: Date, actor: Actor): Promise<Written[]> {
      const written = await upsertRows(
        entries.map((values) => ({ scope, values, maxKeysPerObject: null, now, actor })),
      );
      return written.filter((w) => w !== null);
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

function upsertRow(scope: EntryScope, v: UpsertValues): UpsertRow {
  return { scope, values: v, maxKeysPerObject: v.maxKeysPerObject, now: v.now, actor: v.actor };
}

/** One entry's identity as a map key. */
function entryId(e: EntryScope & { key: string }): string {
  return JSON.stringify([e.tenant, e.linkedObjectType, e.identifier, e.namespace, e.key]);
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
