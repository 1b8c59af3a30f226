import {
  type AddressInfo,
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../src/db/database.js";
import { createPostgresListener, LISTENER_APPLICATION_NAME, notify } from "../src/db/notifications.js";
import { type Backend, backends, openFreshDatabase } from "./support/backends.js";

// src/db/notifications.ts: LISTEN/NOTIFY as the definitions cache and the change feed (src/db/notify.ts)
// use it. Delivery is asynchronous: every wait polls with a deadline.

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(backends)("notifications on $name", (backend: Backend) => {
  let db: Database;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ db, close } = await openFreshDatabase(backend));
  });
  afterAll(() => close?.());

  it("delivers what a statement or a committed transaction sends, never what a rolled-back one did", async () => {
    const got: string[] = [];
    const subscription = db.listener.listen("test_channel", { onMessage: (payload) => got.push(payload) });
    await until(() => subscription.live, "the subscription to go live");
    await notify(db.sql, "test_channel", "alone");
    await db.transaction(async (tx) => {
      await notify(tx, "test_channel", "committed");
    });
    await expect(
      db.transaction(async (tx) => {
        await notify(tx, "test_channel", "rolled back");
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    await notify(db.sql, "test_channel", "last");
    await until(() => got.includes("last"), "the last message");
    expect(got).toEqual(["alone", "committed", "last"]);
    await subscription.unlisten();
    expect(subscription.live).toBe(false);
    await notify(db.sql, "test_channel", "after unlisten");
    await notify(db.sql, "other_channel", "elsewhere");
    // Sent after the unlisten completed: a later message on a channel still listened to proves the
    // connection delivered everything before it.
    const control: string[] = [];
    const other = db.listener.listen("control_channel", { onMessage: (payload) => control.push(payload) });
    await until(() => other.live, "the control subscription");
    await notify(db.sql, "control_channel", "done");
    await until(() => control.length === 1, "the control message");
    expect(got).toEqual(["alone", "committed", "last"]);
    await other.unlisten();
  });

  it("a second subscription to a channel already listened to is ready at once; each hears every message", async () => {
    const first: string[] = [];
    const second: string[] = [];
    const one = db.listener.listen("shared_channel", { onMessage: (payload) => first.push(payload) });
    await one.ready;
    const two = db.listener.listen("shared_channel", { onMessage: (payload) => second.push(payload) });
    await two.ready;
    expect(two.live).toBe(true);
    await notify(db.sql, "shared_channel", "both");
    await until(() => first.length === 1 && second.length === 1, "both subscriptions");
    await one.unlisten();
    expect(two.live).toBe(true);
    await notify(db.sql, "shared_channel", "second only");
    await until(() => second.length === 2, "the remaining subscription");
    expect(first).toEqual(["both"]);
    await two.unlisten();
  });

  it("refuses a channel name that is not a plain identifier", async () => {
    expect(() => db.listener.listen("bad; DROP TABLE metadata", { onMessage: () => {} })).toThrow(/Invalid/);
    await expect(db.listener.send("bad; DROP TABLE metadata", ["x"])).rejects.toThrow(/Invalid/);
  });

  it("send delivers its payloads together and in order, to this listener too", async () => {
    const got: string[] = [];
    const subscription = db.listener.listen("test_send", { onMessage: (payload) => got.push(payload) });
    await subscription.ready;
    const payloads = ["first", 'with "quotes", commas and \\ backslash', "x".repeat(7000), "ünïcødé 😀", "last"];
    await db.listener.send("test_send", payloads);
    await db.listener.send("test_send", ["next statement"]);
    await until(() => got.length === payloads.length + 1, "every payload");
    expect(got).toEqual([...payloads, "next statement"]);
    await subscription.unlisten();
  });

  it("listens and sends for several subscribers at once, one statement at a time on its connection", async () => {
    // node-postgres 8 warns (and 9 throws) when a client is sent a query while another runs.
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on("warning", onWarning);
    try {
      const got = new Map<string, string[]>();
      const channels = ["burst_a", "burst_b", "burst_c"];
      const subscriptions = channels.map((channel) =>
        db.listener.listen(channel, {
          onMessage: (payload) => got.set(channel, [...(got.get(channel) ?? []), payload]),
        }),
      );
      await Promise.all(subscriptions.map((s) => s.ready));
      await Promise.all(
        channels.flatMap((channel) => [1, 2].map((n) => db.listener.send(channel, [`${channel} ${n}`]))),
      );
      await until(() => channels.every((channel) => got.get(channel)?.length === 2), "every message");
      for (const channel of channels) expect(got.get(channel)).toEqual([`${channel} 1`, `${channel} 2`]);
      await Promise.all(subscriptions.map((s) => s.unlisten()));
      expect(warnings.filter((message) => message.includes("already executing a query"))).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it.runIf(backend.name === "postgres")("reconnects after losing its connection and says so with onReset", async () => {
    const got: string[] = [];
    let resets = 0;
    const subscription = db.listener.listen("test_reconnect", {
      onMessage: (payload) => got.push(payload),
      onReset: () => resets++,
    });
    await until(() => subscription.live, "the subscription to go live");
    const live = resets;
    await db.withConnection((exec) =>
      exec(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${LISTENER_APPLICATION_NAME}' AND datname = current_database()`,
      ),
    );
    await until(() => resets >= live + 2 && subscription.live, "the loss and the recovery");
    await notify(db.sql, "test_reconnect", "after");
    await until(() => got.includes("after"), "a message after reconnecting");
    await subscription.unlisten();
  });
});

describe("the PostgreSQL listener before its first connection", () => {
  const adminUrl = process.env.DATABASE_URL;

  /** A local port nothing listens on (taken, then released). */
  async function freePort(): Promise<number> {
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    return port;
  }

  it("says once that it cannot open its connection, keeps retrying, and says when it listens", async () => {
    const port = await freePort();
    const warnings: string[] = [];
    const url = new URL(adminUrl ?? "postgresql://postgres@127.0.0.1/postgres");
    const target = { host: url.hostname, port: Number(url.port || 5432) };
    url.host = `127.0.0.1:${port}`;
    const listener = createPostgresListener(url.toString(), (message) => warnings.push(message));
    const got: string[] = [];
    const subscription = listener.listen("test_first_connect", { onMessage: (payload) => got.push(payload) });
    // The proxy that stands in for a database coming up late (only with a real one to forward to).
    let proxy: NetServer | undefined;
    const sockets = new Set<Socket>();
    try {
      const refused = "Notifications: cannot open the listening connection (ECONNREFUSED); retrying";
      await until(() => warnings.includes(refused), "the warning");
      // Retries 100, 200, 400 ms apart (jittered): several have failed by now, said only once.
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(warnings).toEqual([refused]);
      expect(subscription.live).toBe(false);
      if (!adminUrl) return;

      proxy = createNetServer((client) => {
        const upstream = connect(target);
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on("error", () => {});
          socket.on("close", () => sockets.delete(socket));
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve) => proxy?.listen(port, "127.0.0.1", resolve));
      await until(() => subscription.live, "the subscription to go live once the database answers");
      expect(warnings).toEqual([refused, "Notifications: listening"]);
      await listener.send("test_first_connect", ["hello"]);
      await until(() => got.includes("hello"), "a message on the new connection");
    } finally {
      await listener.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
    }
  });
});
