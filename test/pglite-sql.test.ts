import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QueryEvent } from "../src/db/database.js";
import { createPgliteRunner } from "../src/db/pglite-sql.js";

// The embedded runner speaks PostgreSQL's extended protocol itself (prepared statements), so it
// must give the rows, errors and isolation `pglite.query` gives.

let pglite: PGlite;
const events: QueryEvent[] = [];

beforeAll(async () => {
  pglite = await PGlite.create();
  await pglite.exec(`CREATE TABLE t (id int8 PRIMARY KEY, n int4, name text, at timestamptz, gone timestamptz)`);
});
afterAll(() => pglite.close());

const runner = () => createPgliteRunner(pglite, { onQuery: (event) => events.push(event) });

describe("PGlite prepared-statement runner", () => {
  it("returns rows typed as pglite.query does, with null for SQL NULL", async () => {
    const sql = runner();
    const at = new Date("2026-11-27T10:11:12.345Z");
    const inserted = await sql.query(`INSERT INTO t VALUES ($1, $2, $3, $4::timestamptz, NULL) RETURNING *`, [
      1,
      42,
      "ä ✓",
      at,
    ]);
    const expected = await pglite.query(`SELECT * FROM t WHERE id = 1`);
    expect(inserted).toEqual(expected.rows);
    expect(inserted).toEqual([{ id: 1, n: 42, name: "ä ✓", at, gone: null }]);
    expect(await sql.query(`SELECT name FROM t WHERE id = $1`, [2])).toEqual([]);
  });

  it("reuses one prepared statement per SQL text and reports every call", async () => {
    const sql = runner();
    events.length = 0;
    const insert = `INSERT INTO t (id, name) VALUES ($1, $2)`;
    for (const id of [10, 11, 12]) await sql.query(insert, [id, `n${id}`]);
    const prepared = await pglite.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM pg_prepared_statements WHERE statement = $1`,
      [insert],
    );
    expect(prepared.rows[0]?.count).toBe(1);
    expect(events.map((e) => e.params)).toEqual(['[10,"n10"]', '[11,"n11"]', '[12,"n12"]']);
  });

  it("rejects a failing statement with the database error and keeps working", async () => {
    const sql = runner();
    await expect(sql.query(`INSERT INTO t (id) VALUES ($1)`, [1])).rejects.toMatchObject({ code: "23505" });
    await expect(sql.query(`SELECT nope FROM t WHERE id = $1`, [1])).rejects.toMatchObject({ code: "42703" });
    // The bad SQL is not cached as prepared: fixing the table makes the same text work.
    await pglite.exec(`ALTER TABLE t ADD COLUMN nope int`);
    expect(await sql.query(`SELECT nope FROM t WHERE id = $1`, [1])).toEqual([{ nope: null }]);
    expect(await sql.query(`SELECT n FROM t WHERE id = $1`, [1])).toEqual([{ n: 42 }]);
  });

  it("never runs inside a transaction another caller has open", async () => {
    const sql = runner();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const transaction = pglite.transaction(async (tx) => {
      await tx.query(`INSERT INTO t (id, name) VALUES (100, 'in tx')`);
      await held;
      await tx.rollback();
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const read = sql.query(`SELECT id FROM t WHERE id = $1`, [100]);
    const settled = await Promise.race([read.then(() => "ran"), new Promise((r) => setTimeout(() => r("waited"), 50))]);
    expect(settled).toBe("waited");
    release();
    await transaction;
    expect(await read).toEqual([]);
  });

  it("binds arrays as PostgreSQL arrays, quoting what needs it", async () => {
    const names = ['a "quoted" name', "back\\slash", "comma, brace}", null];
    const at = new Date("2026-11-27T10:11:12.345Z");
    const rows = await runner().query(`SELECT unnest($1::text[]) AS name, $2::timestamptz[] AS at`, [names, [at]]);
    expect(rows).toEqual(names.map((name) => ({ name, at: [at] })));
  });

  it("a transaction commits when its function resolves and rolls back when it throws", async () => {
    const sql = runner();
    const insert = `INSERT INTO t (id, name) VALUES ($1, $2)`;
    await sql.transaction(async (tx) => {
      await tx.query(insert, [200, "kept"]);
      await tx.query(insert, [201, "kept"]);
    });
    const failed = sql.transaction(async (tx) => {
      await tx.query(insert, [202, "undone"]);
      throw new Error("changed my mind");
    });
    await expect(failed).rejects.toThrow("changed my mind");
    // A failing statement rolls back the ones before it.
    const conflict = sql.transaction(async (tx) => {
      await tx.query(insert, [203, "undone"]);
      await tx.query(insert, [200, "duplicate"]);
    });
    await expect(conflict).rejects.toMatchObject({ code: "23505" });
    const ids = await sql.query<{ id: number }>(`SELECT id FROM t WHERE id BETWEEN 200 AND 299 ORDER BY id`, []);
    expect(ids.map((r) => r.id)).toEqual([200, 201]);
    expect(pglite.isInTransaction()).toBe(false);
  });

  it("keeps others out while it runs, and prepares a statement first sent meanwhile without waiting on itself", async () => {
    const sql = runner();
    const select = `SELECT name FROM t WHERE id = $1 AND name IS NOT NULL`;
    let outside: Promise<unknown> | undefined;
    const inside = sql.transaction(async (tx) => {
      await tx.query(`UPDATE t SET name = $2 WHERE id = $1`, [200, "in tx"]);
      // Queued behind the transaction: its preparation too.
      outside = sql.query(select, [200]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      return tx.query(select, [200]);
    });
    expect(await inside).toEqual([{ name: "in tx" }]);
    expect(await outside).toEqual([{ name: "in tx" }]);
  });
});
