import { type ChildProcess, spawn } from "node:child_process";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { CONFIG_VARIABLES } from "../../src/config.js";

/** The repository root: where `dist/src/main.js` (built by test/support/build.ts) and `node_modules` are. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<Exit>;
  /** Resolves with the match once a stdout line matches; rejects on timeout or exit, with the output so far. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends the signal and waits for the exit; SIGKILLs (and rejects) after timeoutMs. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
}

/** Every process spawned here, until `killLeftovers` has seen it exit. */
const running = new Set<CliProcess>();

/** The inherited environment without the service's variables, plus `env` (undefined removes). */
export function cliEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARIABLES) delete result[name];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete result[name];
    else result[name] = value;
  }
  return result;
}

/** `node dist/src/main.js <args>` in the repository root, as `npm start` runs it. */
export function spawnCli(args: string[], env: Record<string, string | undefined>): CliProcess {
  return spawnInRepository(process.execPath, ["dist/src/main.js", ...args], env);
}

/** Any command in the repository root (`npm start` itself, say), with the same handle as spawnCli's. */
export function spawnInRepository(
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
): CliProcess {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: cliEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<Exit>((resolveExit) => {
    // "close": the exit code is known and both pipes are drained.
    child.once("close", (code, signal) => resolveExit({ code, signal }));
    child.once("error", (error) => {
      err += `\n[spawn error] ${error.message}`;
      resolveExit({ code: null, signal: null });
    });
  });
  const describe = (what: string) =>
    `${what}\n--- stdout ---\n${out}\n--- stderr ---\n${err}\n--- args: ${args.join(" ")}`;

  const proc: CliProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLine(pattern, timeoutMs = 30_000) {
      return new Promise((resolveLine, reject) => {
        const lineRegex = new RegExp(pattern.source, pattern.flags.replace("g", "").concat("m"));
        // Only complete lines, so that a half-received token is never taken for the whole one.
        const check = (all = false) => {
          const match = lineRegex.exec(all ? out : out.slice(0, out.lastIndexOf("\n") + 1));
          if (!match) return false;
          cleanup();
          resolveLine(match);
          return true;
        };
        const onData = () => void check();
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(describe(`Timed out after ${timeoutMs} ms waiting for a stdout line matching ${pattern}`)));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          child.stdout?.off("data", onData);
        };
        if (check()) return;
        child.stdout?.on("data", onData);
        void exited.then((exit) => {
          if (check(true)) return;
          cleanup();
          reject(new Error(describe(`Exited (code ${exit.code}, signal ${exit.signal}) before printing ${pattern}`)));
        });
      });
    },
    async stop(signal = "SIGTERM", timeoutMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), timeoutMs);
      });
      const result = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (result === "timeout") {
        child.kill("SIGKILL");
        await exited;
        throw new Error(describe(`Did not exit within ${timeoutMs} ms of ${signal}`));
      }
      return result;
    },
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

/** Runs a CLI command to its end. */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  timeoutMs = 30_000,
): Promise<Exit & { stdout: string; stderr: string }> {
  const proc = spawnCli(args, env);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((r) => {
    timer = setTimeout(() => r("timeout"), timeoutMs);
  });
  const result = await Promise.race([proc.exited, timedOut]);
  clearTimeout(timer);
  if (result === "timeout") {
    proc.child.kill("SIGKILL");
    await proc.exited;
    throw new Error(`'${args.join(" ")}' did not finish within ${timeoutMs} ms\n${proc.stdout()}\n${proc.stderr()}`);
  }
  return { ...result, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** SIGKILLs whatever is still running (afterEach / afterAll). */
export async function killLeftovers(): Promise<void> {
  const procs = [...running];
  for (const p of procs) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  }
  await Promise.all(procs.map((p) => p.exited));
}

export interface ServerProcess extends CliProcess {
  port: number;
  /** http://127.0.0.1:<port> */
  origin: string;
  /** The storage named in the listening line. */
  storage: string;
  /** The dev token, when one was expected (`devToken: true`). */
  devToken: string | undefined;
}

/** The line `serve` prints once it listens: port, storage. */
export const LISTENING = /^metadata-graph listening on http:\/\/127\.0\.0\.1:(\d+)\/graphql \(storage: (.+)\)$/;
const DEV_TOKEN = /^Authorization: Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

/** `serve` on a free port of 127.0.0.1; resolves once it listens (and has printed its dev token, if expected). */
export async function startServer(
  env: Record<string, string | undefined>,
  { devToken = true, timeoutMs = 40_000 }: { devToken?: boolean; timeoutMs?: number } = {},
): Promise<ServerProcess> {
  const proc = spawnCli(["serve"], { PORT: "0", HOST: "127.0.0.1", ...env });
  const [, port = "", storage = ""] = await proc.waitForLine(LISTENING, timeoutMs);
  const token = devToken ? (await proc.waitForLine(DEV_TOKEN, 5_000))[1] : undefined;
  return Object.assign(proc, {
    port: Number(port),
    origin: `http://127.0.0.1:${port}`,
    storage,
    devToken: token,
  });
}

export interface GraphQLResponse<T> {
  status: number;
  body: {
    data?: T | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

/** POST /graphql; `authorization` is the whole header value ("Bearer …", "JWT …"). */
export async function graphql<T = Record<string, unknown>>(
  origin: string,
  query: string,
  { variables, authorization }: { variables?: Record<string, unknown>; authorization?: string } = {},
): Promise<GraphQLResponse<T>> {
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (authorization) headers.authorization = authorization;
  const response = await fetch(`${origin}/graphql`, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) as GraphQLResponse<T>["body"] };
  } catch {
    throw new Error(`POST /graphql answered ${response.status} with non-JSON: ${text.slice(0, 500)}`);
  }
}

/** A GET on a new connection (no keep-alive pool): resolves with the status, rejects if not accepted. */
export function getOnNewConnection(url: string, timeoutMs = 5_000): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** Temporary directories (DATA_DIR), removed by `removeTempDirs`. */
const tempDirs: string[] = [];

export async function tempDir(prefix = "mg-proc-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  cluster = undefined;
  const dirs = tempDirs.splice(0);
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

let cluster: Promise<string> | undefined;

/** Starts creating the cluster `dataDirWithEmptyCluster` copies (once); its directory. */
export function prepareEmptyCluster(): Promise<string> {
  cluster ??= tempDir("mg-proc-cluster-").then(async (dir) => {
    const db = await PGlite.create(join(dir, "pglite"));
    await db.close();
    return dir;
  });
  // A failure surfaces where the cluster is awaited.
  cluster.catch(() => {});
  return cluster;
}

/**
 * A fresh DATA_DIR whose `pglite/` already holds an initialized, empty cluster (no migrations, no
 * dev key): PGlite's initdb costs seconds of CPU per start, so it runs once per test file and is copied.
 */
export async function dataDirWithEmptyCluster(): Promise<string> {
  const template = await prepareEmptyCluster();
  const dataDir = await tempDir();
  await cp(join(template, "pglite"), join(dataDir, "pglite"), { recursive: true });
  return dataDir;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** When the whole response had arrived. */
  at: number;
}

export interface SlowRequest {
  /** Resolves once the server has read the headers (its `100 Continue`). */
  continued: Promise<void>;
  /** Sends the rest of the body. */
  finish(): void;
  response: Promise<RawResponse>;
  /** When the server closed the connection (the client never does). */
  closedAt: Promise<number>;
  destroy(): void;
}

/**
 * An HTTP/1.1 POST on its own keep-alive connection whose body is sent in two parts: the server
 * has the request in flight between `continued` and `finish()`. The client keeps the connection
 * open after the response, like any keep-alive client.
 */
export function slowPost(origin: string, path: string, headers: Record<string, string>, body: string): SlowRequest {
  const url = new URL(origin);
  const socket = connect(Number(url.port), url.hostname);
  const bytes = Buffer.from(body, "utf8");
  const half = Math.floor(bytes.length / 2);
  const head = [
    `POST ${path} HTTP/1.1`,
    `Host: ${url.host}`,
    "Connection: keep-alive",
    "Expect: 100-continue",
    `Content-Length: ${bytes.length}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ].join("\r\n");
  socket.write(head);
  socket.write(bytes.subarray(0, half));

  let buffer = Buffer.alloc(0);
  let onContinue: () => void = () => {};
  let onResponse: (r: RawResponse) => void = () => {};
  let onError: (e: Error) => void = () => {};
  const continued = new Promise<void>((resolve, reject) => {
    onContinue = resolve;
    socket.once("error", reject);
    socket.once("close", () => reject(new Error("connection closed before 100 Continue")));
  });
  const response = new Promise<RawResponse>((resolve, reject) => {
    onResponse = resolve;
    onError = reject;
  });
  // Awaited later, perhaps after they failed: not unhandled meanwhile.
  continued.catch(() => {});
  response.catch(() => {});
  const closedAt = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
  socket.on("error", (e) => onError(e));
  socket.on("close", () => onError(new Error(`connection closed before a complete response: ${buffer.toString()}`)));
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const [statusLine = "", ...lines] = buffer.subarray(0, end).toString("latin1").split("\r\n");
      const status = Number(statusLine.split(" ")[1]);
      if (status === 100) {
        buffer = buffer.subarray(end + 4);
        onContinue();
        continue;
      }
      const responseHeaders = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(":")).trim().toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
      );
      const rest = buffer.subarray(end + 4);
      const decoded = responseHeaders["transfer-encoding"]?.includes("chunked")
        ? decodeChunked(rest)
        : rest.length >= Number(responseHeaders["content-length"] ?? 0)
          ? rest.subarray(0, Number(responseHeaders["content-length"] ?? 0))
          : undefined;
      if (decoded === undefined) return;
      onResponse({ status, headers: responseHeaders, body: decoded.toString("utf8"), at: Date.now() });
      return;
    }
  });
  return {
    continued,
    finish: () => void socket.write(bytes.subarray(half)),
    response,
    closedAt,
    destroy: () => socket.destroy(),
  };
}

/** The body of a complete chunked message, or undefined while incomplete. */
function decodeChunked(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", offset);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(data.subarray(offset, lineEnd).toString("latin1"), 16);
    if (size === 0) return Buffer.concat(parts);
    if (data.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}
