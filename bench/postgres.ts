import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "./servers.js";

const run = promisify(execFile);
const SCRIPT = join(REPO_ROOT, ".ci/postgres.sh");

export interface Postgres {
  url: string;
  /** Stops and removes a throwaway cluster; a no-op for BENCH_DATABASE_URL. */
  stop(): Promise<void>;
}

/** BENCH_DATABASE_URL when set, else a throwaway PostgreSQL 15 from `.ci/postgres.sh start`. */
export async function providePostgres(): Promise<Postgres> {
  const given = process.env.BENCH_DATABASE_URL?.trim();
  if (given) return { url: given, stop: async () => {} };
  // A production-like cache: the 1,000,000-row tables and their indexes (~700 MB) fit in it.
  const env = { ...process.env, PG_SERVER_OPTIONS: process.env.PG_SERVER_OPTIONS ?? "-c shared_buffers=1GB" };
  const { stdout } = await run("bash", [SCRIPT, "start"], { cwd: REPO_ROOT, env });
  const url = /^export DATABASE_URL=(\S+)$/m.exec(stdout)?.[1];
  const dir = /^export PG_THROWAWAY_DIR=(\S+)$/m.exec(stdout)?.[1];
  if (!url || !dir) throw new Error(`.ci/postgres.sh start printed no DATABASE_URL / PG_THROWAWAY_DIR:\n${stdout}`);
  let stopped = false;
  return {
    url,
    async stop() {
      if (stopped) return;
      stopped = true;
      await run("bash", [SCRIPT, "stop", dir], { cwd: REPO_ROOT });
    },
  };
}
