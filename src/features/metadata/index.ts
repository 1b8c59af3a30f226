export { withPointReadCache } from "./metadata.cache.js";
export type { ChangeFeed, ChangeFilter, MetadataChange } from "./metadata.changes.js";
export type { EventOperation, MetadataEvent } from "./metadata.events.js";
export { createLocalChangeFeed } from "./metadata.feed.js";
export { createPostgresChangeFeed } from "./metadata.feed-postgres.js";
export { createMetadataRepository, type MetadataRepository } from "./metadata.repository.js";
export { LinkedObjectTypeEnum, MetadataRef } from "./metadata.schema.js";
export {
  type Changed,
  createMetadataService,
  DEFAULT_PAGE_SIZE,
  type HistoryEvent,
  MAX_PAGE_SIZE,
  type MetadataEntry,
  type MetadataService,
  pageSize,
  type TenantValueRules,
  toHistoryEvent,
  type ValueRules,
} from "./metadata.service.js";
export { assertExpectedVersion, assertKey, assertNamespace } from "./metadata.validation.js";
