import { randomBytes } from "node:crypto";
import type { Listener } from "./notifications.js";
import { describeFailure } from "./unavailable.js";

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
/**
 * Bytes of messages waiting to be sent (while the connection is down, or behind a burst); past
 * this the oldest are dropped, with a warning: memory stays bounded whatever the write rate.
 */
export const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
/**
 * How long a message waits for others to share its NOTIFY statement. One statement per write cost
 * the service a quarter of its upsert throughput (a round trip, and PostgreSQL signalling every
 * listener, per write); at a few thousand writes a second this window sends one per ~10 writes,
 * and delays other instances' subscribers by at most this much.
 */
const BATCH_WINDOW_MS = 5;
/** How long closing waits for queued messages to be sent. */
const CLOSE_FLUSH_MS = 2000;

export interface NotifyChannel {
  /**
   * Queues `message` for the channel's listeners in the other processes (this one's `onMessage`
   * never sees its own); never throws, never waits. Messages are sent in the order given.
   */
  send(message: string): void;
  /** Sends what is queued (for up to 2 s, if connected), then stops listening. */
  close(): Promise<void>;
}

export interface NotifyChannelOptions {
  channel: string;
  /** The instance's LISTEN/NOTIFY connection (Database.listener): it listens and sends. */
  listener: Listener;
  onMessage: (message: string) => void;
  /** Called each time the channel listens (again): messages sent meanwhile were not received. */
  onConnected?: () => void;
  warn: (message: string) => void;
}

/**
 * A channel over LISTEN/NOTIFY: whole messages of any size in, whole messages out, on the
 * instance's listening connection (src/db/notifications.ts: it reconnects with back-off and says
 * when it is lost or back). Messages queued while one statement runs go out together in the next,
 * one statement at a time: in order. While the connection is down messages wait, and go out once
 * it listens again; messages other processes NOTIFYed meanwhile are not received (PostgreSQL keeps
 * notifications only for sessions listening when they are committed).
 */
export function openNotifyChannel({
  channel,
  listener,
  onMessage,
  onConnected,
  warn,
}: NotifyChannelOptions): NotifyChannel {
  const sender = randomBytes(6).toString("hex");
  let sent = 0;
  const partial = new Map<string, { pieces: string[]; received: number }>();
  let queue: { pieces: string[]; bytes: number }[] = [];
  let queuedBytes = 0;
  let dropped = 0;
  let closed = false;
  /** The flush in progress, if any. */
  let flushing: Promise<void> | undefined;
  let batchTimer: NodeJS.Timeout | undefined;

  const receive = (payload: string) => {
    // This process's own messages come back too: dropped before any parsing.
    if (payload.startsWith(`${sender}.`)) return;
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

  /** Sends everything queued, one statement at a time, while the channel is listened to. */
  const sendQueued = async () => {
    while (subscription.live && queue.length > 0) {
      const batch = queue;
      queue = [];
      queuedBytes = 0;
      const pieces = batch.flatMap((message) => message.pieces);
      try {
        await listener.send(channel, pieces);
      } catch (error) {
        // The connection died under it (the listener reconnects): whether PostgreSQL committed
        // the statement is unknown; sending it again could deliver it twice.
        warn(`Change notifications: ${batch.length} message(s) possibly not sent (${describeFailure(error)})`);
      }
    }
  };
  const flush = (): Promise<void> => {
    // Cleared in a later microtask: never before the assignment, even when nothing was to send;
    // a message queued between the loop's end and then is sent by the next round.
    flushing ??= sendQueued().finally(() => {
      flushing = undefined;
      if (subscription.live && queue.length > 0) void flush();
    });
    return flushing;
  };

  const reset = () => {
    // Pieces of a message may have been lost with the connection.
    partial.clear();
    if (closed || !subscription.live) return;
    onConnected?.();
    void flush();
  };
  const subscription = listener.listen(channel, { onMessage: receive, onReset: reset });
  // A channel the listener listens to already (another app on the same database) is live at once,
  // without a reset: told so after this returns, as a reset would be.
  if (subscription.live) queueMicrotask(reset);

  return {
    send(message) {
      if (closed) return;
      const id = `${sender}.${++sent}`;
      const raw = splitUtf8(message, MAX_PIECE_BYTES);
      const pieces = raw.map((piece, index) => `${id}:${index}:${raw.length}:${piece}`);
      const bytes = pieces.reduce((sum, piece) => sum + Buffer.byteLength(piece), 0);
      queue.push({ pieces, bytes });
      queuedBytes += bytes;
      while (queuedBytes > MAX_QUEUED_BYTES && queue.length > 1) {
        queuedBytes -= queue.shift()?.bytes ?? 0;
        if (dropped++ === 0) warn("Change notifications: too many waiting to be sent; dropping the oldest");
      }
      batchTimer ??= setTimeout(() => {
        batchTimer = undefined;
        void flush();
      }, BATCH_WINDOW_MS);
    },
    async close() {
      // What was published before (writes that finished while the server drained) goes out first,
      // unless the connection is down: then it would be lost anyway; bounded by CLOSE_FLUSH_MS.
      clearTimeout(batchTimer);
      batchTimer = undefined;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLOSE_FLUSH_MS);
      });
      await Promise.race([flush(), timeout]);
      clearTimeout(timer);
      closed = true;
      queue = [];
      await subscription.unlisten();
    },
  };
}

/** `text` cut into pieces of at most `maxBytes` UTF-8 bytes each, never inside a character. */
export function splitUtf8(text: string, maxBytes: number): string[] {
  // Most messages fit in one piece: measured natively, not scanned.
  if (Buffer.byteLength(text) <= maxBytes) return [text];
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
