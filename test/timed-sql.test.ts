import { describe, expect, it } from "vitest";
import type { Database } from "../src/db/database.js";
import type { SqlRunner } from "../src/db/sql.js";
import { withQueryTimer } from "../src/db/timed-sql.js";

/** Only what withQueryTimer wraps: the statements on the pool. */
function databaseWith(sql: SqlRunner): Database {
  // A test double: the timer reads `sql` and `transaction` only, and keeps the rest as it is.
  return { sql, transaction: (fn) => fn(sql) } as Partial<Database> as Database;
}

describe("statement timer (metrics on)", () => {
  it("times a statement once and hands its rows back unchanged", async () => {
    const seconds: number[] = [];
    const rows = [{ key: "a" }];
    const db = withQueryTimer(databaseWith({ query: async <Row>() => rows as Row[] }), (s) => seconds.push(s));
    await expect(db.sql.query("SELECT 1", [])).resolves.toBe(rows);
    expect(seconds).toHaveLength(1);
    expect(seconds[0]).toBeGreaterThanOrEqual(0);
  });

  it("times a failed statement too, and its caller still sees the failure", async () => {
    const seconds: number[] = [];
    const failure = new Error("canceling statement due to statement timeout");
    const db = withQueryTimer(databaseWith({ query: () => Promise.reject(failure) }), (s) => seconds.push(s));
    await expect(db.sql.query("SELECT pg_sleep(10)", [])).rejects.toBe(failure);
    expect(seconds).toHaveLength(1);
  });

  it("times the statements of a transaction", async () => {
    const seconds: number[] = [];
    const db = withQueryTimer(databaseWith({ query: async <Row>() => [] as Row[] }), (s) => seconds.push(s));
    await db.transaction(async (tx) => {
      await tx.query("SELECT 1", []);
      await tx.query("SELECT 2", []);
    });
    expect(seconds).toHaveLength(2);
  });
});
