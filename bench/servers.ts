import { execFileSync, spawn } from "node:child_process";
import { closeSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CONFIG_VARIABLES } from "../src/config.js";
import { type GcTally, gcTracker } from "./gc-trace.js";

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
  /** CPU time (user + system) the serving process has used so far, in seconds. */
  cpuSeconds(): number | undefined;
  /**
   * The same for its main thread alone: where JavaScript, and so every request, runs; without the
   * garbage collector's helpers, the compiler's and the thread pool's threads.
   */
  mainThreadCpuSeconds(): number | undefined;
  /**
   * How often the kernel has taken the CPU from the main thread while it could still run
   * (non-voluntary context switches so far): each time, its caches may be refilled when it resumes.
   */
  mainThreadPreemptions(): number | undefined;
  /** Garbage collections so far, as `--trace-gc` printed them (none without it). */
  gcSoFar(): GcTally;
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
  // Output to a file, as a log collector would take it: read back through a pipe, thousands of
  // log lines a second would cost the load generator (this process) CPU and so skew what it measures.
  const outputFile = join(mkdtempSync(join(tmpdir(), `mg-bench-${spec.name}-`)), "output.log");
  const out = openSync(outputFile, "a");
  // Own process group: `npm start` is npm → sh → tsx → node, and all of them must go at the end.
  const child = spawn(spec.command, spec.args, {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", out, out],
    detached: true,
  });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${spec.name}: could not spawn ${spec.command}`);
  const output = () => readTail(outputFile, 20_000);
  const exited = new Promise<void>((done) => child.once("close", () => done()));
  let alive = true;
  void exited.then(() => {
    alive = false;
  });

  const url = await waitForReady(spec, outputFile, exited, output).catch((error: unknown) => {
    signal(-pid, "SIGKILL");
    throw error;
  });
  let stopping: Promise<void> | undefined;
  // The serving node is found once, after its ready line: every reading below would walk /proc again.
  let serving: number | undefined;
  const servingPid = () => {
    serving ??= serverPid(pid);
    return serving;
  };
  return {
    name: spec.name,
    url,
    pid,
    rssMiB: () => readRssMiB(servingPid()),
    cpuSeconds: () => readCpuSeconds(servingPid()),
    gcSoFar: gcTracker(outputFile),
    mainThreadCpuSeconds: () => readCpuSeconds(servingPid(), servingPid()),
    mainThreadPreemptions: () => readPreemptions(servingPid(), servingPid()),
    output,
    stop() {
      stopping ??= (async () => {
        if (alive) {
          // The serving node itself: wrappers (npm, sh, tsx) follow it out when it exits.
          signal(servingPid(), "SIGTERM");
          const timer = setTimeout(() => signal(-pid, "SIGKILL"), STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(timer);
          // Whatever is left in the group (an npm or tsx wrapper that outlived its child).
          signal(-pid, "SIGKILL");
        }
        rmSync(dirname(outputFile), { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

function readHead(file: string, bytes: number): string {
  const fd = openSync(file, "r");
  try {
    const buffer = Buffer.alloc(bytes);
    return buffer.toString("utf8", 0, readSync(fd, buffer, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

/** The end of the output (which can grow to hundreds of MB in a long run). */
function readTail(file: string, bytes: number): string {
  try {
    const fd = openSync(file, "r");
    try {
      const size = fstatSync(fd).size;
      const buffer = Buffer.alloc(Math.min(size, bytes));
      readSync(fd, buffer, 0, buffer.length, size - buffer.length);
      return buffer.toString("utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return "";
  }
}

async function waitForReady(
  spec: ServerSpec,
  outputFile: string,
  exited: Promise<void>,
  output: () => string,
): Promise<string> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    // The ready line comes before any request is logged: the head of the file holds it.
    const url = spec.ready.exec(readHead(outputFile, 64 * 1024))?.[1];
    if (url) return url;
    if (gone) throw new Error(`${spec.name} exited before it was ready:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${spec.name} printed no ready line within ${READY_TIMEOUT_MS / 1000} s:\n${output()}`);
}

function signal(target: number, name: NodeJS.Signals): void {
  if (target === 0) return;
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

let ticksPerSecond: number | undefined;

/** The process's CPU time so far, in seconds; with `thread`, that thread's (the main thread's id is the pid). */
export function readCpuSeconds(pid: number, thread?: number): number | undefined {
  try {
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, "utf8");
    // Fields after "pid (comm) ": state is the 3rd field of proc(5), utime the 14th, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticksPerSecond ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

/** A thread's non-voluntary context switches so far (proc(5), /proc/<pid>/task/<tid>/status). */
export function readPreemptions(pid: number, thread: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/task/${thread}/status`, "utf8");
    const count = /^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1];
    return count === undefined ? undefined : Number(count);
  } catch {
    return undefined;
  }
}
