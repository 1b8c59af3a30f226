import { type Access, authorize, type LinkedObjectType } from "../../auth/policy.js";
import type { Principal } from "../../auth/principal.js";
import { BatchEntryFailed, InvalidInput, LimitExceeded, NotFound, VersionConflict } from "../../errors.js";
import { parseJsonText } from "../../json-text.js";
import { atEntry, type BatchMode, entryPastKeyLimit } from "./metadata.batch.js";
import { decodeCursor, encodeCursor } from "./metadata.cursor.js";
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

/** An entry as clients see it: the namespace as they name it, "$app" for a client's own. */
export interface MetadataEntry {
  key: string;
  value: string;
  namespace: string | null;
  linkedObjectType: LinkedObjectType;
  identifier: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date | null;
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

export function createMetadataService(deps: {
  repository: MetadataRepository;
  limits: MetadataLimits;
  valueRules?: ValueRules;
  now?: () => Date;
}) {
  const { repository, limits } = deps;
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
      const checking = checkValues(scope, input.linkedObjectType, [input], false);
      if (checking) await checking;
      const values = entryValues(input);
      const row = await repository.upsert(scope, { ...values, maxKeysPerObject: limits.maxKeysPerObject, now: at });
      if (row) return toEntry(row);
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
      const checking = checkValues(scope, input.linkedObjectType, input.entries, true);
      if (checking) await checking;
      const values = input.entries.map(entryValues);
      // Throwing inside rolls the transaction back: the removals and every entry written before.
      return repository.inObjectTransaction(scope, async (tx) => {
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
        return { entries: rows.map(toEntry), removedKeys: removed.map((row) => row.key).sort() };
      });
    },

    /** Deletes a live entry; returns it as it was. */
    async deleteEntry(principal: Principal | null, input: DeleteEntryInput): Promise<MetadataEntry> {
      assertKey(input.key);
      assertExpectedVersion(input.expectedVersion);
      const scope = scopeFor(principal, "write", input);
      const expectedVersion = input.expectedVersion ?? undefined;
      const row = await repository.delete(scope, input.key, expectedVersion, now());
      if (row) return toEntry(row);
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
      return input.keys.flatMap((key) => {
        const row = removed.get(key);
        return row ? [toEntry(row)] : [];
      });
    },

    /** The periodic job: expired entries are already invisible; this reclaims their rows. */
    purgeExpired(): Promise<number> {
      return repository.purgeExpired(now());
    },
  };
}

export { MAX_JSON_DEPTH } from "../../json-text.js";

export type MetadataService = ReturnType<typeof createMetadataService>;

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

function toEntry(row: MetadataRow): MetadataEntry {
  return {
    key: row.key,
    value: row.value,
    namespace: displayNamespace(row.namespace),
    linkedObjectType: row.linkedObjectType as LinkedObjectType,
    identifier: row.identifier,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    expiresAt: row.expiresAt,
  };
}

function displayNamespace(stored: string): string | null {
  if (stored === "") return null;
  return stored.startsWith("$app:") ? "$app" : stored;
}

/** The parsed value when `value` is JSON text nested at most MAX_JSON_DEPTH levels, else null. */
export function parseJsonValue(value: string): unknown {
  return parseJsonText(value)?.value ?? null;
}
