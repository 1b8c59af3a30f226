import type { Config } from "./config.js";
import type { Database } from "./db/database.js";
import { createMetadataRepository, createMetadataService, type MetadataService } from "./features/metadata/index.js";

/** Every feature's service, built once per app from the database and config. */
export interface Services {
  metadata: MetadataService;
}

export function createServices(db: Database, config: Config): Services {
  return {
    metadata: createMetadataService({
      repository: createMetadataRepository(db),
      limits: config.metadata,
    }),
  };
}
