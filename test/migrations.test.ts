import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../src/db/database.js";
import { applyPendingMigrations, MIGRATIONS_DIR, readMigrations } from "../src/db/migrations.js";
import { type Backend, backends } from "./support/backends.js";

async function fresh(backend: Backend) {
  const { options, drop } = await backend.create();
  return { options, drop };
}

describe.each(backends)("migrations on $name", (backend) => {
  let db: Database;
  let drop: () => Promise<void>;
  let options: Awaited<ReturnType<typeof fresh>>["options"];

  beforeAll(async () => {
    ({ options, drop } = await fresh(backend));
    db = await openDatabase(options);
  });
  afterAll(async () => {
    await db.close();
    await drop();
  });

  it("applies every migration once, records it as Prisma does, and is a no-op the second time", async () => {
    const names = (await readMigrations()).map((m) => m.name);
    expect(await applyPendingMigrations(db)).toEqual(names);
    expect(await applyPendingMigrations(db)).toEqual([]);
    const rows = await db.prisma.$queryRawUnsafe<{ migration_name: string; finished_at: Date | null }[]>(
      `SELECT migration_name, finished_at FROM "_prisma_migrations" ORDER BY migration_name`,
    );
    expect(rows.map((r) => r.migration_name)).toEqual(names);
    expect(rows.every((r) => r.finished_at !== null)).toBe(true);
  });

  it("refuses to run when an applied migration was edited afterwards", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mg-migrations-"));
    for (const m of await readMigrations()) {
      await mkdir(join(dir, m.name));
      await writeFile(join(dir, m.name, "migration.sql"), `${m.sql}\n-- edited`);
    }
    await expect(applyPendingMigrations(db, dir)).rejects.toThrow(/was changed after it was applied/);
  });

  it("rolls back a failing migration completely and names it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mg-migrations-"));
    for (const m of await readMigrations()) {
      await mkdir(join(dir, m.name));
      await writeFile(join(dir, m.name, "migration.sql"), m.sql);
    }
    await mkdir(join(dir, "29990101000000_broken"));
    await writeFile(
      join(dir, "29990101000000_broken", "migration.sql"),
      "CREATE TABLE half_done (id int);\nSELECT no_such_function();",
    );
    await expect(applyPendingMigrations(db, dir)).rejects.toThrow(/29990101000000_broken failed/);
    const tables = await db.prisma.$queryRawUnsafe<{ n: bigint }[]>(
      `SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'half_done'`,
    );
    expect(Number(tables[0]?.n)).toBe(0);
    // The database still works and the good migrations stay recorded.
    expect(await applyPendingMigrations(db)).toEqual([]);
  });
});

describe.runIf(backends.some((b) => b.name === "postgres"))("migrations with instances starting together", () => {
  it("apply each migration exactly once when four instances migrate at the same time", async () => {
    const backend = backends.find((b) => b.name === "postgres") as Backend;
    const { options, drop } = await fresh(backend);
    const dbs = await Promise.all([1, 2, 3, 4].map(() => openDatabase(options)));
    try {
      const applied = await Promise.all(dbs.map((db) => applyPendingMigrations(db)));
      const names = (await readMigrations(MIGRATIONS_DIR)).map((m) => m.name);
      expect(applied.flat().sort()).toEqual(names.sort());
      const rows = await dbs[0]?.prisma.$queryRawUnsafe<{ n: bigint }[]>(
        `SELECT count(*) AS n FROM "_prisma_migrations"`,
      );
      expect(Number(rows?.[0]?.n)).toBe(names.length);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
      await drop();
    }
  });
});
