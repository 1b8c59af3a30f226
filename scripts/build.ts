import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

// `npm start` runs this first (prestart), then plain `node dist/src/main.js`: a TypeScript loader in
// the serving process costs memory for nothing. tsx's hooks run in a second V8 isolate (Node 20's
// off-thread loader): ~55 MiB of RSS, a quarter of the issue-7 budget. esbuild transpiles file by
// file (no bundling, no type check: `npm run typecheck` does that) in well under a second.

const root = fileURLToPath(new URL("..", import.meta.url));
const outdir = join(root, "dist");
const SOURCES = ["src", "generated"];

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((file) => join(dir, file))
    .filter((path) => statSync(path).isFile());

const entryPoints = SOURCES.flatMap((dir) => filesUnder(join(root, dir))).filter(
  (file) => file.endsWith(".ts") && !file.endsWith(".d.ts"),
);

const { outputFiles } = await build({
  absWorkingDir: root,
  entryPoints,
  outdir,
  // dist/ mirrors the repository (dist/src, dist/generated), so relative imports between them hold.
  outbase: root,
  format: "esm",
  platform: "node",
  target: "node20",
  // Maps for `NODE_OPTIONS=--enable-source-maps` when a stack must point into the TypeScript;
  // not enabled by default: resolving them makes every Error.stack slower.
  sourcemap: true,
  logLevel: "warning",
  write: false,
});

// Instances may run from this directory while another one starts and rebuilds: only changed files
// are written, each atomically (rename), so a running or starting process never reads half a file.
const unchanged = (path: string, contents: Uint8Array) => {
  try {
    return readFileSync(path).equals(contents);
  } catch {
    return false;
  }
};
let written = 0;
for (const { path, contents } of outputFiles) {
  if (unchanged(path, contents)) continue;
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
  written++;
}
// Outputs of deleted sources go too, so that nothing imports them by mistake.
const wanted = new Set(outputFiles.map((file) => file.path));
// (A concurrent build's temporary files are its own to rename.)
const stale = filesUnder(outdir).filter((path) => !wanted.has(path) && !path.endsWith(".tmp"));
for (const path of stale) rmSync(path);
console.log(`built dist/ from ${entryPoints.length} files (${written} written, ${stale.length} removed)`);
