import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../src/db/database.js";
import { StatementTiming } from "../src/db/statement-timing.js";
import { backends, openFreshDatabase } from "./support/backends.js";

// What the metrics' statement histogram hears (metrics.test.ts checks the histogram end to end).
describe.each(backends)("statement durations on $name", (backend) => {
  let db: Database;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ db, close } = await openFreshDatabase(backend));
  });
  afterAll(() => close?.());

  /** Runs `fn` with an observer on, and gives what it heard. */
  async function heard(fn: () => Promise<unknown>): Promise<number[]> {
    const seconds: number[] = [];
    const stop = db.observeStatements((s) => seconds.push(s));
    try {
      await fn();
    } finally {
      stop();
    }
    return seconds;
  }

  it("times a statement once, in seconds, and hands its rows back", async () => {
    let rows: unknown[] = [];
    const seconds = await heard(async () => {
      rows = await db.sql.query("SELECT pg_sleep(0.02), 1 AS one", []);
    });
    expect(rows).toEqual([{ pg_sleep: "", one: 1 }]);
    expect(seconds).toHaveLength(1);
    expect(seconds[0]).toBeGreaterThanOrEqual(0.02);
    // Seconds, not milliseconds.
    expect(seconds[0]).toBeLessThan(5);
  });

  it("times a failed statement too, and its caller still sees the failure", async () => {
    const seconds = await heard(() =>
      expect(db.sql.query("SELECT 1 / $1::int AS quotient", [0])).rejects.toThrow(/division by zero/),
    );
    expect(seconds).toHaveLength(1);
  });

  it("times the statements of a transaction", async () => {
    const seconds = await heard(() =>
      db.transaction(async (tx) => {
        await tx.query("SELECT 1", []);
        await tx.query("SELECT 2", []);
      }),
    );
    expect(seconds).toHaveLength(2);
  });

  it("tells every observer, and none once it stopped", async () => {
    const first: number[] = [];
    const second: number[] = [];
    const stopFirst = db.observeStatements((s) => first.push(s));
    const stopSecond = db.observeStatements((s) => second.push(s));
    await db.sql.query("SELECT 1", []);
    stopFirst();
    await db.sql.query("SELECT 2", []);
    stopSecond();
    await db.sql.query("SELECT 3", []);
    expect(first).toHaveLength(1);
    expect(second).toHaveLength(2);
  });
});

describe("StatementTiming", () => {
  it("measures from the start it is given", () => {
    const timing = new StatementTiming();
    const seconds: number[] = [];
    timing.add((s) => seconds.push(s));
    timing.done(performance.now() - 1500);
    expect(seconds[0]).toBeGreaterThanOrEqual(1.5);
    expect(seconds[0]).toBeLessThan(2.5);
  });
});
