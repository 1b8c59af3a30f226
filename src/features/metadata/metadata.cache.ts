import { LRUCache } from "lru-cache";
import type { EntryScope, MetadataRepository, MetadataRow } from "./metadata.repository.js";

const MAX_CACHED_ROWS = 50_000;

/**
 * Embedded mode only: point reads served from memory. Coherent there because this process owns
 * the PGlite data directory and every write goes through this repository; with PostgreSQL other
 * instances write too, so it is never used there. A PGlite point query costs ~700 µs of this
 * thread (WASM plus its protocol handling), more than the rest of the request.
 *
 * Writes only invalidate. A read fills the cache only if no write started while it ran (one
 * global generation counter: conservative, never stale). Expiry is checked on every hit.
 */
export function withPointReadCache(repository: MetadataRepository): MetadataRepository {
  const rows = new LRUCache<string, MetadataRow>({ max: MAX_CACHED_ROWS });
  let generation = 0;
  const keyOf = (scope: EntryScope, key: string) =>
    JSON.stringify([scope.tenant, scope.linkedObjectType, scope.identifier, scope.namespace, key]);
  const invalidate = (scope: EntryScope, key: string) => {
    generation++;
    rows.delete(keyOf(scope, key));
  };
  const live = (row: MetadataRow, now: Date) => row.expiresAt === null || row.expiresAt > now;

  return {
    ...repository,
    async findLive(scope, key, now) {
      const cacheKey = keyOf(scope, key);
      const cached = rows.get(cacheKey);
      if (cached) return live(cached, now) ? cached : null;
      const started = generation;
      const row = await repository.findLive(scope, key, now);
      if (row && generation === started) rows.set(cacheKey, row);
      return row;
    },
    async upsert(scope, values) {
      invalidate(scope, values.key);
      try {
        return await repository.upsert(scope, values);
      } finally {
        invalidate(scope, values.key);
      }
    },
    async delete(scope, key, expectedVersion, now, actor) {
      invalidate(scope, key);
      try {
        return await repository.delete(scope, key, expectedVersion, now, actor);
      } finally {
        invalidate(scope, key);
      }
    },
    async deleteKeys(scope, keys, now, actor) {
      for (const key of keys) invalidate(scope, key);
      try {
        return await repository.deleteKeys(scope, keys, now, actor);
      } finally {
        for (const key of keys) invalidate(scope, key);
      }
    },
    // A transaction's writes are invalidated as they run and again once it has ended (committed or
    // rolled back): until then, a read sees the rows as they were.
    async inObjectTransaction(scope, fn) {
      const written: [EntryScope, string][] = [];
      const writing = (s: EntryScope, keys: readonly string[]) => {
        for (const key of keys) {
          written.push([s, key]);
          invalidate(s, key);
        }
      };
      try {
        return await repository.inObjectTransaction(scope, (tx) =>
          fn({
            ...tx,
            upsert(s, values) {
              writing(s, [values.key]);
              return tx.upsert(s, values);
            },
            delete(s, key, expectedVersion, now, actor) {
              writing(s, [key]);
              return tx.delete(s, key, expectedVersion, now, actor);
            },
            upsertMany(s, entries, now, actor) {
              writing(
                s,
                entries.map((entry) => entry.key),
              );
              return tx.upsertMany(s, entries, now, actor);
            },
            deleteKeys(s, keys, now, actor) {
              writing(s, keys);
              return tx.deleteKeys(s, keys, now, actor);
            },
            async deleteOtherKeys(s, keep, now, actor) {
              // Which keys go is known only afterwards: no read that overlaps the statement may fill.
              generation++;
              const removed = await tx.deleteOtherKeys(s, keep, now, actor);
              writing(
                s,
                removed.map(({ row }) => row.key),
              );
              return removed;
            },
          }),
        );
      } finally {
        for (const [s, key] of written) invalidate(s, key);
      }
    },
  };
}
