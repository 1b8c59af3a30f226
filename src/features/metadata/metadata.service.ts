import { type Access, authorize, type LinkedObjectType } from "../../auth/policy.js";
import type { Principal } from "../../auth/principal.js";
import {
  BatchEntryFailed,
  type DomainError,
  InvalidInput,
  LimitExceeded,
  NotFound,
  VersionConflict,
} from "../../errors.js";
import { atEntry, type BatchMode, entryPastKeyLimit } from "./metadata.batch.js";
import { type ChangeFeed, type MetadataChange, toChange } from "./metadata.changes.js";
import { decodeCursor, encodeCursor } from "./metadata.cursor.js";
import { type MetadataEntry, toEntry } from "./metadata.entry.js";
import type {
  EntryScope,
  EntryValues,
  MetadataRepository,
  MetadataRow,
  MetadataStatements,
} from "./metadata.repository.js";
import {
  assertBatchKeys,
  assertEntryWrite,
  assertExpectedVersion,
  assertIdentifier,
  assertKey,
  assertKeyPrefix,
  assertNamespace,
} from "./metadata.validation.js";
import { endingAtExpiry } from "./metadata.watch.js";

export type { MetadataEntry } from "./metadata.entry.js";

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

export interface PageArgs {
  keyPrefix?: string | null;
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
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

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
/** Expired rows deleted (and held in memory for their EXPIRED events) per purge statement. */
const PURGE_ROUND = 1000;

export function createMetadataService(deps: {
  repository: MetadataRepository;
  limits: MetadataLimits;
  /** Where committed changes are published and subscriptions read them. */
  changes: ChangeFeed;
  now?: () => Date;
}) {
  const { repository, limits, changes } = deps;
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

  async function currentVersion(scope: EntryScope, key: string, on: MetadataStatements = repository): Promise<number> {
    return (await on.findLive(scope, key, now()))?.version ?? 0;
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

    async listEntries(principal: Principal | null, ref: ObjectRef, page: PageArgs): Promise<EntryPage> {
      const keyPrefix = page.keyPrefix ?? undefined;
      assertKeyPrefix(keyPrefix);
      const { size, fromEnd } = pageSize(page);
      const afterKey = decodeCursor(page.after, "after");
      const beforeKey = decodeCursor(page.before, "before");
      const scope = scopeFor(principal, "read", ref);
      const { rows, totalCount } = await repository.findPage(scope, {
        keyPrefix,
        afterKey,
        beforeKey,
        fromEnd,
        limit: size + 1,
        now: now(),
      });
      const hasMore = rows.length > size;
      const pageRows = rows.slice(0, size);
      if (fromEnd) pageRows.reverse();
      const edges = pageRows.map((row) => ({ cursor: encodeCursor(row.key), node: toEntry(row) }));
      return {
        edges,
        pageInfo: {
          hasNextPage: fromEnd ? beforeKey !== undefined : hasMore,
          hasPreviousPage: fromEnd ? hasMore : afterKey !== undefined,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
        totalCount,
      };
    },

    /** Upsert: version 1 on create, +1 per update; `expectedVersion` makes it a compare-and-set. */
    async setEntry(principal: Principal | null, input: SetEntryInput): Promise<MetadataEntry> {
      const at = now();
      assertEntryWrite(input, at, limits.maxValueLength);
      const scope = scopeFor(principal, "write", input);
      const values = entryValues(input);
      const row = await repository.upsert(scope, { ...values, maxKeysPerObject: limits.maxKeysPerObject, now: at });
      if (row) {
        changes.publish([toChange(row)]);
        return toEntry(row);
      }
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
    async setEntries(principal: Principal | null, input: SetEntriesInput): Promise<SetEntriesResult> {
      const at = now();
      const keys = input.entries.map((entry) => entry.key);
      assertBatchKeys(keys, "entries");
      for (const [index, entry] of input.entries.entries()) {
        atEntry(index, () => assertEntryWrite(entry, at, limits.maxValueLength));
      }
      const scope = scopeFor(principal, "write", input);
      const values = input.entries.map(entryValues);
      // Throwing inside rolls the transaction back: the removals and every entry written before.
      const { removed, rows } = await repository.inObjectTransaction(scope, async (tx) => {
        const removed = input.mode === "REPLACE" ? await tx.deleteOtherKeys(scope, keys, at) : [];
        const written = new Map((await tx.upsertMany(scope, values, at)).map((row) => [row.key, row]));
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
        return { removed, rows };
      });
      // Committed: now, and only now, subscribers hear of it.
      changes.publish([...removed.map((row) => toChange(row, "DELETED")), ...rows.map((row) => toChange(row))]);
      return { entries: rows.map(toEntry), removedKeys: removed.map((row) => row.key).sort() };
    },

    /** Deletes a live entry; returns it as it was. */
    async deleteEntry(principal: Principal | null, input: DeleteEntryInput): Promise<MetadataEntry> {
      assertKey(input.key);
      assertExpectedVersion(input.expectedVersion);
      const scope = scopeFor(principal, "write", input);
      const expectedVersion = input.expectedVersion ?? undefined;
      const row = await repository.delete(scope, input.key, expectedVersion, now());
      if (row) {
        changes.publish([toChange(row, "DELETED")]);
        return toEntry(row);
      }
      const current = await currentVersion(scope, input.key);
      if (current === 0)
        throw new NotFound(`No metadata '${input.key}' on ${input.linkedObjectType} ${input.identifier}`);
      throw new VersionConflict(expectedVersion ?? current, current);
    },

    /**
     * Deletes several keys' live entries in one statement; returns them as they were, in the order
     * asked. A key with no live entry is not in the result: the batch asks for absence, which holds.
     */
    async deleteEntries(principal: Principal | null, input: DeleteEntriesInput): Promise<MetadataEntry[]> {
      assertBatchKeys(input.keys, "keys");
      for (const [index, key] of input.keys.entries()) atEntry(index, () => assertKey(key, "keys"));
      const scope = scopeFor(principal, "write", input);
      const removed = new Map((await repository.deleteKeys(scope, input.keys, now())).map((row) => [row.key, row]));
      const rows = input.keys.flatMap((key) => removed.get(key) ?? []);
      changes.publish(rows.map((row) => toChange(row, "DELETED")));
      return rows.map(toEntry);
    },

    /**
     * The periodic job: expired entries are already invisible; this reclaims their rows, in
     * bounded rounds (each one statement), and publishes each round's entries as EXPIRED.
     */
    async purgeExpired(): Promise<number> {
      const at = now();
      let purged = 0;
      for (;;) {
        const rows = await repository.purgeExpired(at, PURGE_ROUND);
        changes.publish(rows.map((row) => toChange(row, "EXPIRED")));
        purged += rows.length;
        if (rows.length < PURGE_ROUND) return purged;
      }
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

export type MetadataService = ReturnType<typeof createMetadataService>;

function pageSize(page: PageArgs): { size: number; fromEnd: boolean } {
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

/**
 * Deeper JSON is not parsed (jsonValue is null, as for text that is not JSON). Writing the response
 * recurses once per level: a ~5,000-level value, 10 KB of brackets well within
 * METADATA_MAX_VALUE_LENGTH, overflowed the stack and failed every read that selected its jsonValue
 * with a 500.
 */
export const MAX_JSON_DEPTH = 1000;

/** The parsed value when `value` is JSON text nested at most MAX_JSON_DEPTH levels, else null. */
export function parseJsonValue(value: string): unknown {
  if (nestsDeeperThan(value, MAX_JSON_DEPTH)) return null;
  try {
    return JSON.parse(value);
  } catch {
    return null;
  }
}

/** Whether brackets outside JSON strings open more than `max` levels. */
function nestsDeeperThan(text: string, max: number): boolean {
  // Each level takes two characters: shorter text cannot, and costs no scan.
  if (text.length < 2 * (max + 1)) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character.
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
