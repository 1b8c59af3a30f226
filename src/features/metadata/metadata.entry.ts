import type { LinkedObjectType } from "../../auth/policy.js";
import type { MetadataRow } from "./metadata.repository.js";

/** An entry as clients see it: the namespace as they name it, "$app" for a client's own. */
export interface MetadataEntry {
  key: string;
  value: string;
  namespace: string | null;
  linkedObjectType: LinkedObjectType;
  identifier: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date | null;
  /** The sequence of its last change (its last history event's). */
  sequence: number;
  /** The tenant that owns it. */
  resourceOwner: string;
}

export function toEntry(row: MetadataRow): MetadataEntry {
  return {
    key: row.key,
    value: row.value,
    namespace: displayNamespace(row.namespace),
    linkedObjectType: row.linkedObjectType as LinkedObjectType,
    identifier: row.identifier,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    expiresAt: row.expiresAt,
    sequence: row.sequence,
    resourceOwner: row.tenant,
  };
}

/** The namespace as clients name it: null for the default one, "$app" for a client's own. */
export function displayNamespace(stored: string): string | null {
  if (stored === "") return null;
  return stored.startsWith("$app:") ? "$app" : stored;
}
