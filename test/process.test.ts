import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { decodeJwt, jwtVerify, SignJWT } from "jose";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  dataDirWithEmptyCluster,
  getOnNewConnection,
  graphql,
  killLeftovers,
  LISTENING,
  prepareEmptyCluster,
  REPO_ROOT,
  removeTempDirs,
  runCli,
  type ServerProcess,
  slowPost,
  spawnInRepository,
  startServer,
  tempDir,
} from "./support/process.js";

// The service as operators run it: `node dist/src/main.js …` (what `npm start` runs after building) in its own process.

const MIGRATIONS = readdirSync(join(REPO_ROOT, "migrations"), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();
// A log line: after the time and level when pretty-printed (outside production).
const APPLIED_LINE = new RegExp(`Applied migrations: ${MIGRATIONS.join(", ")}$`, "m");
const STACK_LINE = /^\s+at /m;
const EXITED_OK = { code: 0, signal: null };

const SET = `mutation Set($input: MetadataInput!) {
  updateMetadata(input: $input) { metadata { linkedObjectType identifier key value version } }
}`;
const GET = `query Get($identifier: String!, $key: String!, $linkedObjectType: LinkedObjectType) {
  metadataForKey(identifier: $identifier, key: $key, linkedObjectType: $linkedObjectType) { key value version }
}`;

interface Entry {
  key: string;
  value: string;
  version: number;
}
type SetResult = { updateMetadata: { metadata: Entry & { linkedObjectType: string; identifier: string } } };
type GetResult = { metadataForKey: Entry | null };

interface Target {
  linkedObjectType: string;
  identifier: string;
}
const ACCOUNT: Target = { linkedObjectType: "ACCOUNT", identifier: "A-1" };

function set(server: ServerProcess, authorization: string, target: Target, key: string, value: string) {
  return graphql<SetResult>(server.origin, SET, { variables: { input: { ...target, key, value } }, authorization });
}

function get(server: ServerProcess, authorization: string, target: Target, key: string) {
  return graphql<GetResult>(server.origin, GET, { variables: { ...target, key }, authorization });
}

/** Writes and expects success; returns the stored entry. */
async function write(server: ServerProcess, authorization: string, target: Target, key: string, value: string) {
  const result = await set(server, authorization, target, key, value);
  expect(result.body.errors, JSON.stringify(result.body.errors)).toBeUndefined();
  expect(result.status).toBe(200);
  const entry = result.body.data?.updateMetadata.metadata;
  expect(entry).toMatchObject({ ...target, key, value });
  return entry;
}

async function read(server: ServerProcess, authorization: string, target: Target, key: string) {
  const result = await get(server, authorization, target, key);
  expect(result.body.errors, `${target.identifier}/${key}: ${JSON.stringify(result.body.errors)}`).toBeUndefined();
  return result.body.data?.metadataForKey;
}

function errorCodes(result: { body: { errors?: { extensions?: Record<string, unknown> }[] } }): unknown[] {
  return (result.body.errors ?? []).map((e) => e.extensions?.code);
}

function requireToken(server: ServerProcess): string {
  const token = server.devToken;
  if (!token) throw new Error(`no dev token printed:\n${server.stdout()}`);
  return token;
}

afterEach(killLeftovers);
afterAll(async () => {
  await killLeftovers();
  await removeTempDirs();
});

describe("metadata-graph process on PGlite", () => {
  // Started now, awaited by the tests that copy it: it runs while the first two spawn their processes.
  beforeAll(() => {
    void prepareEmptyCluster();
  });

  it("`migrate` applies the migrations on a fresh DATA_DIR, then finds the database up to date", async () => {
    // Empty: the cluster itself is created here too (the other tests start from a copied empty one).
    const dataDir = await tempDir();
    const first = await runCli(["migrate"], { DATA_DIR: dataDir });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(APPLIED_LINE);
    expect(existsSync(join(dataDir, "pglite"))).toBe(true);
    const second = await runCli(["migrate"], { DATA_DIR: dataDir });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim()).toBe("Database is up to date");
  }, 90_000);

  it("`npm start` builds dist/ and serves from it: the migrations are found and applied, SIGTERM ends it", async () => {
    const dataDir = await dataDirWithEmptyCluster();
    const proc = spawnInRepository("npm", ["start"], { DATA_DIR: dataDir, PORT: "0", HOST: "127.0.0.1" });
    const [, port] = await proc.waitForLine(LISTENING, 60_000);
    expect(proc.stdout()).toMatch(/^built dist\/ from \d+ files \(\d+ written, \d+ removed\)$/m);
    expect(proc.stdout()).toMatch(APPLIED_LINE);
    expect(proc.stdout()).toContain("exec node dist/src/main.js serve");
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    expect(ready.status).toBe(200);
    // npm passes SIGTERM on to the service (its script `exec`s node): a graceful stop, exit code 0.
    expect(await proc.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(proc.stdout()).toMatch(/SIGTERM received/);
  }, 90_000);

  it("refuses to start with an unusable configuration: exit 1, the variable named, no stack trace", async () => {
    const dataDir = await tempDir();
    const [production, badPort] = await Promise.all([
      runCli(["serve"], { NODE_ENV: "production", DATA_DIR: dataDir, PORT: "0", HOST: "127.0.0.1" }),
      runCli(["serve"], { PORT: "abc", DATA_DIR: dataDir, HOST: "127.0.0.1" }),
    ]);
    for (const [result, variable] of [
      [production, "JWT_SECRET"],
      [badPort, "PORT"],
    ] as const) {
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toContain(variable);
      expect(result.stderr).not.toMatch(STACK_LINE);
      expect(result.stdout).not.toContain("listening");
      expect(result.stdout).not.toContain("Authorization");
    }
    expect(production.stderr).toContain("production");
    // Nothing was created for a process that refused to start.
    expect(readdirSync(dataDir)).toEqual([]);
  }, 30_000);

  it("dev mode: prints where it listens and a token; /health, GraphiQL offline, the token works", async () => {
    const dataDir = await dataDirWithEmptyCluster();
    const server = await startServer({ DATA_DIR: dataDir });
    const stdout = server.stdout();
    expect(stdout).toMatch(APPLIED_LINE);
    expect(server.storage).toBe(`PGlite in ${dataDir}/pglite`);
    expect(stdout).toMatch(/^Dev mode: no JWT key configured\. A token with all rights/m);
    expect(server.stderr()).not.toMatch(/error|warn/i);
    const token = requireToken(server);
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ sub: "dev-user", tenant: "default", permissions: ["CAN_MUTATE_METADATA"] });
    expect((claims.exp ?? 0) - Date.now() / 1000).toBeGreaterThan(29 * 24 * 3600);
    expect(existsSync(join(dataDir, "dev-jwt-secret"))).toBe(true);

    // `token` against the same DATA_DIR signs with the same dev key (runs while the HTTP checks do).
    const minted = runCli(["token", "--sub", "u-dev", "--scope", "metadata.write", "--accounts", "A-9"], {
      DATA_DIR: dataDir,
    });

    const health = await fetch(`${server.origin}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });

    const page = await fetch(`${server.origin}/graphql`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain("<html");
    expect(html).toContain(`Bearer ${token}`);
    expect(html).not.toContain("unpkg.com");
    expect(html).not.toContain("cdn.jsdelivr");
    expect(html).not.toMatch(/<script[^>]*\ssrc=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/<link[^>]*\shref=["']?(https?:)?\/\//i);

    // Without a token, or with a forged one, nothing is written: the printed token is what works.
    expect(errorCodes(await set(server, "", ACCOUNT, "k", "v"))).toEqual(["UNAUTHENTICATED"]);
    const forged = await new SignJWT({ sub: "dev-user", permissions: ["CAN_MUTATE_METADATA"] })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("x".repeat(43)));
    expect(errorCodes(await set(server, `Bearer ${forged}`, ACCOUNT, "k", "v"))).toEqual(["UNAUTHENTICATED"]);

    // Kraken's header form, then the usual one.
    expect(await write(server, `JWT ${token}`, ACCOUNT, "k", "v")).toMatchObject({ version: 1 });
    expect(await read(server, `Bearer ${token}`, ACCOUNT, "k")).toEqual({ key: "k", value: "v", version: 1 });

    const cli = await minted;
    expect(cli.code, cli.stderr).toBe(0);
    const userToken = cli.stdout.trim();
    expect(userToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(await write(server, `Bearer ${userToken}`, { ...ACCOUNT, identifier: "A-9" }, "mine", "1")).toMatchObject({
      version: 1,
    });

    expect(await server.stop()).toEqual(EXITED_OK);
    expect(server.stdout()).toMatch(/SIGTERM received: /);
  }, 90_000);

  it("restart on the same DATA_DIR: no migration re-applied, old token valid, every entry kept", async () => {
    const dataDir = await dataDirWithEmptyCluster();
    const first = await startServer({ DATA_DIR: dataDir });
    expect(first.stdout()).toMatch(APPLIED_LINE);
    const auth = `Bearer ${requireToken(first)}`;

    const org: Target = { linkedObjectType: "ORGANIZATION", identifier: "org-7" };
    const expected: { target: Target; key: string; value: string; version: number }[] = [
      { target: ACCOUNT, key: "theme", value: "solarized", version: 3 },
      { target: ACCOUNT, key: "lang", value: "fr", version: 1 },
      { target: ACCOUNT, key: "json", value: '{"a": [1, 2], "b": null}', version: 1 },
      { target: ACCOUNT, key: "unicode", value: "héllo ✓ 日本", version: 1 },
      { target: org, key: "theme", value: "dark", version: 1 },
    ];
    expect((await write(first, auth, ACCOUNT, "theme", "dark"))?.version).toBe(1);
    expect((await write(first, auth, ACCOUNT, "theme", "light"))?.version).toBe(2);
    expect((await write(first, auth, ACCOUNT, "theme", "solarized"))?.version).toBe(3);
    for (const e of expected.slice(1)) await write(first, auth, e.target, e.key, e.value);

    expect(await first.stop()).toEqual(EXITED_OK);

    const second = await startServer({ DATA_DIR: dataDir });
    expect(second.stdout()).not.toContain("Applied migrations");
    expect(second.storage).toBe(`PGlite in ${dataDir}/pglite`);
    for (const e of expected) {
      expect(await read(second, auth, e.target, e.key)).toEqual({ key: e.key, value: e.value, version: e.version });
    }
    // The next write continues the version sequence.
    expect((await write(second, auth, ACCOUNT, "theme", "again"))?.version).toBe(4);
    expect(await second.stop()).toEqual(EXITED_OK);
  }, 90_000);

  it("SIGTERM during a burst of writes: in-flight requests finish, every acknowledged write survives", async () => {
    const dataDir = await dataDirWithEmptyCluster();
    // A loaded machine must not turn slow requests into ones cut by the shutdown timeout.
    const first = await startServer({ DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_SECONDS: "40" });
    const auth = `Bearer ${requireToken(first)}`;
    const target: Target = { linkedObjectType: "ACCOUNT", identifier: "A-burst" };

    // One request certainly in flight: headers read by the server, half of the body sent.
    const slow = slowPost(
      first.origin,
      "/graphql",
      { "Content-Type": "application/json", Authorization: auth },
      JSON.stringify({ query: SET, variables: { input: { ...target, key: "slow", value: "v-slow" } } }),
    );
    await slow.continued;

    // The burst, and the signal right after sending it.
    const count = 50;
    const requests = Array.from({ length: count }, (_, i) =>
      set(first, auth, target, `k${i}`, `v${i}`).then(
        (response) => ({ i, response }),
        (error: unknown) => ({ i, error }),
      ),
    );
    const stopping = first.stop("SIGTERM", 50_000);
    await first.waitForLine(/SIGTERM received: /, 10_000);
    // No new connection is accepted any more (refused, or the process is already gone).
    await expect(getOnNewConnection(`${first.origin}/health`)).rejects.toThrow();

    slow.finish();
    const slowResponse = await slow.response;
    // (How long the server keeps this connection open is the next test's business.)
    slow.destroy();
    expect(slowResponse.status, slowResponse.body).toBe(200);
    expect(JSON.parse(slowResponse.body)).toEqual({
      data: { updateMetadata: { metadata: { ...target, key: "slow", value: "v-slow", version: 1 } } },
    });

    const settled = await Promise.all(requests);
    expect(await stopping).toEqual(EXITED_OK);

    const answered = settled.flatMap((s) => ("response" in s ? [{ i: s.i, ...s.response }] : []));
    // An answered request was in flight: it must have completed, not failed because the database closed.
    const failed = answered.filter((a) => a.status !== 200 || a.body.errors !== undefined);
    expect(failed.map((a) => ({ i: a.i, status: a.status, errors: a.body.errors }))).toEqual([]);
    const acknowledged = answered.filter((a) => a.body.data?.updateMetadata.metadata.key === `k${a.i}`);
    expect(acknowledged).toHaveLength(answered.length);

    const second = await startServer({ DATA_DIR: dataDir });
    const list = await graphql<{ metadataList: { edges: { node: Entry }[] } }>(
      second.origin,
      `{ metadataList(linkedObjectType: ACCOUNT, identifier: "${target.identifier}", first: 500) {
          edges { node { key value version } } } }`,
      { authorization: auth },
    );
    expect(list.body.errors).toBeUndefined();
    const stored = new Map(list.body.data?.metadataList.edges.map(({ node }) => [node.key, node]));
    const expected = [
      { key: "slow", value: "v-slow", version: 1 },
      ...acknowledged.map(({ i }) => ({ key: `k${i}`, value: `v${i}`, version: 1 })),
    ];
    expect(expected.filter((e) => JSON.stringify(stored.get(e.key)) !== JSON.stringify(e))).toEqual([]);
    // Conversely, every write the server carried out was answered: a request it accepted never lost
    // its response to the shutdown (the unanswered ones were refused before being read).
    const answeredKeys = new Set(expected.map((e) => e.key));
    expect([...stored.keys()].filter((key) => !answeredKeys.has(key))).toEqual([]);
    expect(await second.stop()).toEqual(EXITED_OK);
  }, 90_000);

  it("SIGTERM: a keep-alive connection is closed once its in-flight request is answered; exit follows promptly", async () => {
    // A shutdown timeout far above the keep-alive timeout (5 s): only a prompt close passes.
    const server = await startServer({ DATA_DIR: await dataDirWithEmptyCluster(), SHUTDOWN_TIMEOUT_SECONDS: "30" });
    const slow = slowPost(
      server.origin,
      "/graphql",
      { "Content-Type": "application/json", Authorization: `Bearer ${requireToken(server)}` },
      JSON.stringify({ query: SET, variables: { input: { ...ACCOUNT, key: "last", value: "word" } } }),
    );
    await slow.continued;
    const stopping = server.stop("SIGTERM", 40_000).then((exit) => ({ ...exit, at: Date.now() }));
    await server.waitForLine(/SIGTERM received: /, 10_000);
    slow.finish();
    const response = await slow.response;
    expect(response.status, response.body).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ data: { updateMetadata: { metadata: { version: 1 } } } });
    // The client keeps its connection, as keep-alive clients do; the server must not wait for it.
    const closedAt = await slow.closedAt;
    const { at: exitedAt, ...exit } = await stopping;
    expect(exit).toEqual(EXITED_OK);
    const after = { connectionClosedMs: closedAt - response.at, processExitedMs: exitedAt - response.at };
    expect(after.connectionClosedMs, JSON.stringify(after)).toBeLessThan(3_000);
    expect(after.processExitedMs, JSON.stringify(after)).toBeLessThan(3_000);
  }, 90_000);

  it("with JWT_SECRET: no dev token; `token` mints a token with every claim that the server accepts", async () => {
    const secret = randomBytes(32).toString("base64url");
    const dataDir = await dataDirWithEmptyCluster();
    const cliDir = await tempDir();
    const publicKey = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }).toString();
    const tokenArgs = [
      "token",
      "--sub",
      "u1",
      "--scope",
      "metadata.read metadata.write",
      "--permissions",
      "CAN_MUTATE_METADATA",
      "--accounts",
      "A-1,A-2",
      "--orgs",
      "o1",
      "--tenant",
      "t1",
      "--client",
      "c1",
      "--email",
      "e@x",
      "--expires-in",
      "2h",
    ];
    const [server, minted, withPublicKey] = await Promise.all([
      startServer({ DATA_DIR: dataDir, JWT_SECRET: secret }, { devToken: false }),
      runCli(tokenArgs, { JWT_SECRET: secret, DATA_DIR: cliDir }),
      runCli(tokenArgs, { JWT_PUBLIC_KEY: publicKey, DATA_DIR: cliDir }),
    ]);

    expect(withPublicKey.code).toBe(1);
    expect(withPublicKey.stdout).toBe("");
    expect(withPublicKey.stderr).toMatch(/JWT_PUBLIC_KEY/);
    expect(withPublicKey.stderr).not.toMatch(STACK_LINE);

    expect(minted.code, minted.stderr).toBe(0);
    const lines = minted.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const token = lines[0] ?? "";
    const now = Date.now() / 1000;
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      sub: "u1",
      tenant: "t1",
      scope: "metadata.read metadata.write",
      permissions: ["CAN_MUTATE_METADATA"],
      accounts: ["A-1", "A-2"],
      orgs: ["o1"],
      client_id: "c1",
      email: "e@x",
    });
    expect(claims.exp).toBeDefined();
    expect(Math.abs((claims.exp ?? 0) - now - 7200)).toBeLessThan(120);
    // Signed with JWT_SECRET, and no dev key was made for it.
    await expect(jwtVerify(token, new TextEncoder().encode(secret))).resolves.toBeDefined();
    expect(existsSync(join(cliDir, "dev-jwt-secret"))).toBe(false);

    // The server: no dev token, no dev key, and it accepts the minted token (tenant t1).
    const health = await fetch(`${server.origin}/health`);
    expect(health.status).toBe(200);
    expect(server.stdout()).not.toContain("Dev mode");
    expect(server.stdout()).not.toContain("Authorization");
    expect(existsSync(join(dataDir, "dev-jwt-secret"))).toBe(false);
    const page = await (await fetch(`${server.origin}/graphql`, { headers: { accept: "text/html" } })).text();
    expect(page).not.toContain("Bearer ey");

    const auth = `Bearer ${token}`;
    await write(server, auth, { linkedObjectType: "ACCOUNT", identifier: "A-2" }, "k", "v");
    expect(await read(server, auth, { linkedObjectType: "ACCOUNT", identifier: "A-2" }, "k")).toEqual({
      key: "k",
      value: "v",
      version: 1,
    });
    // Another tenant's token with the same rights does not see tenant t1's entry.
    const otherTenant = await new SignJWT({ ...claims, tenant: "t2" })
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(secret));
    const elsewhere = await get(
      server,
      `Bearer ${otherTenant}`,
      { linkedObjectType: "ACCOUNT", identifier: "A-2" },
      "k",
    );
    expect(errorCodes(elsewhere)).toEqual(["NOT_FOUND"]);
    // A token signed with another key is refused.
    const foreign = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(randomBytes(32).toString("base64url")));
    expect(errorCodes(await get(server, `Bearer ${foreign}`, ACCOUNT, "k"))).toEqual(["UNAUTHENTICATED"]);

    expect(await server.stop()).toEqual(EXITED_OK);
  }, 90_000);
});

const adminUrl = process.env.DATABASE_URL;

describe.runIf(adminUrl)("metadata-graph process on PostgreSQL (DATABASE_URL)", () => {
  const created: string[] = [];

  async function admin<T>(fn: (c: pg.Client) => Promise<T>, database?: string): Promise<T> {
    const url = new URL(adminUrl ?? "");
    if (database) url.pathname = `/${database}`;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  /** A fresh database; its URL. */
  async function freshDatabase(): Promise<{ name: string; url: string }> {
    const name = `mg_proc_${randomBytes(6).toString("hex")}`;
    await admin((c) => c.query(`CREATE DATABASE ${name}`));
    created.push(name);
    const url = new URL(adminUrl ?? "");
    url.pathname = `/${name}`;
    return { name, url: url.toString() };
  }

  afterAll(async () => {
    await killLeftovers();
    for (const name of created.splice(0)) {
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    }
  });

  it("writes, restarts and reads back on a fresh database", async () => {
    const db = await freshDatabase();
    const dataDir = await tempDir();
    const first = await startServer({ DATABASE_URL: db.url, DATA_DIR: dataDir });
    expect(first.storage).toBe("PostgreSQL (DATABASE_URL)");
    expect(first.stdout()).toMatch(APPLIED_LINE);
    // PostgreSQL holds the data: DATA_DIR keeps only the dev key.
    expect(existsSync(join(dataDir, "pglite"))).toBe(false);
    const auth = `Bearer ${requireToken(first)}`;
    const health = await fetch(`${first.origin}/health`);
    expect(health.status).toBe(200);
    await write(first, auth, ACCOUNT, "theme", "dark");
    await write(first, auth, ACCOUNT, "theme", "light");
    await write(first, auth, ACCOUNT, "lang", "de");
    expect(await first.stop()).toEqual(EXITED_OK);

    const second = await startServer({ DATABASE_URL: db.url, DATA_DIR: dataDir });
    expect(second.stdout()).not.toContain("Applied migrations");
    expect(await read(second, auth, ACCOUNT, "theme")).toEqual({ key: "theme", value: "light", version: 2 });
    expect(await read(second, auth, ACCOUNT, "lang")).toEqual({ key: "lang", value: "de", version: 1 });
    expect(await second.stop()).toEqual(EXITED_OK);
  }, 90_000);

  it("two servers starting together on a fresh database: both serve, each migration applied once", async () => {
    const db = await freshDatabase();
    const dataDir = await tempDir();
    const [a, b] = await Promise.all([
      startServer({ DATABASE_URL: db.url, DATA_DIR: dataDir }),
      startServer({ DATABASE_URL: db.url, DATA_DIR: dataDir }),
    ]);
    const appliedBy = [a, b].filter((s) => APPLIED_LINE.test(s.stdout()));
    expect(appliedBy).toHaveLength(1);

    const rows = await admin(
      (c) =>
        c.query<{ migration_name: string; n: number; finished: number }>(
          `SELECT migration_name, count(*)::int AS n, count(finished_at)::int AS finished
           FROM "_prisma_migrations" GROUP BY migration_name ORDER BY migration_name`,
        ),
      db.name,
    );
    expect(rows.rows).toEqual(MIGRATIONS.map((name) => ({ migration_name: name, n: 1, finished: 1 })));

    // Same database and same dev key: what one writes, the other reads.
    const auth = `Bearer ${requireToken(a)}`;
    await write(a, auth, ACCOUNT, "shared", "yes");
    expect(await read(b, auth, ACCOUNT, "shared")).toEqual({ key: "shared", value: "yes", version: 1 });
    const [exitA, exitB] = await Promise.all([a.stop(), b.stop()]);
    expect(exitA).toEqual(EXITED_OK);
    expect(exitB).toEqual(EXITED_OK);
  }, 90_000);
});
