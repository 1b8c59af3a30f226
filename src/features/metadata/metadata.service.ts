import { type Access, authorize, authorizeSearch, type LinkedObjectType } from "../../auth/policy.js";
import { actorOf, type Principal } from "../../auth/principal.js";
import {
  BatchEntryFailed,
  type DomainError,
  InvalidInput,
  LimitExceeded,
  NotFound,
  VersionConflict,
} from "../../errors.js";
import { parseJsonText } from "../../json-text.js";
import { atEntry, type BatchMode, entryPastKeyLimit } from "./metadata.batch.js";
import { type ChangeFeed, type MetadataChange, toChange } from "./metadata.changes.js";
import {
  DEFAULT_ORDER,
  decodePosition,
  decodeSequenceCursor,
  type EntryOrder,
  encodePosition,
  encodeSequenceCursor,
} from "./metadata.cursor.js";
import { displayNamespace, type MetadataEntry, toEntry } from "./metadata.entry.js";
import type { EventOperation, MetadataEvent } from "./metadata.events.js";
import type { EntryFilters } from "./metadata.page-sql.js";
import type {
  Actor,
  EntryScope,
  EntryValues,
  MetadataRepository,
  MetadataRow,
  MetadataStatements,
  Written,
} from "./metadata.repository.js";
import { decodeSearchCursor, encodeSearchCursor, searchMatch } from "./metadata.search.js";
import {
  assertBatchKeys,
  assertEntryWrite,
  assertExpectedVersion,
  assertIdentifier,
  assertKey,
  assertKeyPrefix,
  assertNamespace,
  assertTimeWindow,
} from "./metadata.validation.js";
import { endingAtExpiry } from "./metadata.watch.js";

export type { MetadataEntry } from "./metadata.entry.js";

/** A history event as clients see it: the namespace as they name it, the tenant as resourceOwner. */
export interface HistoryEvent {
  sequence: number;
  operation: EventOperation;
  key: string;
  namespace: string | null;
  linkedObjectType: LinkedObjectType;
  identifier: string;
  oldVersion: number;
  newVersion: number | null;
  value: string | null;
  actor: string | null;
  occurredAt: Date;
  resourceOwner: string;
}

/**
 * What a write did, and the events it appended (as stored: tenant and stored namespace, for
 * whoever publishes them after commit), in sequence order.
 */
export interface Changed<T> {
  result: T;
  events: MetadataEvent[];
}

export interface ObjectRef {
  linkedObjectType: LinkedObjectType;
  identifier: string;
  namespace?: string | null;
}

/** Kraken's reads take an optional object type; omitted means an account. */
export type ReadRef = Omit<ObjectRef, "linkedObjectType"> & { linkedObjectType?: LinkedObjectType | null };
const DEFAULT_LINKED_OBJECT_TYPE: LinkedObjectType = "ACCOUNT";

function withDefaultType<T extends ReadRef>(ref: T): T & ObjectRef {
  return { ...ref, linkedObjectType: ref.linkedObjectType ?? DEFAULT_LINKED_OBJECT_TYPE };
}

/** One entry to write, alone or in a batch. */
export interface EntryWrite {
  key: string;
  value: string;
  expiresAt?: Date | null;
  expectedVersion?: number | null;
}

export interface SetEntryInput extends ObjectRef, EntryWrite {}

export interface SetEntriesInput extends ObjectRef {
  entries: readonly EntryWrite[];
  mode?: BatchMode | null;
}

export interface SetEntriesResult {
  /** As written, in the order of the input. */
  entries: MetadataEntry[];
  /** REPLACE: the namespace's keys the batch removed, sorted. */
  removedKeys: string[];
}

export interface DeleteEntriesInput extends ObjectRef {
  keys: readonly string[];
}

export interface DeleteEntryInput extends ObjectRef {
  key: string;
  expectedVersion?: number | null;
}

export interface HistoryRef extends ObjectRef {
  /** Omitted: every key of the namespace. */
  key?: string | null;
}

export interface HistoryPageArgs {
  first?: number | null;
  after?: string | null;
}

export interface HistoryPage {
  edges: { cursor: string; node: HistoryEvent }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

export interface PageArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
}

export interface ListArgs extends PageArgs {
  keyPrefix?: string | null;
  keys?: readonly string[] | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
  updatedAfter?: Date | null;
  updatedBefore?: Date | null;
  orderBy?: Partial<EntryOrder> | null;
}

export interface SearchArgs extends PageArgs {
  linkedObjectType: LinkedObjectType;
  key: string;
  namespace?: string | null;
  valueEquals?: string | null;
  /** Any JSON value (GraphQL's JSON scalar); null = not given. */
  jsonContains?: unknown;
}

export interface EntryPage {
  edges: { cursor: string; node: MetadataEntry }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  totalCount: number;
}

export interface MetadataLimits {
  maxValueLength: number;
  maxKeysPerObject: number;
}

/**
 * Rules a value must meet beyond the generic ones: the definitions feature's typed keys. The
 * checker of a tenant comes at once when known (the hot path awaits nothing), else once loaded.
 */
export interface ValueRules {
  forTenant(tenant: string): TenantValueRules | Promise<TenantValueRules>;
}

export interface TenantValueRules {
  /** Throws a domain error (BAD_USER_INPUT with `path`) when the value breaks its key's definition. */
  check(entry: { namespace: string; linkedObjectType: LinkedObjectType; key: string; value: string }): void;
}

/** Every key free-form. */
const NO_VALUE_RULES: ValueRules = { forTenant: () => ({ check() {} }) };

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
/** Rows per statement of the expiry purge and the history prune: each statement holds its locks briefly. */
const MAINTENANCE_BATCH = 1000;

export function createMetadataService(deps: {
  repository: MetadataRepository;
  limits: MetadataLimits;
  /** How long history events are kept (pruneHistory). */
  historyRetentionMs: number;
  valueRules?: ValueRules;
  /** Where committed changes are published and subscriptions read them. */
  changes: ChangeFeed;
  now?: () => Date;
}) {
  const { repository, limits, historyRetentionMs, changes } = deps;
  const valueRules = deps.valueRules ?? NO_VALUE_RULES;
  const now = deps.now ?? (() => new Date());

  /** Validate the reference, then ask the policy where the caller may act. */
  function scopeFor(principal: Principal | null, access: Access, ref: ObjectRef): EntryScope {
    assertIdentifier(ref.identifier);
    const namespace = ref.namespace ?? undefined;
    assertNamespace(namespace);
    const grant = authorize(principal, access, { ...ref, namespace });
    return {
      tenant: grant.tenant,
      linkedObjectType: ref.linkedObjectType,
      identifier: ref.identifier,
      namespace: grant.storedNamespace,
    };
  }

  /** A write's scope and who it is recorded as. */
  function writeScopeFor(principal: Principal | null, ref: ObjectRef): { scope: EntryScope; actor: Actor } {
    const scope = scopeFor(principal, "write", ref);
    // authorize has refused a missing principal already.
    return { scope, actor: principal ? actorOf(principal) : null };
  }

  async function currentVersion(scope: EntryScope, key: string, on: MetadataStatements = repository): Promise<number> {
    return (await on.findLive(scope, key, now()))?.version ?? 0;
  }

  /**
   * The entries' values against their keys' definitions; a batch's failing entry names its index.
   * Synchronous when the tenant's rules are at hand (the hot path awaits nothing more).
   */
  function checkValues(
    scope: EntryScope,
    type: LinkedObjectType,
    entries: readonly EntryWrite[],
    batch: boolean,
  ): Promise<void> | undefined {
    const check = (rules: TenantValueRules) => {
      for (const [index, { key, value }] of entries.entries()) {
        const one = () => rules.check({ namespace: scope.namespace, linkedObjectType: type, key, value });
        if (batch) atEntry(index, one);
        else one();
      }
    };
    const rules = valueRules.forTenant(scope.tenant);
    if (rules instanceof Promise) return rules.then(check);
    check(rules);
    return undefined;
  }

  /** A committed write's result and events, its changes handed to the subscriptions (in sequence order). */
  function published<T>(result: T, written: readonly Written[]): Changed<T> {
    const ordered = [...written].sort((a, b) => a.event.sequence - b.event.sequence);
    changes.publish(ordered.map(toChange));
    return { result, events: ordered.map(({ event }) => event) };
  }

  function keyLimitExceeded(ref: ObjectRef): LimitExceeded {
    return new LimitExceeded(
      `${ref.linkedObjectType} ${ref.identifier} already has ${limits.maxKeysPerObject} keys (METADATA_MAX_KEYS_PER_OBJECT)`,
      { limit: limits.maxKeysPerObject },
    );
  }

  return {
    async getEntries(principal: Principal | null, ref: ReadRef): Promise<MetadataEntry[]> {
      const scope = scopeFor(principal, "read", withDefaultType(ref));
      return (await repository.findManyLive(scope, now())).map(toEntry);
    },

    async getEntry(principal: Principal | null, readRef: ReadRef & { key: string }): Promise<MetadataEntry> {
      const ref = withDefaultType(readRef);
      assertKey(ref.key);
      const scope = scopeFor(principal, "read", ref);
      const row = await repository.findLive(scope, ref.key, now());
      if (!row) throw new NotFound(`No metadata '${ref.key}' on ${ref.linkedObjectType} ${ref.identifier}`);
      return toEntry(row);
    },

    async listEntries(principal: Principal | null, ref: ObjectRef, args: ListArgs): Promise<EntryPage> {
      const filters = listFilters(args);
      const order: EntryOrder = { ...DEFAULT_ORDER, ...args.orderBy };
      const { size, fromEnd } = pageSize(args);
      const after = decodePosition(args.after, "after", order);
      const before = decodePosition(args.before, "before", order);
      const scope = scopeFor(principal, "read", ref);
      const { rows, totalCount } = await repository.findPage(scope, {
        filters,
        order,
        after,
        before,
        fromEnd,
        limit: size + 1,
        now: now(),
      });
      return connection(rows, { size, fromEnd, after: !!after, before: !!before }, totalCount, (row) =>
        encodePosition(order, row),
      );
    },

    /**
     * The entries of one key, in one namespace of one object type, whose value matches: the linked
     * objects carrying it, ordered by identifier, among the objects the caller reaches.
     */
    async searchEntries(principal: Principal | null, args: SearchArgs): Promise<EntryPage> {
      assertKey(args.key);
      const namespace = args.namespace ?? undefined;
      assertNamespace(namespace);
      const match = searchMatch(args, limits.maxValueLength);
      const { size, fromEnd } = pageSize(args);
      const afterIdentifier = decodeSearchCursor(args.after, "after");
      const beforeIdentifier = decodeSearchCursor(args.before, "before");
      const grant = authorizeSearch(principal, { linkedObjectType: args.linkedObjectType, namespace });
      const page = { size, fromEnd, after: afterIdentifier !== undefined, before: beforeIdentifier !== undefined };
      if (grant.identifiers !== "all" && grant.identifiers.length === 0) return connection([], page, 0, () => "");
      const { rows, totalCount } = await repository.search({
        tenant: grant.tenant,
        linkedObjectType: args.linkedObjectType,
        namespace: grant.storedNamespace,
        key: args.key,
        match,
        identifiers: grant.identifiers === "all" ? undefined : grant.identifiers,
        afterIdentifier,
        beforeIdentifier,
        limit: size + 1,
        fromEnd,
        now: now(),
      });
      return connection(rows, page, totalCount, (row) => encodeSearchCursor(row.identifier));
    },

    /** Upsert: version 1 on create, +1 per update; `expectedVersion` makes it a compare-and-set. */
    async setEntry(principal: Principal | null, input: SetEntryInput): Promise<Changed<MetadataEntry>> {
      const at = now();
      assertEntryWrite(input, at, limits.maxValueLength);
      const { scope, actor } = writeScopeFor(principal, input);
      const checking = checkValues(scope, input.linkedObjectType, [input], false);
      if (checking) await checking;
      const values = entryValues(input);
      const written = await repository.upsert(scope, {
        ...values,
        maxKeysPerObject: limits.maxKeysPerObject,
        now: at,
        actor,
      });
      if (written) return published(toEntry(written.row), [written]);
      // Nothing written: say why. A version mismatch wins; otherwise the key limit stopped it.
      const current = await currentVersion(scope, input.key);
      if (values.expectedVersion !== undefined && values.expectedVersion !== current) {
        throw new VersionConflict(values.expectedVersion, current);
      }
      throw keyLimitExceeded(input);
    },

    /**
     * Writes every entry or none, in one transaction; REPLACE also removes the namespace's other
     * keys. An entry that fails fails the batch, with its own error and its index.
     */
    async setEntries(principal: Principal | null, input: SetEntriesInput): Promise<Changed<SetEntriesResult>> {
      const at = now();
      const keys = input.entries.map((entry) => entry.key);
      assertBatchKeys(keys, "entries");
      for (const [index, entry] of input.entries.entries()) {
        atEntry(index, () => assertEntryWrite(entry, at, limits.maxValueLength));
      }
      const { scope, actor } = writeScopeFor(principal, input);
      const checking = checkValues(scope, input.linkedObjectType, input.entries, true);
      if (checking) await checking;
      const values = input.entries.map(entryValues);
      // Throwing inside rolls the transaction back: the removals, every entry written before and
      // their events.
      const { result, written } = await repository.inObjectTransaction(scope, async (tx) => {
        const removed = input.mode === "REPLACE" ? await tx.deleteOtherKeys(scope, keys, at, actor) : [];
        const upserted = await tx.upsertMany(scope, values, at, actor);
        const written = new Map(upserted.map(({ row }) => [row.key, row]));
        const rows: MetadataRow[] = [];
        for (const [index, entry] of values.entries()) {
          const row = written.get(entry.key);
          // Only a compare-and-set leaves an entry unwritten.
          if (!row) {
            const current = await currentVersion(scope, entry.key, tx);
            throw new BatchEntryFailed(index, new VersionConflict(entry.expectedVersion ?? 0, current));
          }
          rows.push(row);
        }
        // Version 1 after an upsert: the key was not live before (created, or expired and restarted).
        const newKeyEntries = rows.flatMap((row, index) => (row.version === 1 ? [index] : []));
        const live = await tx.countLiveOnObject(scope, at);
        const pastLimit = entryPastKeyLimit(newKeyEntries, live, limits.maxKeysPerObject);
        if (pastLimit !== undefined) throw new BatchEntryFailed(pastLimit, keyLimitExceeded(input));
        return {
          result: { entries: rows.map(toEntry), removedKeys: removed.map(({ row }) => row.key).sort() },
          written: [...removed, ...upserted],
        };
      });
      // Committed: now, and only now, subscribers hear of it.
      return published(result, written);
    },

    /** Deletes a live entry; returns it as it was. */
    async deleteEntry(principal: Principal | null, input: DeleteEntryInput): Promise<Changed<MetadataEntry>> {
      assertKey(input.key);
      assertExpectedVersion(input.expectedVersion);
      const { scope, actor } = writeScopeFor(principal, input);
      const expectedVersion = input.expectedVersion ?? undefined;
      const removed = await repository.delete(scope, input.key, expectedVersion, now(), actor);
      if (removed) return published(toEntry(removed.row), [removed]);
      const current = await currentVersion(scope, input.key);
      if (current === 0)
        throw new NotFound(`No metadata '${input.key}' on ${input.linkedObjectType} ${input.identifier}`);
      throw new VersionConflict(expectedVersion ?? current, current);
    },

    /**
     * Deletes several keys' live entries in one statement; returns them as they were, in the order
     * asked. A key with no live entry is not in the result: the batch asks for absence, which holds.
     */
    async deleteEntries(principal: Principal | null, input: DeleteEntriesInput): Promise<Changed<MetadataEntry[]>> {
      assertBatchKeys(input.keys, "keys");
      for (const [index, key] of input.keys.entries()) atEntry(index, () => assertKey(key, "keys"));
      const { scope, actor } = writeScopeFor(principal, input);
      const deleted = await repository.deleteKeys(scope, input.keys, now(), actor);
      const removed = new Map(deleted.map(({ row }) => [row.key, row]));
      const result = input.keys.flatMap((key) => {
        const row = removed.get(key);
        return row ? [toEntry(row)] : [];
      });
      return published(result, deleted);
    },

    /**
     * The periodic job: expired entries are already invisible; this reclaims their rows, batch by
     * batch, each batch with its EXPIRED events. Returns the events.
     */
    async purgeExpired(): Promise<MetadataEvent[]> {
      const at = now();
      const events: MetadataEvent[] = [];
      for (;;) {
        const batch = await repository.purgeExpired(at, MAINTENANCE_BATCH);
        events.push(...published(undefined, batch).events);
        if (batch.length < MAINTENANCE_BATCH) return events;
      }
    },

    /** The periodic job: drops history events older than the retention (METADATA_HISTORY_DAYS); returns how many. */
    async pruneHistory(): Promise<number> {
      const before = new Date(now().getTime() - historyRetentionMs);
      let pruned = 0;
      for (;;) {
        const count = await repository.pruneHistory(before, MAINTENANCE_BATCH);
        pruned += count;
        if (count < MAINTENANCE_BATCH) return pruned;
      }
    },

    /**
     * One object's namespace's changes, newest first (one key's, or every key's), paged by
     * sequence. Reach is a read's: whoever may read the namespace may read its history.
     */
    async listHistory(principal: Principal | null, ref: HistoryRef, page: HistoryPageArgs): Promise<HistoryPage> {
      const key = ref.key ?? undefined;
      if (key !== undefined) assertKey(key);
      const { size } = pageSize({ first: page.first });
      const beforeSequence = decodeSequenceCursor(page.after, "after");
      const scope = scopeFor(principal, "read", ref);
      const events = await repository.findHistory(scope, { key, beforeSequence, limit: size + 1 });
      const edges = events
        .slice(0, size)
        .map((event) => ({ cursor: encodeSequenceCursor(event.sequence), node: toHistoryEvent(event) }));
      return {
        edges,
        pageInfo: {
          hasNextPage: events.length > size,
          hasPreviousPage: beforeSequence !== undefined,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },

    /**
     * Changes of one object's namespace, from now on, for as long as the caller reads them and its
     * token is valid: authorized like a read, once, here (a refusal is an error, not a stream).
     */
    watchChanges(principal: Principal | null, ref: ObjectRef): AsyncIterableIterator<MetadataChange | DomainError> {
      const scope = scopeFor(principal, "read", ref);
      const feed = changes.subscribe({ ...scope, storedNamespace: scope.namespace });
      return endingAtExpiry(feed, principal?.expiresAt);
    },
  };
}

export { MAX_JSON_DEPTH } from "../../json-text.js";

export type MetadataService = ReturnType<typeof createMetadataService>;

/** The list's filters, validated: keys 1-MAX_BATCH_SIZE distinct valid keys, time windows in order. */
function listFilters(args: ListArgs): EntryFilters {
  const keyPrefix = args.keyPrefix ?? undefined;
  assertKeyPrefix(keyPrefix);
  const keys = args.keys ?? undefined;
  if (keys) {
    assertBatchKeys(keys, "keys");
    for (const [index, key] of keys.entries()) atEntry(index, () => assertKey(key, "keys"));
  }
  const created = { after: args.createdAfter ?? undefined, before: args.createdBefore ?? undefined };
  const updated = { after: args.updatedAfter ?? undefined, before: args.updatedBefore ?? undefined };
  assertTimeWindow(created.after, created.before, { after: "createdAfter", before: "createdBefore" });
  assertTimeWindow(updated.after, updated.before, { after: "updatedAfter", before: "updatedBefore" });
  return {
    keyPrefix,
    keys,
    createdAfter: created.after,
    createdBefore: created.before,
    updatedAfter: updated.after,
    updatedBefore: updated.before,
  };
}

/**
 * A Relay page from rows fetched one beyond its size, in reading order (reversed when reading from
 * the end): whether more rows lie ahead is known from the extra row, whether rows lie behind from
 * the cursor the page started at.
 */
function connection(
  rows: MetadataRow[],
  page: { size: number; fromEnd: boolean; after: boolean; before: boolean },
  totalCount: number,
  cursorOf: (row: MetadataRow) => string,
): EntryPage {
  const hasMore = rows.length > page.size;
  const pageRows = rows.slice(0, page.size);
  if (page.fromEnd) pageRows.reverse();
  const edges = pageRows.map((row) => ({ cursor: cursorOf(row), node: toEntry(row) }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.fromEnd ? page.before : hasMore,
      hasPreviousPage: page.fromEnd ? hasMore : page.after,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount,
  };
}

/** A page request's size and direction: `first` or `last`, 0-MAX_PAGE_SIZE. */
export function pageSize(page: Pick<PageArgs, "first" | "last">): { size: number; fromEnd: boolean } {
  if (page.first != null && page.last != null) throw new InvalidInput("first", "cannot be combined with last");
  const fromEnd = page.last != null;
  const size = page.first ?? page.last ?? DEFAULT_PAGE_SIZE;
  if (size < 0 || size > MAX_PAGE_SIZE) {
    throw new InvalidInput(fromEnd ? "last" : "first", `must be between 0 and ${MAX_PAGE_SIZE}`);
  }
  return { size, fromEnd };
}

function entryValues(entry: EntryWrite): EntryValues {
  return {
    key: entry.key,
    value: entry.value,
    expiresAt: entry.expiresAt ?? null,
    expectedVersion: entry.expectedVersion ?? undefined,
  };
}

/** An event as clients see it. */
export function toHistoryEvent(event: MetadataEvent): HistoryEvent {
  return {
    sequence: event.sequence,
    operation: event.operation,
    key: event.key,
    namespace: displayNamespace(event.namespace),
    linkedObjectType: event.linkedObjectType as LinkedObjectType,
    identifier: event.identifier,
    oldVersion: event.oldVersion,
    newVersion: event.newVersion,
    value: event.value,
    actor: event.actor,
    occurredAt: event.occurredAt,
    resourceOwner: event.tenant,
  };
}

/** The parsed value when `value` is JSON text nested at most MAX_JSON_DEPTH levels, else null. */
export function parseJsonValue(value: string): unknown {
  return parseJsonText(value)?.value ?? null;
}
