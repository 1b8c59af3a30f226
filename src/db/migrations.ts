import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Database } from "./database.js";

/** The directory holding package.json above `dir`: the same from src/db and from its build in dist/src/db. */
function packageRoot(dir: string): string {
  if (existsSync(join(dir, "package.json"))) return dir;
  const parent = dirname(dir);
  if (parent === dir) throw new Error("package.json not found above the migrations module");
  return packageRoot(parent);
}

export const MIGRATIONS_DIR = join(packageRoot(dirname(fileURLToPath(import.meta.url))), "migrations");

/** Arbitrary constant: the advisory lock that serializes instances starting together. */
const MIGRATION_LOCK_ID = 7_240_551_113;

// Same table Prisma Migrate keeps, so `prisma migrate status` reads our history.
const CREATE_HISTORY_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

/** The migrations in `dir`, by name (one directory each), in the order they apply. */
async function migrationNames(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = await migrationNames(dir);
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    }),
  );
}

/**
 * Applies the migrations not yet recorded, each in its own transaction, under an advisory lock
 * so that two instances starting together apply each migration exactly once. We apply them
 * ourselves: Prisma Migrate through @prisma/adapter-pg fails on a real PostgreSQL
 * ("Column type 'name' could not be deserialized", https://github.com/prisma/prisma/issues/27403).
 * Returns the names applied by this call.
 */
export async function applyPendingMigrations(db: Database, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await readMigrations(dir);
  return db.withConnection(async (exec) => {
    await exec(`SELECT pg_advisory_lock(${MIGRATION_LOCK_ID})`);
    try {
      await exec(CREATE_HISTORY_TABLE);
      const rows = (await exec(
        `SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
      )) as { migration_name: string; checksum: string }[];
      const applied = new Map(rows.map((r) => [r.migration_name, r.checksum]));
      const done: string[] = [];
      for (const m of migrations) {
        const recorded = applied.get(m.name);
        if (recorded !== undefined) {
          if (recorded !== m.checksum) {
            throw new Error(`Migration ${m.name} was changed after it was applied (checksum differs)`);
          }
          continue;
        }
        await exec(
          `BEGIN;\n${m.sql}\n;INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count) VALUES ('${randomUUID()}', '${m.checksum}', now(), '${m.name.replaceAll("'", "''")}', 1);\nCOMMIT;`,
        ).catch(async (error: unknown) => {
          await exec("ROLLBACK").catch(() => {});
          throw new Error(`Migration ${m.name} failed: ${(error as Error).message}`);
        });
        done.push(m.name);
      }
      return done;
    } finally {
      await exec(`SELECT pg_advisory_unlock(${MIGRATION_LOCK_ID})`);
    }
  });
}

/** PostgreSQL's undefined_table: no history table yet, so no migration has been applied. */
const UNDEFINED_TABLE = "42P01";

/**
 * The migrations in `dir` that the database has not recorded as applied, in order: what readiness
 * (GET /ready) checks. One short query each call, nothing cached, so a probe sees a migration the
 * moment another instance has applied it. Rejects when the database cannot be reached.
 */
export async function pendingMigrations(db: Database, dir = MIGRATIONS_DIR): Promise<string[]> {
  const [names, applied] = await Promise.all([
    migrationNames(dir),
    db
      .withConnection((exec) =>
        exec(
          `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
        ),
      )
      .then(
        (rows) => new Set((rows as { migration_name: string }[]).map((r) => r.migration_name)),
        (error: unknown) => {
          if ((error as { code?: unknown } | null)?.code === UNDEFINED_TABLE) return new Set<string>();
          throw error;
        },
      ),
  ]);
  return names.filter((name) => !applied.has(name));
}
