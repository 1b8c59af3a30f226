import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/database.js";
import { backends } from "./support/backends.js";

// DATABASE_POOL_SIZE bounds the connections one instance opens; unset, two per core.

const postgres = backends.filter((b) => b.name === "postgres");

/** Distinct server connections seen by `n` statements sent at once that each hold theirs a while. */
async function connectionsUnderLoad(poolSize: number | undefined, n: number): Promise<number> {
  const backend = postgres[0];
  if (!backend) throw new Error("needs DATABASE_URL");
  const { options, drop } = await backend.create();
  const db = await openDatabase({ ...options, databasePoolSize: poolSize });
  try {
    const rows = await Promise.all(
      Array.from({ length: n }, () =>
        db.sql.query<{ pid: number }>("SELECT pg_backend_pid() AS pid, pg_sleep(0.05)", []),
      ),
    );
    return new Set(rows.map((r) => r[0]?.pid)).size;
  } finally {
    await db.close();
    await drop();
  }
}

describe.skipIf(postgres.length === 0)("PostgreSQL connection pool size", () => {
  it("opens at most DATABASE_POOL_SIZE connections", async () => {
    expect(await connectionsUnderLoad(3, 12)).toBe(3);
  });

  it("defaults to two connections per core", async () => {
    const expected = 2 * availableParallelism();
    expect(await connectionsUnderLoad(undefined, expected + 6)).toBe(expected);
  });
});
