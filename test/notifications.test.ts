import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../src/db/database.js";
import { LISTENER_APPLICATION_NAME, notify } from "../src/db/notifications.js";
import { type Backend, backends } from "./support/backends.js";

// src/db/notifications.ts: LISTEN/NOTIFY as the definitions cache (and later live subscriptions)
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
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const created = await backend.create();
    drop = created.drop;
    db = await openDatabase(created.options);
  });
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

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

  it("refuses a channel name that is not a plain identifier", () => {
    expect(() => db.listener.listen("bad; DROP TABLE metadata", { onMessage: () => {} })).toThrow(/Invalid/);
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
