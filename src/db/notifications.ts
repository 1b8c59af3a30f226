import type { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { type SqlRunner, toDriverArg } from "./sql.js";
import { describeFailure } from "./unavailable.js";

/**
 * PostgreSQL LISTEN/NOTIFY, for state several instances derive from the database (caches, live
 * subscriptions). `notify` runs on a SqlRunner, so a NOTIFY sent inside a transaction is delivered
 * only if, and once, it commits; `Listener.send` goes out at once. Each instance listens, on every
 * channel, on one dedicated connection of its own.
 */

export interface NotificationHandlers {
  /** A payload sent on the channel, by this instance or another, after its transaction committed. */
  onMessage(payload: string): void;
  /**
   * Notifications may have been missed: the listening connection was lost, or (re)established. What
   * was derived from earlier messages must be rebuilt; `live` says which of the two happened.
   */
  onReset?(): void;
}

export interface Subscription {
  /** True while every notification on the channel reaches the handlers. */
  readonly live: boolean;
  /** Resolves the first time the subscription is live (never rejects: it may wait for ever). */
  readonly ready: Promise<void>;
  unlisten(): Promise<void>;
}

export interface Listener {
  /** Starts listening (in the background: `live` turns true once the channel is listened to). */
  listen(channel: string, handlers: NotificationHandlers): Subscription;
  /**
   * Sends `payloads` on `channel` in one statement of their own, on the listening connection:
   * PostgreSQL delivers them together and in this order, to this instance too. Each must stay under
   * 8000 bytes (PostgreSQL's limit). Rejects while that connection is down.
   */
  send(channel: string, payloads: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** Sends `payload` on `channel`; on a transaction's runner it goes out when that transaction commits. */
export async function notify(sql: SqlRunner, channel: string, payload: string): Promise<void> {
  await sql.query("SELECT pg_notify($1, $2)", [channel, payload]);
}

// One statement, so one transaction: its notifications are delivered together, in this order.
const NOTIFY_ALL = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload";

// Channels are identifiers the code names, never user input: checked anyway, as they go into SQL text.
const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

function assertChannel(channel: string): void {
  if (!CHANNEL.test(channel)) throw new Error(`Invalid notification channel '${channel}'`);
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 10_000;
/** How the listening connection shows in pg_stat_activity (and how tests find it). */
export const LISTENER_APPLICATION_NAME = "metadata-graph-listener";

/**
 * PostgreSQL: one dedicated client (never the pool's: a pooled connection is shared, and LISTEN is
 * per session), which also carries `send`, keeping the pool for requests. A lost connection is
 * retried with jittered back-off, capped at RETRY_MAX_MS (instances that lost their connections
 * together do not all come back at the same moment); the handlers hear `onReset` when it is lost
 * and again once every channel is listened to anew. `warn` hears, once each, that the first
 * connection cannot be opened or that the connection is lost, and that it listens (again).
 */
export function createPostgresListener(connectionString: string, warn?: (message: string) => void): Listener {
  const channels = new Map<string, Set<NotificationHandlers>>();
  /** Channels the current client listens to. */
  const listened = new Set<string>();
  let client: pg.Client | undefined;
  let connecting = false;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryMs = RETRY_MIN_MS;
  let lostOnce = false;
  let connectedOnce = false;
  const query = oneAtATime();

  const reset = (channel: string) => {
    for (const handlers of channels.get(channel) ?? []) handlers.onReset?.();
  };

  const lost = (c: pg.Client) => {
    if (client !== c) return;
    client = undefined;
    const were = [...listened];
    listened.clear();
    c.end().catch(() => {});
    if (closed) return;
    if (!lostOnce) warn?.("Notifications: listening connection lost; reconnecting");
    lostOnce = true;
    for (const channel of were) reset(channel);
    scheduleRetry();
  };

  const scheduleRetry = () => {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(
      () => {
        retryTimer = undefined;
        void connect();
      },
      retryMs * (0.5 + Math.random() / 2),
    );
    retryTimer.unref();
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  };

  const listenOn = async (c: pg.Client, channel: string) => {
    await query(c, `LISTEN ${channel}`);
    if (client !== c) return;
    listened.add(channel);
    reset(channel);
  };

  async function connect(): Promise<void> {
    if (closed || client || connecting) return;
    connecting = true;
    const c = new pg.Client({ connectionString, application_name: LISTENER_APPLICATION_NAME });
    c.on("notification", ({ channel, payload }) => {
      for (const handlers of channels.get(channel) ?? []) handlers.onMessage(payload ?? "");
    });
    // Without a listener an idle client's error would crash the process.
    c.on("error", () => lost(c));
    c.on("end", () => lost(c));
    try {
      await c.connect();
      if (closed) {
        await c.end();
        return;
      }
      client = c;
      for (const channel of channels.keys()) await listenOn(c, channel);
      retryMs = RETRY_MIN_MS;
      if (lostOnce) warn?.(connectedOnce ? "Notifications: listening again" : "Notifications: listening");
      connectedOnce = true;
      lostOnce = false;
    } catch (error) {
      if (client === c) lost(c);
      else {
        c.end().catch(() => {});
        // Said once, not per retry: until it connects, other instances' changes reach neither the
        // definitions cache (read from the database meanwhile) nor this instance's subscribers.
        if (!lostOnce)
          warn?.(`Notifications: cannot open the listening connection (${describeFailure(error)}); retrying`);
        lostOnce = true;
        scheduleRetry();
      }
    } finally {
      connecting = false;
    }
  }

  return {
    listen(channel, handlers) {
      assertChannel(channel);
      let set = channels.get(channel);
      if (!set) {
        set = new Set();
        channels.set(channel, set);
        if (client) listenOn(client, channel).catch(() => client && lost(client));
      }
      // Hears its first reset once listening: that is when it is ready.
      let markReady = () => {};
      const ready = new Promise<void>((resolve) => {
        markReady = resolve;
      });
      const subscribed: NotificationHandlers = {
        onMessage: (payload) => handlers.onMessage(payload),
        onReset: () => {
          if (listened.has(channel)) markReady();
          handlers.onReset?.();
        },
      };
      set.add(subscribed);
      // A channel already listened to: live at once.
      if (listened.has(channel)) markReady();
      void connect();
      return {
        get live() {
          return listened.has(channel) && channels.get(channel)?.has(subscribed) === true;
        },
        ready,
        async unlisten() {
          const current = channels.get(channel);
          current?.delete(subscribed);
          if (current?.size !== 0) return;
          channels.delete(channel);
          listened.delete(channel);
          if (client) await query(client, `UNLISTEN ${channel}`).catch(() => {});
        },
      };
    },
    async send(channel, payloads) {
      assertChannel(channel);
      if (!client) throw new Error("Notifications: not connected");
      // Named: parsed and planned once per connection (it may run once per write).
      await query(client, { name: "mg_notify_all", text: NOTIFY_ALL, values: [channel, toDriverArg(payloads)] });
    },
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      const c = client;
      client = undefined;
      listened.clear();
      await c?.end().catch(() => {});
    },
  };
}

/**
 * The connection's statements one after the other: LISTENs, UNLISTENs and sends come from several
 * subscribers at once, and node-postgres 8 deprecates a query sent while another runs (9 refuses it).
 */
function oneAtATime(): (client: pg.Client, statement: string | pg.QueryConfig) => Promise<unknown> {
  let last: Promise<unknown> = Promise.resolve();
  return (client, statement) => {
    const result = last.then(() => client.query(statement));
    last = result.catch(() => {});
    return result;
  };
}

/**
 * PGlite: its own LISTEN, on its only connection, inside this process. That connection is never
 * lost, so a subscription stays live once listening.
 */
export function createPgliteListener(pglite: PGlite): Listener {
  return {
    listen(channel, handlers) {
      assertChannel(channel);
      let live = false;
      let stopped = false;
      const unsubscribe = pglite
        .listen(channel, (payload) => {
          if (!stopped) handlers.onMessage(payload);
        })
        .then((stop) => {
          live = !stopped;
          if (live) handlers.onReset?.();
          return stop;
        });
      return {
        get live() {
          return live;
        },
        ready: unsubscribe.then(() => {}),
        async unlisten() {
          stopped = true;
          live = false;
          await (await unsubscribe)();
        },
      };
    },
    async send(channel, payloads) {
      assertChannel(channel);
      await pglite.query(NOTIFY_ALL, [channel, toDriverArg(payloads)]);
    },
    async close() {},
  };
}
