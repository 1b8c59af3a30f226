export { withPointReadCache } from "./metadata.cache.js";
export type { EventOperation, MetadataEvent } from "./metadata.events.js";
export { createMetadataRepository, type MetadataRepository } from "./metadata.repository.js";
export {
  type Changed,
  createMetadataService,
  type HistoryEvent,
  type MetadataEntry,
  type MetadataService,
  toHistoryEvent,
} from "./metadata.service.js";
