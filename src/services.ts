import type { Config } from "./config.js";
import type { Database } from "./db/database.js";
import {
  createMetadataRepository,
  createMetadataService,
  type MetadataService,
  withPointReadCache,
} from "./features/metadata/index.js";

/** Every feature's service, built once per app from the database and config. */
export interface Services {
  metadata: MetadataService;
}

export function createServices(db: Database, config: Config): Services {
  const metadataRepository = createMetadataRepository(db);
  return {
    metadata: createMetadataService({
      // Only the embedded database is owned by this process alone: only there may reads be cached.
      repository: db.kind === "pglite" ? withPointReadCache(metadataRepository) : metadataRepository,
      limits: config.metadata,
      historyRetentionMs: config.historyRetentionMs,
    }),
  };
}
