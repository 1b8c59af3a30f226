import type { Config } from "./config.js";
import type { Database } from "./db/database.js";
import {
  createDefinitionsRepository,
  createDefinitionsService,
  type DefinitionsService,
} from "./features/definitions/index.js";
import {
  createMetadataRepository,
  createMetadataService,
  type MetadataService,
  withPointReadCache,
} from "./features/metadata/index.js";

/** Every feature's service, built once per app from the database and config. */
export interface Services {
  metadata: MetadataService;
  definitions: DefinitionsService;
}

export function createServices(db: Database, config: Config): Services {
  const metadataRepository = createMetadataRepository(db);
  const definitions = createDefinitionsService({
    repository: createDefinitionsRepository(db),
    listener: db.listener,
    limits: config.metadata,
  });
  return {
    metadata: createMetadataService({
      // Only the embedded database is owned by this process alone: only there may reads be cached.
      repository: db.kind === "pglite" ? withPointReadCache(metadataRepository) : metadataRepository,
      limits: config.metadata,
      historyRetentionMs: config.historyRetentionMs,
      // Writes of defined keys are validated against their definitions.
      valueRules: definitions.valueRules,
    }),
    definitions,
  };
}
