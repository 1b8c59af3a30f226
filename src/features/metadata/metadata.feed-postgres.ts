import type { Listener } from "../../db/notifications.js";
import { openNotifyChannel } from "../../db/notify.js";
import type { ChangeFeed, MetadataChange } from "./metadata.changes.js";
import { createLocalChangeFeed } from "./metadata.feed.js";

/** The LISTEN/NOTIFY channel every instance on one database shares. */
export const CHANGES_CHANNEL = "metadata_changes";

/** While an instance serves subscriptions it says so this often… */
export const PRESENCE_INTERVAL_MS = 2_000;
/** …and the others send it their changes until this long after they last heard it. */
const PRESENCE_TTL_MS = 3 * PRESENCE_INTERVAL_MS;
/** After (re)connecting, changes are sent while the answers to this instance's probe come in. */
const PROBE_GRACE_MS = 1_000;

/**
 * What instances tell each other: the changes of one committed write; "subscribers": I serve
 * subscriptions, send me your changes; "probe": whoever serves subscriptions, say so now.
 */
type Message = { changes: MetadataChange[] } | { presence: "subscribers" | "probe" };

/**
 * PostgreSQL: changes reach this process's subscribers at once (the local feed) and the other
 * instances' through NOTIFY on CHANGES_CHANNEL (src/db/notify.ts). Publishing happens after the
 * write committed, so a rolled-back write notifies nobody; the NOTIFY itself is best-effort: during
 * a database outage other instances miss changes (and a warning says so).
 *
 * Changes are sent only while another instance serves subscriptions: a NOTIFY per write cost a
 * quarter of the upsert throughput (bench), and with nobody subscribed it is pure waste. Instances
 * with subscriptions say so every PRESENCE_INTERVAL_MS; an instance that (re)connects asks (a probe)
 * and sends everything until the answers are in. A subscription on another instance therefore gets
 * the changes from the moment the writers heard of it: milliseconds after it started.
 */
export function createPostgresChangeFeed(deps: { listener: Listener; warn: (message: string) => void }): ChangeFeed {
  let othersSubscribedUntil = 0;
  let heartbeat: NodeJS.Timeout | undefined;
  const say = (message: Message) => channel.send(JSON.stringify(message));
  const announce = () => say({ presence: "subscribers" });

  const local = createLocalChangeFeed({
    onSubscribers(count) {
      if (count > 0 && !heartbeat) {
        announce();
        heartbeat = setInterval(announce, PRESENCE_INTERVAL_MS);
        heartbeat.unref();
      } else if (count === 0 && heartbeat) {
        clearInterval(heartbeat);
        heartbeat = undefined;
      }
    },
  });
  const channel = openNotifyChannel({
    channel: CHANGES_CHANNEL,
    listener: deps.listener,
    warn: deps.warn,
    onConnected() {
      // What others said while this connection was down is unknown: ask, and meanwhile send.
      othersSubscribedUntil = Math.max(othersSubscribedUntil, Date.now() + PROBE_GRACE_MS);
      say({ presence: "probe" });
      if (heartbeat) announce();
    },
    onMessage(text) {
      // Only other instances' messages arrive here: this one's were delivered locally already.
      const message = parseMessage(text);
      if (!message) return;
      if ("changes" in message) local.publish(message.changes);
      else if (message.presence === "subscribers") othersSubscribedUntil = Date.now() + PRESENCE_TTL_MS;
      else if (heartbeat) announce();
    },
  });

  return {
    publish(changes) {
      if (changes.length === 0) return;
      local.publish(changes);
      if (Date.now() < othersSubscribedUntil) say({ changes: [...changes] });
    },
    subscribe: (filter, signal) => local.subscribe(filter, signal),
    endSubscriptions: () => local.endSubscriptions(),
    async close() {
      local.endSubscriptions();
      clearInterval(heartbeat);
      await channel.close();
    },
  };
}

/** A message from another instance, a change's dates revived; null when it is not one. */
function parseMessage(text: string): Message | null {
  try {
    const message = JSON.parse(text) as Message;
    if ("changes" in message) {
      for (const { entry } of message.changes) {
        entry.createdAt = new Date(entry.createdAt);
        entry.updatedAt = new Date(entry.updatedAt);
        entry.expiresAt = entry.expiresAt === null ? null : new Date(entry.expiresAt);
      }
    }
    return message;
  } catch {
    return null;
  }
}
