export { withPointReadCache } from "./metadata.cache.js";
export type { ChangeFeed, ChangeFilter, MetadataChange } from "./metadata.changes.js";
export { createLocalChangeFeed } from "./metadata.feed.js";
export { createPostgresChangeFeed } from "./metadata.feed-postgres.js";
export { createMetadataRepository, type MetadataRepository } from "./metadata.repository.js";
export { createMetadataService, type MetadataEntry, type MetadataService } from "./metadata.service.js";
