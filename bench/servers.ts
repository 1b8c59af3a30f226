import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CONFIG_VARIABLES } from "../src/config.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export interface ServerSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Matches the ready line; group 1 is the GraphQL endpoint URL. */
  ready: RegExp;
}

export interface ServerProcess {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** VmRSS of the process that serves (the deepest `node` under the one spawned), in MiB. */
  rssMiB(): number | undefined;
  /** SIGTERM, wait for a graceful exit (SIGKILL after 20 s). Idempotent. */
  stop(): Promise<void>;
  output(): string;
}

const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;

export async function startServer(spec: ServerSpec): Promise<ServerProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete env[name];
  Object.assign(env, spec.env);
  // Own process group: `npm start` is npm → sh → tsx → node, and all of them must go at the end.
  const child = spawn(spec.command, spec.args, {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${spec.name}: could not spawn ${spec.command}`);
  let log = "";
  const keep = (chunk: string) => {
    log = (log + chunk).slice(-20_000);
  };
  child.stdout?.setEncoding("utf8").on("data", keep);
  child.stderr?.setEncoding("utf8").on("data", keep);
  const exited = new Promise<void>((done) => child.once("close", () => done()));
  let alive = true;
  void exited.then(() => {
    alive = false;
  });

  const url = await waitForReady(spec, child, exited, () => log);
  let stopping: Promise<void> | undefined;
  return {
    name: spec.name,
    url,
    pid,
    rssMiB: () => readRssMiB(serverPid(pid)),
    output: () => log,
    stop() {
      stopping ??= (async () => {
        if (!alive) return;
        // The serving node itself: wrappers (npm, sh, tsx) follow it out when it exits.
        signal(serverPid(pid), "SIGTERM");
        const timer = setTimeout(() => signal(-pid, "SIGKILL"), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
        // Whatever is left in the group (an npm or tsx wrapper that outlived its child).
        signal(-pid, "SIGKILL");
      })();
      return stopping;
    },
  };
}

function waitForReady(
  spec: ServerSpec,
  child: ChildProcess,
  exited: Promise<void>,
  log: () => string,
): Promise<string> {
  return new Promise((resolveReady, reject) => {
    let seen = "";
    const onData = (chunk: string) => {
      seen += chunk;
      const url = spec.ready.exec(seen)?.[1];
      if (url) {
        cleanup();
        resolveReady(url);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      signal(-(child.pid ?? 0), "SIGKILL");
      reject(new Error(`${spec.name} printed no ready line within ${READY_TIMEOUT_MS / 1000} s:\n${log()}`));
    }, READY_TIMEOUT_MS);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
    };
    child.stdout?.on("data", onData);
    void exited.then(() => {
      cleanup();
      reject(new Error(`${spec.name} exited before it was ready:\n${log()}`));
    });
  });
}

function signal(target: number, name: NodeJS.Signals): void {
  if (target === 0 || target === 0) return;
  try {
    process.kill(target, name);
  } catch {
    // Already gone.
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ").filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

function command(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** The deepest `node` process under `root` (root itself when it has none). */
export function serverPid(root: number): number {
  let best = root;
  let bestDepth = -1;
  const walk = (pid: number, depth: number) => {
    if (command(pid) === "node" && depth > bestDepth) {
      best = pid;
      bestDepth = depth;
    }
    for (const child of childrenOf(pid)) walk(child, depth + 1);
  };
  walk(root, 0);
  return best;
}

export function readRssMiB(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? undefined : Math.round((Number(kb) / 1024) * 10) / 10;
  } catch {
    return undefined;
  }
}
