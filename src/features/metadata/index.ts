export { withPointReadCache } from "./metadata.cache.js";
export { createMetadataRepository, type MetadataRepository } from "./metadata.repository.js";
export { createMetadataService, type MetadataEntry, type MetadataService } from "./metadata.service.js";
