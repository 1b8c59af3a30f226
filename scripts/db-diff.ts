import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// `npm run db:diff [-- <git ref>]`: the SQL that turns schema.prisma as committed at <ref> (default
// HEAD) into the working copy's: the body of the next migration, to review and edit by hand.
// Prisma's `--from-migrations` would replay every migration on a shadow database, and the PGlite
// adapter of prisma.config.ts refuses multi-statement migrations there ("cannot insert multiple
// commands into a prepared statement"); comparing two datamodels needs no database at all.

const ref = process.argv[2] ?? "HEAD";
const dir = mkdtempSync(join(tmpdir(), "mg-db-diff-"));
try {
  const before = join(dir, "schema.prisma");
  writeFileSync(before, execFileSync("git", ["show", `${ref}:schema.prisma`], { encoding: "utf8" }));
  execFileSync(
    "npx",
    [
      "prisma",
      "migrate",
      "diff",
      "--from-schema-datamodel",
      before,
      "--to-schema-datamodel",
      "schema.prisma",
      "--script",
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
