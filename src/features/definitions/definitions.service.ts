import { authorizeDefinitions, type LinkedObjectType } from "../../auth/policy.js";
import type { Principal } from "../../auth/principal.js";
import type { Listener } from "../../db/notifications.js";
import { InvalidInput, LimitExceeded, NotFound, VersionConflict } from "../../errors.js";
import { assertKey, pageSize, type TenantValueRules } from "../metadata/index.js";
import { createDefinitionsCache } from "./definitions.cache.js";
import { decodeDefinitionCursor, encodeDefinitionCursor } from "./definitions.cursor.js";
import type { DefinitionRow, DefinitionsRepository } from "./definitions.repository.js";
import { assertDefinitionInput, type DefinitionInput, storedNamespace } from "./definitions.validation.js";
import { compileValueCheck, type ValueCheck, type ValueType } from "./definitions.values.js";

/** A definition as clients see it: the default namespace is null. */
export interface Definition {
  namespace: string | null;
  key: string;
  linkedObjectTypes: LinkedObjectType[];
  title: Record<string, string>;
  description: string | null;
  type: ValueType;
  maxLength: number | null;
  pattern: string | null;
  /** Null: any value. */
  allowedValues: string[] | null;
  jsonSchema: unknown;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface DefinitionPageArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
}

export interface DefinitionPage {
  edges: { cursor: string; node: Definition }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  totalCount: number;
}

export interface RemoveDefinitionInput {
  namespace?: string | null;
  key: string;
  expectedVersion?: number | null;
}

/** What an entry needs to find its definition. */
export interface EntryRef {
  namespace: string | null;
  linkedObjectType: LinkedObjectType;
  key: string;
}

/** At most this many definitions per tenant: each instance keeps a tenant's all in memory. */
export const MAX_DEFINITIONS_PER_TENANT = 1000;

/** A tenant's definitions as loaded: in (namespace, key) order, and checkable. */
interface TenantDefinitions extends TenantValueRules {
  all: readonly Definition[];
  find(namespace: string, key: string): Definition | undefined;
}

export function createDefinitionsService(deps: {
  repository: DefinitionsRepository;
  listener: Listener;
  limits: { maxValueLength: number };
  now?: () => Date;
}) {
  const { repository, limits } = deps;
  const now = deps.now ?? (() => new Date());
  const cache = createDefinitionsCache<TenantDefinitions>({
    load: async (tenant) => compileTenant(await repository.findAll(tenant)),
    listener: deps.listener,
  });

  return {
    /**
     * Creates or replaces the definition of (namespace, key): an upsert, version 1 then +1. Values
     * already stored are left as they are; from now on, writes of the key are checked.
     */
    async define(principal: Principal | null, input: DefinitionInput): Promise<Definition> {
      const { rule, linkedObjectTypes, title } = assertDefinitionInput(input, limits.maxValueLength);
      const { tenant } = authorizeDefinitions(principal, "write");
      const ref = { tenant, namespace: storedNamespace(input.namespace), key: input.key };
      const expectedVersion = input.expectedVersion ?? undefined;
      const row = await repository.upsert(
        ref,
        {
          ...rule,
          linkedObjectTypes,
          title,
          description: input.description ?? null,
          expectedVersion,
          maxPerTenant: MAX_DEFINITIONS_PER_TENANT,
          now: now(),
        },
        cache.notice(tenant),
      );
      if (row) {
        cache.invalidate(tenant);
        return toDefinition(row);
      }
      const current = await repository.currentVersion(ref);
      if (expectedVersion !== undefined && expectedVersion !== current) {
        throw new VersionConflict(expectedVersion, current);
      }
      throw new LimitExceeded(`The tenant already has ${MAX_DEFINITIONS_PER_TENANT} definitions`, {
        limit: MAX_DEFINITIONS_PER_TENANT,
      });
    },

    /** Removes a definition; the key's values stay, free-form again. Returns it as it was. */
    async remove(principal: Principal | null, input: RemoveDefinitionInput): Promise<Definition> {
      assertKey(input.key);
      const namespace = storedNamespace(input.namespace);
      if (input.expectedVersion != null && input.expectedVersion < 1) {
        throw new InvalidInput("expectedVersion", "must be the definition's current version");
      }
      const { tenant } = authorizeDefinitions(principal, "write");
      const ref = { tenant, namespace, key: input.key };
      const expectedVersion = input.expectedVersion ?? undefined;
      const row = await repository.delete(ref, expectedVersion, cache.notice(tenant));
      if (row) {
        cache.invalidate(tenant);
        return toDefinition(row);
      }
      const current = await repository.currentVersion(ref);
      if (current === 0) throw new NotFound(`No definition of '${input.key}' in ${namespaceName(namespace)}`);
      throw new VersionConflict(expectedVersion ?? current, current);
    },

    /** The tenant's definitions by namespace (default first), then key; served from memory. */
    async list(principal: Principal | null, page: DefinitionPageArgs): Promise<DefinitionPage> {
      const { size, fromEnd } = pageSize(page);
      const after = decodeDefinitionCursor(page.after, "after");
      const before = decodeDefinitionCursor(page.before, "before");
      const { tenant } = authorizeDefinitions(principal, "read");
      const { all } = await cache.get(tenant);
      const inRange = all.filter((d) => {
        const position = encodePosition(d);
        return (after === undefined || position > after) && (before === undefined || position < before);
      });
      const nodes = fromEnd ? inRange.slice(Math.max(0, inRange.length - size)) : inRange.slice(0, size);
      const edges = nodes.map((node) => ({ cursor: encodeDefinitionCursor(encodePosition(node)), node }));
      return {
        edges,
        pageInfo: {
          hasNextPage: fromEnd ? before !== undefined : inRange.length > size,
          hasPreviousPage: fromEnd ? inRange.length > size : after !== undefined,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
        totalCount: all.length,
      };
    },

    /**
     * The definition that governs an entry, if any (Metadata.definition). Served from the tenant's
     * definitions in memory: a page of entries costs at most one statement, shared by all of them.
     */
    async definitionOf(principal: Principal | null, entry: EntryRef): Promise<Definition | null> {
      const { tenant } = authorizeDefinitions(principal, "read");
      const namespace = entry.namespace ?? "";
      const loaded = cache.get(tenant);
      const definition = (loaded instanceof Promise ? await loaded : loaded).find(namespace, entry.key);
      return definition?.linkedObjectTypes.includes(entry.linkedObjectType) ? definition : null;
    },

    /** Resolves once this instance hears of definition changes made by others (see definitions.cache.ts). */
    ready: cache.ready,

    /** What the metadata service checks writes against (src/services.ts wires it in). */
    valueRules: { forTenant: (tenant: string) => cache.get(tenant) },
  };
}

export type DefinitionsService = ReturnType<typeof createDefinitionsService>;

function compileTenant(rows: readonly DefinitionRow[]): TenantDefinitions {
  const byKey = new Map<string, { definition: Definition; types: ReadonlySet<string>; check: ValueCheck }>();
  const all: Definition[] = [];
  const ordered = rows.toSorted((a, b) => compare(position(a.namespace, a.key), position(b.namespace, b.key)));
  for (const row of ordered) {
    const definition = toDefinition(row);
    all.push(definition);
    byKey.set(position(row.namespace, row.key), {
      definition,
      types: new Set(row.linkedObjectTypes),
      check: compileValueCheck({
        type: definition.type,
        maxLength: row.maxLength,
        pattern: row.pattern,
        allowedValues: row.allowedValues,
        jsonSchema: row.jsonSchema,
      }),
    });
  }
  return {
    all,
    find: (namespace, key) => byKey.get(position(namespace, key))?.definition,
    check({ namespace, linkedObjectType, key, value }) {
      // A key nobody defined costs this one lookup (a client's "$app:<id>" namespace never matches).
      const defined = byKey.get(position(namespace, key));
      if (defined?.types.has(linkedObjectType)) defined.check(value);
    },
  };
}

/** (namespace, key) as one string ordered as the pair: a space sorts below every character they may hold. */
function position(namespace: string, key: string): string {
  return `${namespace} ${key}`;
}

/** Code unit order: byte order, as namespaces and keys are ASCII (the cursors' order too). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function encodePosition(definition: Definition): string {
  return position(definition.namespace ?? "", definition.key);
}

function namespaceName(namespace: string): string {
  return namespace === "" ? "the default namespace" : `namespace '${namespace}'`;
}

function toDefinition(row: DefinitionRow): Definition {
  return {
    namespace: row.namespace === "" ? null : row.namespace,
    key: row.key,
    linkedObjectTypes: row.linkedObjectTypes as LinkedObjectType[],
    title: row.title as Record<string, string>,
    description: row.description,
    type: row.type as ValueType,
    maxLength: row.maxLength,
    pattern: row.pattern,
    allowedValues: row.allowedValues.length ? row.allowedValues : null,
    jsonSchema: row.jsonSchema,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
