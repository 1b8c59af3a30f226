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

const runner = () => createPgliteRunner(pglite, (event) => events.push(event));

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
});
