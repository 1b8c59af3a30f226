import type { Config } from "./config.js";
import type { Database } from "./db/database.js";
import {
  createDefinitionsRepository,
  createDefinitionsService,
  type DefinitionsService,
} from "./features/definitions/index.js";
import {
  type ChangeFeed,
  createLocalChangeFeed,
  createMetadataRepository,
  createMetadataService,
  createPostgresChangeFeed,
  type MetadataService,
  withPointReadCache,
} from "./features/metadata/index.js";

/** Every feature's service, built once per app from the database and config. */
export interface Services {
  metadata: MetadataService;
  definitions: DefinitionsService;
  /** Committed metadata changes, for subscriptions; closed with the app. */
  changes: ChangeFeed;
}

export function createServices(
  db: Database,
  config: Config,
  { warn = (message: string) => console.warn(message) }: { warn?: (message: string) => void } = {},
): Services {
  const metadataRepository = createMetadataRepository(db);
  const definitions = createDefinitionsService({
    repository: createDefinitionsRepository(db),
    listener: db.listener,
    limits: config.metadata,
  });
  // Only PostgreSQL can have other instances writing: they are heard through LISTEN/NOTIFY.
  const changes =
    db.kind === "postgres" ? createPostgresChangeFeed({ listener: db.listener, warn }) : createLocalChangeFeed();
  return {
    metadata: createMetadataService({
      // Only the embedded database is owned by this process alone: only there may reads be cached.
      repository: db.kind === "pglite" ? withPointReadCache(metadataRepository) : metadataRepository,
      limits: config.metadata,
      historyRetentionMs: config.historyRetentionMs,
      // Writes of defined keys are validated against their definitions.
      valueRules: definitions.valueRules,
      changes,
    }),
    definitions,
    changes,
  };
}
