export { withPointReadCache } from "./metadata.cache.js";
export { createMetadataRepository, type MetadataRepository } from "./metadata.repository.js";
export { LinkedObjectTypeEnum, MetadataRef } from "./metadata.schema.js";
export {
  createMetadataService,
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  type MetadataEntry,
  type MetadataService,
  pageSize,
  type TenantValueRules,
  type ValueRules,
} from "./metadata.service.js";
export { assertExpectedVersion, assertKey, assertNamespace } from "./metadata.validation.js";
