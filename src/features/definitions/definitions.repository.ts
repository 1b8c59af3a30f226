import type { MetadataDefinition } from "../../../generated/prisma/client.js";
import type { Database } from "../../db/database.js";
import { notify } from "../../db/notifications.js";
import type { SqlRunner } from "../../db/sql.js";

/** A row as Prisma's model types it, without the surrogate id. */
export type DefinitionRow = Omit<MetadataDefinition, "id">;

/** Where a definition lives: a tenant's (namespace, key); namespace "" is the default one. */
export interface DefinitionRef {
  tenant: string;
  namespace: string;
  key: string;
}

export interface DefinitionValues {
  linkedObjectTypes: readonly string[];
  title: Record<string, string>;
  description: string | null;
  type: string;
  maxLength: number | null;
  pattern: string | null;
  allowedValues: readonly string[];
  jsonSchema: unknown;
  /** Compare-and-set: 0 = must not exist; undefined = unconditional. */
  expectedVersion: number | undefined;
  /** A new key is refused once the tenant has this many definitions. */
  maxPerTenant: number;
  now: Date;
}

/** Every instance hears on this channel that a tenant's definitions changed (payload: definitions.cache.ts's notice). */
export const DEFINITIONS_CHANGED = "metadata_definitions_changed";

const COLUMNS = `tenant, namespace, key, linked_object_types AS "linkedObjectTypes", title, description, type,
  max_length AS "maxLength", pattern, allowed_values AS "allowedValues", json_schema AS "jsonSchema", version,
  created_at AS "createdAt", updated_at AS "updatedAt"`;
const THIS_KEY = "tenant = $1 AND namespace = $2 AND key = $3";
/**
 * A tenant's definition writes, one after the other, for the rest of the transaction: the write's
 * own statement then runs in a snapshot taken after the lock, so its count of the tenant's
 * definitions sees every one committed before, and MAX_DEFINITIONS_PER_TENANT holds when writers
 * race at the limit (each counted in its own snapshot: 40 at once passed it by up to 19). The
 * two-key form with its own first key (0x6d64, "md") keeps it apart from the migrations' lock and
 * the objects' (metadata_lock_object).
 */
const LOCK_TENANT_DEFINITIONS = `SELECT pg_advisory_xact_lock(${0x6d64}, hashtext($1::text))`;

/** The only module that talks to the metadata_definition table. */
export function createDefinitionsRepository({ sql, transaction }: Pick<Database, "sql" | "transaction">) {
  /** `change` and the notification in one transaction: other instances hear of it once it commits. */
  const changing = <T>(notice: string, change: (tx: SqlRunner) => Promise<T>) =>
    transaction(async (tx) => {
      const result = await change(tx);
      if (result !== null) await notify(tx, DEFINITIONS_CHANGED, notice);
      return result;
    });

  return {
    /**
     * Every definition of the tenant, in no particular order: they are at most
     * MAX_DEFINITIONS_PER_TENANT, sorted in memory rather than by a sort in the database.
     */
    findAll(tenant: string): Promise<DefinitionRow[]> {
      return sql.query<DefinitionRow>(`SELECT ${COLUMNS} FROM metadata_definition WHERE tenant = $1`, [tenant]);
    },

    async currentVersion(ref: DefinitionRef): Promise<number> {
      const [row] = await sql.query<{ version: number }>(`SELECT version FROM metadata_definition WHERE ${THIS_KEY}`, [
        ref.tenant,
        ref.namespace,
        ref.key,
      ]);
      return row?.version ?? 0;
    },

    /**
     * Creates (version 1) or replaces (version + 1) in one statement. Null when nothing was written:
     * the compare-and-set failed, or a new key would pass `maxPerTenant`. `notice` goes out with the change.
     */
    upsert(ref: DefinitionRef, v: DefinitionValues, notice: string): Promise<DefinitionRow | null> {
      return changing(notice, async (tx) => {
        await tx.query(LOCK_TENANT_DEFINITIONS, [ref.tenant]);
        const [row] = await tx.query<DefinitionRow>(
          `INSERT INTO metadata_definition AS d (tenant, namespace, key, linked_object_types, title, description, type,
  max_length, pattern, allowed_values, json_schema, version, created_at, updated_at)
SELECT $1::text, $2::text, $3::text, $4::text[], $5::jsonb, $6::text, $7::text, $8::int, $9::text, $10::text[],
  $11::jsonb, 1, $12::timestamptz, $12::timestamptz
WHERE ($13::int IS NULL OR $13::int = 0 OR EXISTS (SELECT 1 FROM metadata_definition WHERE ${THIS_KEY}))
  AND (EXISTS (SELECT 1 FROM metadata_definition WHERE ${THIS_KEY})
       OR (SELECT count(*) FROM metadata_definition WHERE tenant = $1) < $14::int)
ON CONFLICT (tenant, namespace, key) DO UPDATE SET
  linked_object_types = EXCLUDED.linked_object_types,
  title = EXCLUDED.title,
  description = EXCLUDED.description,
  type = EXCLUDED.type,
  max_length = EXCLUDED.max_length,
  pattern = EXCLUDED.pattern,
  allowed_values = EXCLUDED.allowed_values,
  json_schema = EXCLUDED.json_schema,
  version = d.version + 1,
  updated_at = EXCLUDED.updated_at
WHERE $13::int IS NULL OR d.version = $13::int
RETURNING ${COLUMNS}`,
          [
            ref.tenant,
            ref.namespace,
            ref.key,
            v.linkedObjectTypes,
            JSON.stringify(v.title),
            v.description,
            v.type,
            v.maxLength,
            v.pattern,
            v.allowedValues,
            v.jsonSchema === null || v.jsonSchema === undefined ? null : JSON.stringify(v.jsonSchema),
            v.now,
            v.expectedVersion ?? null,
            v.maxPerTenant,
          ],
        );
        return row ?? null;
      });
    },

    /** Deletes it, optionally only at `expectedVersion`; returns it as it was. `notice` goes out with the change. */
    delete(ref: DefinitionRef, expectedVersion: number | undefined, notice: string): Promise<DefinitionRow | null> {
      return changing(notice, async (tx) => {
        const [row] = await tx.query<DefinitionRow>(
          `DELETE FROM metadata_definition WHERE ${THIS_KEY} AND ($4::int IS NULL OR version = $4::int) RETURNING ${COLUMNS}`,
          [ref.tenant, ref.namespace, ref.key, expectedVersion ?? null],
        );
        return row ?? null;
      });
    },
  };
}

export type DefinitionsRepository = ReturnType<typeof createDefinitionsRepository>;
