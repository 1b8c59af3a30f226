import { PGlite } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { defineConfig } from "prisma/config";

// engine "js": the CLI runs on npm packages alone (Prisma 7's native schema engine download is
// unreachable here). The CLI only authors migrations (`npm run db:diff`), against an in-memory
// PGlite; src/db/migrations.ts applies them, because migrate through @prisma/adapter-pg fails on
// a real PostgreSQL (prisma/orm#27403).
// The generator reads the datasource url while resolving `engineType`; without one it falls back
// to the native query engine and tries to download it. Generating needs no database, so any url do.
process.env.DATABASE_URL ??= "postgresql://generate.invalid/unused";

export default defineConfig({
  schema: "schema.prisma",
  migrations: { path: "migrations" },
  experimental: { adapter: true },
  engine: "js",
  adapter: async () => new PrismaPGlite(new PGlite()),
});
