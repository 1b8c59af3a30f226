import type pg from "pg";
import { openNotifyChannel } from "../../db/notify.js";
import type { ChangeFeed, MetadataChange } from "./metadata.changes.js";
import { createLocalChangeFeed } from "./metadata.feed.js";

/** The LISTEN/NOTIFY channel every instance on one database shares. */
export const CHANGES_CHANNEL = "metadata_changes";

/** What one publish sends: the changes of one committed write. */
interface Envelope {
  changes: MetadataChange[];
}

/**
 * PostgreSQL: changes reach this process's subscribers at once (the local feed) and the other
 * instances' through NOTIFY on CHANGES_CHANNEL (src/db/notify.ts). Publishing happens after the
 * write committed, so a rolled-back write notifies nobody; the NOTIFY itself is best-effort: during
 * a database outage other instances miss changes (and a warning says so).
 */
export function createPostgresChangeFeed(deps: {
  dedicatedClient: (applicationName: string) => pg.Client;
  warn: (message: string) => void;
}): ChangeFeed {
  const local = createLocalChangeFeed();
  const channel = openNotifyChannel({
    channel: CHANGES_CHANNEL,
    newClient: () => deps.dedicatedClient("metadata-graph changes"),
    warn: deps.warn,
    onMessage(message) {
      const envelope = parseEnvelope(message);
      // Only other instances' messages arrive here: this one's were delivered locally already.
      if (envelope) local.publish(envelope.changes);
    },
  });

  return {
    publish(changes) {
      if (changes.length === 0) return;
      local.publish(changes);
      const envelope: Envelope = { changes: [...changes] };
      channel.send(JSON.stringify(envelope));
    },
    subscribe: (filter, signal) => local.subscribe(filter, signal),
    endSubscriptions: () => local.endSubscriptions(),
    async close() {
      local.endSubscriptions();
      await channel.close();
    },
  };
}

/** An envelope from another instance, its dates revived; null when it is not one. */
function parseEnvelope(message: string): Envelope | null {
  try {
    const envelope = JSON.parse(message) as Envelope;
    for (const { entry } of envelope.changes) {
      entry.createdAt = new Date(entry.createdAt);
      entry.updatedAt = new Date(entry.updatedAt);
      entry.expiresAt = entry.expiresAt === null ? null : new Date(entry.expiresAt);
    }
    return envelope;
  } catch {
    return null;
  }
}
