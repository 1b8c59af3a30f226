import { type MetadataEntry, toEntry } from "./metadata.entry.js";
import type { EventOperation } from "./metadata.events.js";
import type { Written } from "./metadata.repository.js";

/** One committed change of one entry, as subscribers receive it. */
export interface MetadataChange {
  /** Its history event's sequence (metadataHistory). */
  sequence: number;
  operation: EventOperation;
  /** As written; for DELETED and EXPIRED, as it was. */
  entry: MetadataEntry;
  /** Routing: which subscribers may see it (never sent to clients). */
  tenant: string;
  storedNamespace: string;
}

/** What one subscription receives: exactly one object's namespace of one tenant. */
export interface ChangeFilter {
  tenant: string;
  linkedObjectType: string;
  identifier: string;
  /** As stored: "" (default), the name, or "$app:<client id>". */
  storedNamespace: string;
}

/**
 * Where committed changes go and subscriptions read them. The in-process feed
 * (metadata.feed.ts) serves one process; the PostgreSQL one (metadata.feed-postgres.ts) adds the
 * other instances through LISTEN/NOTIFY.
 */
export interface ChangeFeed {
  /** Called after the changes' transaction committed; never throws, never waits. */
  publish(changes: readonly MetadataChange[]): void;
  /**
   * The changes matching `filter` published from now on, until `signal` aborts, the consumer
   * returns, or the feed closes. A consumer that falls too far behind gets a FeedOverflow and the end.
   */
  subscribe(filter: ChangeFilter, signal?: AbortSignal): AsyncIterableIterator<MetadataChange | FeedOverflow>;
  /** Ends every subscription; later subscriptions end at once. Publishing still works. */
  endSubscriptions(): void;
  /** Ends subscriptions, sends what is still queued for other instances, and stops. */
  close(): Promise<void>;
}

/** The last item of a subscription whose consumer did not keep up: it ends there. */
export class FeedOverflow {
  constructor(readonly pending: number) {}
}

/** The ONE way a write becomes a change: every write path of the service publishes through it. */
export function toChange({ row, event }: Written): MetadataChange {
  return {
    sequence: event.sequence,
    operation: event.operation,
    entry: toEntry(row),
    tenant: row.tenant,
    storedNamespace: row.namespace,
  };
}

export function matches(filter: ChangeFilter, change: MetadataChange): boolean {
  return (
    change.tenant === filter.tenant &&
    change.storedNamespace === filter.storedNamespace &&
    change.entry.identifier === filter.identifier &&
    change.entry.linkedObjectType === filter.linkedObjectType
  );
}
