import { randomBytes } from "node:crypto";
import type pg from "pg";
import type { SqlRunner } from "./sql.js";

/**
 * PostgreSQL's NOTIFY refuses a payload of 8000 bytes or more. A message (a change carries its
 * whole entry, up to METADATA_MAX_VALUE_LENGTH code points, ~256 KB of UTF-8) is sent as pieces of
 * at most this many bytes, in one statement: PostgreSQL delivers one transaction's notifications
 * together and in order, so receivers reassemble them without asking the database for anything.
 * (A small "go and fetch" notification could not describe a deletion, whose row is gone, nor the
 * version a change wrote once a later write replaced it.)
 */
export const MAX_PIECE_BYTES = 7000;
/** Messages half received at once (pieces of a message lost with a connection are dropped). */
const MAX_PARTIAL_MESSAGES = 64;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

// One statement, so one transaction: its notifications are delivered together, in this order.
const NOTIFY = "SELECT pg_notify($1, piece) FROM unnest($2::text[]) AS piece";

export interface NotifyChannel {
  /** NOTIFYs `message` to every listener of the channel, this process's own included. */
  send(message: string): Promise<void>;
  /** Stops listening and reconnecting. */
  close(): Promise<void>;
}

export interface NotifyChannelOptions {
  channel: string;
  /** Where NOTIFY is sent: the pool. */
  sql: SqlRunner;
  /** A new client for the LISTEN session (Database.dedicatedClient). */
  newClient: () => pg.Client;
  onMessage: (message: string) => void;
  warn: (message: string) => void;
}

/**
 * A channel over LISTEN/NOTIFY: whole messages of any size in, whole messages out. It listens on a
 * dedicated connection (a pooled one would be handed to other statements), reconnecting with
 * exponential back-off when the connection drops. Messages NOTIFYed while it is down are not
 * received: PostgreSQL keeps notifications only for sessions listening when they are committed.
 */
export function openNotifyChannel(options: NotifyChannelOptions): NotifyChannel {
  const { channel, sql, newClient, onMessage, warn } = options;
  const sender = randomBytes(6).toString("hex");
  let sent = 0;
  const partial = new Map<string, { pieces: string[]; received: number }>();
  let closed = false;
  let current: pg.Client | undefined;
  let wake: (() => void) | undefined;
  // Ends every wait of the listening loop (a connect in progress may never settle once ended).
  let stop: () => void = () => {};
  const stopped = new Promise<"stopped">((resolve) => {
    stop = () => resolve("stopped");
  });

  const receive = (payload: string) => {
    const [id, index, count] = payload.split(":", 3);
    const piece = payload.slice(`${id}:${index}:${count}:`.length);
    const total = Number(count);
    if (!id || !(total >= 1)) return;
    if (total === 1) return onMessage(piece);
    let message = partial.get(id);
    if (!message) {
      if (partial.size >= MAX_PARTIAL_MESSAGES) partial.delete(partial.keys().next().value as string);
      message = { pieces: new Array<string>(total), received: 0 };
      partial.set(id, message);
    }
    if (message.pieces[Number(index)] === undefined) message.received++;
    message.pieces[Number(index)] = piece;
    if (message.received === total) {
      partial.delete(id);
      onMessage(message.pieces.join(""));
    }
  };

  const listenOnce = async (): Promise<void> => {
    const client = newClient();
    current = client;
    const lost = new Promise<unknown>((resolve) => {
      // `on`, not `once`: a second error with no listener would crash the process.
      client.on("error", resolve);
      client.once("end", () => resolve(new Error("connection ended")));
    });
    client.on("notification", (n) => {
      if (n.channel === channel && n.payload !== undefined) receive(n.payload);
    });
    const connecting = client.connect().then(() => client.query(`LISTEN ${quoteIdentifier(channel)}`));
    // Settled or not, its outcome no longer matters once stopped.
    connecting.catch(() => {});
    if ((await Promise.race([connecting, stopped])) === "stopped") return;
    const why = await Promise.race([lost, stopped]);
    if (!closed) warn(`Change notifications: listening connection lost (${describe(why)}); reconnecting`);
  };

  const run = async () => {
    let failures = 0;
    while (!closed) {
      const started = Date.now();
      try {
        await listenOnce();
      } catch (error) {
        if (!closed && failures === 0) warn(`Change notifications: cannot listen (${describe(error)}); retrying`);
      } finally {
        partial.clear();
        await current?.end().catch(() => {});
      }
      // A connection that held a while starts the back-off again.
      failures = Date.now() - started > RECONNECT_MAX_MS ? 0 : failures + 1;
      if (closed) break;
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** failures) * (0.5 + Math.random() / 2);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  const running = run();

  return {
    async send(message) {
      const id = `${sender}.${++sent}`;
      const pieces = splitUtf8(message, MAX_PIECE_BYTES);
      await sql.query(NOTIFY, [channel, pieces.map((piece, index) => `${id}:${index}:${pieces.length}:${piece}`)]);
    },
    async close() {
      closed = true;
      stop();
      wake?.();
      await current?.end().catch(() => {});
      await running;
    },
  };
}

/** `text` cut into pieces of at most `maxBytes` UTF-8 bytes each, never inside a character. */
export function splitUtf8(text: string, maxBytes: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i) as number;
    const width = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + width > maxBytes) {
      pieces.push(text.slice(start, i));
      start = i;
      bytes = 0;
    }
    bytes += width;
    i += cp > 0xffff ? 2 : 1;
  }
  pieces.push(text.slice(start));
  return pieces;
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string") return code;
  return error instanceof Error ? error.message : String(error);
}
