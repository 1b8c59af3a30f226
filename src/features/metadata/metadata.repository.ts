import type { Metadata as MetadataRow, PrismaClient } from "../../generated/prisma/client.js";

export type { MetadataRow };

/** One linked object's namespace within a tenant: where every statement is confined. */
export interface EntryScope {
  tenant: string;
  linkedObjectType: string;
  identifier: string;
  namespace: string;
}

export interface UpsertValues {
  key: string;
  value: string;
  expiresAt: Date | null;
  /** Compare-and-set: 0 = must not exist; undefined = unconditional. */
  expectedVersion: number | undefined;
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

const live = (now: Date) => ({ OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] });

// Aliases give raw rows the shape of Prisma's model.
const RETURNING = `RETURNING id, tenant, linked_object_type AS "linkedObjectType", identifier, namespace, key,
  value, version, created_at AS "createdAt", updated_at AS "updatedAt", expires_at AS "expiresAt"`;

/** The only module that talks to the metadata table. */
export function createMetadataRepository(prisma: PrismaClient) {
  return {
    findLive(scope: EntryScope, key: string, now: Date): Promise<MetadataRow | null> {
      return prisma.metadata.findUnique({ where: { entryKey: { ...scope, key }, ...live(now) } });
    },

    findManyLive(scope: EntryScope, now: Date): Promise<MetadataRow[]> {
      return prisma.metadata.findMany({ where: { ...scope, ...live(now) }, orderBy: { key: "asc" } });
    },

    findPage(scope: EntryScope, q: PageQuery): Promise<MetadataRow[]> {
      return prisma.metadata.findMany({
        where: {
          ...scope,
          ...live(q.now),
          key: {
            ...(q.keyPrefix !== undefined && { startsWith: q.keyPrefix }),
            ...(q.afterKey !== undefined && { gt: q.afterKey }),
            ...(q.beforeKey !== undefined && { lt: q.beforeKey }),
          },
        },
        orderBy: { key: q.fromEnd ? "desc" : "asc" },
        take: q.limit,
      });
    },

    countLive(scope: EntryScope, keyPrefix: string | undefined, now: Date): Promise<number> {
      return prisma.metadata.count({
        where: { ...scope, ...live(now), ...(keyPrefix !== undefined && { key: { startsWith: keyPrefix } }) },
      });
    },

    /**
     * Creates or updates in one statement. Returns null when nothing was written: the
     * compare-and-set failed, or a new key would pass the per-object limit. An expired row counts
     * as absent: writing it starts again at version 1.
     */
    async upsert(scope: EntryScope, v: UpsertValues): Promise<MetadataRow | null> {
      const { tenant, linkedObjectType: type, identifier, namespace } = scope;
      const expected = v.expectedVersion ?? null;
      const rows = await prisma.$queryRawUnsafe<MetadataRow[]>(
        `INSERT INTO metadata AS m (tenant, linked_object_type, identifier, namespace, key, value, expires_at, version, created_at, updated_at)
SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::timestamptz, 1, $9::timestamptz, $9::timestamptz
WHERE ($8::int IS NULL OR $8::int = 0
       OR EXISTS (SELECT 1 FROM metadata WHERE tenant = $1 AND linked_object_type = $2 AND identifier = $3 AND namespace = $4 AND key = $5))
  AND CASE
        WHEN EXISTS (SELECT 1 FROM metadata WHERE tenant = $1 AND linked_object_type = $2 AND identifier = $3
                     AND namespace = $4 AND key = $5 AND (expires_at IS NULL OR expires_at > $9::timestamptz))
        THEN true
        ELSE (SELECT count(*) FROM metadata WHERE tenant = $1 AND linked_object_type = $2 AND identifier = $3
              AND (expires_at IS NULL OR expires_at > $9::timestamptz)) < $10::int
      END
ON CONFLICT (tenant, linked_object_type, identifier, namespace, key) DO UPDATE SET
  value = EXCLUDED.value,
  expires_at = EXCLUDED.expires_at,
  version = CASE WHEN m.expires_at <= $9::timestamptz THEN 1 ELSE m.version + 1 END,
  created_at = CASE WHEN m.expires_at <= $9::timestamptz THEN $9 ELSE m.created_at END,
  updated_at = $9::timestamptz
WHERE $8::int IS NULL OR $8::int = CASE WHEN m.expires_at <= $9::timestamptz THEN 0 ELSE m.version END
${RETURNING}`,
        tenant,
        type,
        identifier,
        namespace,
        v.key,
        v.value,
        v.expiresAt,
        expected,
        v.now,
        v.maxKeysPerObject,
      );
      return rows[0] ?? null;
    },

    /** Deletes a live entry, optionally only at `expectedVersion`; returns it as it was. */
    async delete(scope: EntryScope, key: string, expectedVersion: number | undefined, now: Date) {
      const rows = await prisma.$queryRawUnsafe<MetadataRow[]>(
        `DELETE FROM metadata
WHERE tenant = $1::text AND linked_object_type = $2::text AND identifier = $3::text AND namespace = $4::text AND key = $5::text
  AND (expires_at IS NULL OR expires_at > $6::timestamptz) AND ($7::int IS NULL OR version = $7::int)
${RETURNING}`,
        scope.tenant,
        scope.linkedObjectType,
        scope.identifier,
        scope.namespace,
        key,
        now,
        expectedVersion ?? null,
      );
      return rows[0] ?? null;
    },

    /** Removes expired rows; returns how many. */
    async purgeExpired(now: Date): Promise<number> {
      const { count } = await prisma.metadata.deleteMany({ where: { expiresAt: { lte: now } } });
      return count;
    },
  };
}

export type MetadataRepository = ReturnType<typeof createMetadataRepository>;
