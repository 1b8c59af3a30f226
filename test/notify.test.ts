import { describe, expect, it } from "vitest";
import type { Listener, NotificationHandlers } from "../src/db/notifications.js";
import { MAX_PIECE_BYTES, type NotifyChannel, openNotifyChannel } from "../src/db/notify.js";

// src/db/notify.ts over a Listener whose connection this test takes down and brings back at will:
// what a real connection loss only shows by chance (tests against PostgreSQL kill the connection,
// but cannot hold it down while a write happens).

/** One database's LISTEN/NOTIFY as every instance sees it: a send reaches every listener, its own too. */
function fakeDatabase() {
  const subscribers = new Set<NotificationHandlers>();
  let live = false;
  /** The payloads of each statement sent, in order. */
  const statements: string[][] = [];
  const listener = (): Listener => ({
    listen(_channel, handlers) {
      subscribers.add(handlers);
      return {
        get live() {
          return live && subscribers.has(handlers);
        },
        ready: Promise.resolve(),
        async unlisten() {
          subscribers.delete(handlers);
        },
      };
    },
    async send(_channel, payloads) {
      if (!live) throw new Error("Notifications: not connected");
      statements.push([...payloads]);
      for (const handlers of subscribers) for (const payload of payloads) handlers.onMessage(payload);
    },
    async close() {},
  });
  const setLive = (value: boolean) => {
    live = value;
    for (const handlers of subscribers) handlers.onReset?.();
  };
  return { listener, statements, setLive };
}

function instance(db: ReturnType<typeof fakeDatabase>) {
  const received: string[] = [];
  let connected = 0;
  const channel: NotifyChannel = openNotifyChannel({
    channel: "test_changes",
    listener: db.listener(),
    onMessage: (message) => received.push(message),
    onConnected: () => connected++,
    warn: () => {},
  });
  return { channel, received, connected: () => connected };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

describe("notify channel (src/db/notify.ts)", () => {
  it("keeps messages while the connection is down and sends them, in order, once it listens again", async () => {
    const db = fakeDatabase();
    const a = instance(db);
    const b = instance(db);
    // Past PostgreSQL's 8000-byte limit: sent as several pieces of one statement.
    const large = "é".repeat(MAX_PIECE_BYTES * 2);
    a.channel.send("first");
    a.channel.send(large);
    await settle();
    expect(db.statements).toEqual([]);
    expect(a.connected()).toBe(0);

    db.setLive(true);
    await settle();
    expect([a.connected(), b.connected()]).toEqual([1, 1]);
    expect(db.statements).toHaveLength(1);
    expect(db.statements[0]?.length).toBeGreaterThan(2);
    expect(b.received).toEqual(["first", large]);
    // Its own messages come back through the database and are dropped.
    expect(a.received).toEqual([]);

    db.setLive(false);
    a.channel.send("while down");
    await settle();
    expect(db.statements).toHaveLength(1);
    db.setLive(true);
    await settle();
    expect([a.connected(), b.connected()]).toEqual([2, 2]);
    expect(b.received).toEqual(["first", large, "while down"]);
    await Promise.all([a.channel.close(), b.channel.close()]);
  });

  it("messages sent together share one statement; closing sends what is queued", async () => {
    const db = fakeDatabase();
    db.setLive(true);
    const a = instance(db);
    const b = instance(db);
    for (const n of [1, 2, 3]) a.channel.send(`burst ${n}`);
    await settle();
    expect(db.statements).toHaveLength(1);
    expect(b.received).toEqual(["burst 1", "burst 2", "burst 3"]);
    a.channel.send("before close");
    await a.channel.close();
    expect(b.received.at(-1)).toBe("before close");
    a.channel.send("after close");
    await settle();
    expect(b.received.at(-1)).toBe("before close");
    await b.channel.close();
  });
});
