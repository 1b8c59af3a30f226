import { type Access, authorize, type LinkedObjectType } from "../../auth/policy.js";
import type { Principal } from "../../auth/principal.js";
import { InvalidInput, LimitExceeded, NotFound, VersionConflict } from "../../errors.js";
import { decodeCursor, encodeCursor } from "./metadata.cursor.js";
import type { EntryScope, MetadataRepository, MetadataRow } from "./metadata.repository.js";
import {
  assertExpectedVersion,
  assertExpiresAt,
  assertIdentifier,
  assertKey,
  assertKeyPrefix,
  assertNamespace,
  assertValue,
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

export interface SetEntryInput extends ObjectRef {
  key: string;
  value: string;
  expiresAt?: Date | null;
  expectedVersion?: number | null;
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

export function createMetadataService(deps: {
  repository: MetadataRepository;
  limits: MetadataLimits;
  now?: () => Date;
}) {
  const { repository, limits } = deps;
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

  async function currentVersion(scope: EntryScope, key: string): Promise<number> {
    return (await repository.findLive(scope, key, now()))?.version ?? 0;
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
      assertKey(input.key);
      assertValue(input.value, limits.maxValueLength);
      assertExpiresAt(input.expiresAt, at);
      assertExpectedVersion(input.expectedVersion);
      const scope = scopeFor(principal, "write", input);
      const expectedVersion = input.expectedVersion ?? undefined;
      const row = await repository.upsert(scope, {
        key: input.key,
        value: input.value,
        expiresAt: input.expiresAt ?? null,
        expectedVersion,
        maxKeysPerObject: limits.maxKeysPerObject,
        now: at,
      });
      if (row) return toEntry(row);
      // Nothing written: say why. A version mismatch wins; otherwise the key limit stopped it.
      const current = await currentVersion(scope, input.key);
      if (expectedVersion !== undefined && expectedVersion !== current) {
        throw new VersionConflict(expectedVersion, current);
      }
      throw new LimitExceeded(
        `${input.linkedObjectType} ${input.identifier} already has ${limits.maxKeysPerObject} keys (METADATA_MAX_KEYS_PER_OBJECT)`,
        { limit: limits.maxKeysPerObject },
      );
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

    /** The periodic job: expired entries are already invisible; this reclaims their rows. */
    purgeExpired(): Promise<number> {
      return repository.purgeExpired(now());
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
