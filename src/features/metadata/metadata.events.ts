/** What a change did to an entry; one event per change, in the same statement as the change. */
export const EVENT_OPERATIONS = {
  CREATED: { description: "Written while absent (new, or written again after it expired): oldVersion 0." },
  UPDATED: { description: "Written over a live entry." },
  DELETED: { description: "Deleted by a client (deleteMetadata, deleteMetadataKeys, setMetadata REPLACE)." },
  EXPIRED: { description: "Removed by the expiry purge after its expiresAt." },
} as const;
export type EventOperation = keyof typeof EVENT_OPERATIONS;

/** One event as stored (namespace as stored: "", a name, or "$app:<client id>"). */
export interface MetadataEvent {
  /** From one global sequence: increasing, not gapless; concurrent transactions may commit out of order. */
  sequence: number;
  operation: EventOperation;
  tenant: string;
  linkedObjectType: string;
  identifier: string;
  namespace: string;
  key: string;
  /** 0 when the entry was absent. */
  oldVersion: number;
  /** Null for DELETED and EXPIRED. */
  newVersion: number | null;
  /** The new value; null for DELETED and EXPIRED. */
  value: string | null;
  /** The token's `sub`, or its client id in client mode; null for the expiry job. */
  actor: string | null;
  occurredAt: Date;
}
