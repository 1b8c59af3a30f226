import { once } from "node:events";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { openDatabase } from "../src/db/database.js";
import { applyPendingMigrations, MIGRATIONS_DIR, pendingMigrations, readMigrations } from "../src/db/migrations.js";
import { type App, createApp } from "../src/server.js";
import { createTestApp, TEST_SECRET } from "./support/app.js";
import { backends } from "./support/backends.js";

type Probe = "/health" | "/ready";

async function probe(app: App, path: Probe, init: RequestInit = {}) {
  const response = await app.yoga.fetch(`http://yoga${path}`, init);
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as unknown) : undefined,
    contentType: response.headers.get("content-type"),
    cacheControl: response.headers.get("cache-control"),
  };
}

describe.each(backends)("probes on $name", (backend) => {
  it("/health answers 200 while the process serves, /ready 200 once the database answers and is migrated", async () => {
    const t = await createTestApp(backend);
    try {
      expect(await probe(t.app, "/health")).toEqual({
        status: 200,
        body: { status: "ok" },
        contentType: "application/json; charset=utf-8",
        cacheControl: "no-store",
      });
      expect(await probe(t.app, "/ready")).toEqual({
        status: 200,
        body: { status: "ready" },
        contentType: "application/json; charset=utf-8",
        cacheControl: "no-store",
      });
      // HEAD, as some load balancers probe: the same status, no body.
      expect(await probe(t.app, "/health", { method: "HEAD" })).toMatchObject({ status: 200, body: undefined });
      expect(await probe(t.app, "/ready", { method: "HEAD" })).toMatchObject({ status: 200, body: undefined });
      // No authentication: a probe carries no token, and a bad one changes nothing.
      expect((await probe(t.app, "/ready", { headers: { authorization: "Bearer nonsense" } })).status).toBe(200);
      // Yoga's own check stays on /live, a liveness alias.
      expect((await t.app.yoga.fetch("http://yoga/live")).status).toBe(200);
      // Only GET and HEAD are probes.
      expect((await t.app.yoga.fetch("http://yoga/health", { method: "POST" })).status).toBe(404);
    } finally {
      await t.close();
    }
  });

  it("shutting down: /ready answers 503 'shutting down' on a connection still open while the server drains", async () => {
    const t = await createTestApp(backend, { PORT: "0", HOST: "127.0.0.1" });
    try {
      const server = await t.app.listen();
      const { port } = server.address() as AddressInfo;
      const socket = connect(port, "127.0.0.1");
      await once(socket, "connect");
      // A request half sent: its connection is busy, so the drain waits for it.
      socket.write("GET /ready HTTP/1.1\r\nHost: probe\r\n");
      await new Promise((resolve) => setTimeout(resolve, 50));
      const closed = t.app.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      let response = "";
      socket.setEncoding("utf8").on("data", (chunk: string) => {
        response += chunk;
      });
      socket.write("\r\n");
      await once(socket, "end");
      await closed;
      expect(response).toMatch(/^HTTP\/1\.1 503 /);
      expect(response.toLowerCase()).toContain("connection: close");
      expect(response.slice(response.indexOf("\r\n\r\n") + 4)).toBe(
        JSON.stringify({ status: "unavailable", reason: "shutting down" }),
      );
    } finally {
      await t.close().catch(() => {});
    }
  });

  it("database gone: /ready 503 with the reason, /health still 200 (liveness never asks the database)", async () => {
    const t = await createTestApp(backend);
    try {
      await t.db.close();
      const ready = await probe(t.app, "/ready");
      expect(ready).toMatchObject({ status: 503, body: { status: "unavailable", reason: "database unreachable" } });
      expect(await probe(t.app, "/ready", { method: "HEAD" })).toMatchObject({ status: 503, body: undefined });
      expect(await probe(t.app, "/health")).toMatchObject({ status: 200, body: { status: "ok" } });
    } finally {
      await t.close().catch(() => {});
    }
  });

  it("migrations pending: /ready 503 naming them until they are applied, then 200 (nothing cached)", async () => {
    const { options, drop } = await backend.create();
    const config = loadConfig({ JWT_SECRET: TEST_SECRET, NODE_ENV: "test" });
    const db = await openDatabase({ ...options, dataDir: config.dataDir });
    const app = await createApp({ config, db });
    try {
      const all = (await readMigrations()).map((m) => m.name);
      expect(all.length).toBeGreaterThan(0);
      expect(await probe(app, "/ready")).toMatchObject({
        status: 503,
        body: { status: "unavailable", reason: "migrations pending", pending: all },
      });
      expect((await probe(app, "/health")).status).toBe(200);
      await applyPendingMigrations(db);
      expect(await probe(app, "/ready")).toMatchObject({ status: 200, body: { status: "ready" } });
    } finally {
      await app.close();
      await drop();
    }
  });

  it("pendingMigrations names the migrations of the directory the database has not recorded", async () => {
    const t = await createTestApp(backend);
    const dir = await mkdtemp(join(tmpdir(), "mg-migrations-"));
    try {
      expect(await pendingMigrations(t.db)).toEqual([]);
      // The shipped migrations plus one newer, as after deploying code with a new migration.
      await cp(MIGRATIONS_DIR, dir, { recursive: true });
      await mkdir(join(dir, "29991231000000_next"));
      await writeFile(join(dir, "29991231000000_next", "migration.sql"), "SELECT 1;");
      expect(await pendingMigrations(t.db, dir)).toEqual(["29991231000000_next"]);
      await applyPendingMigrations(t.db, dir);
      expect(await pendingMigrations(t.db, dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await t.close();
    }
  });

  it("probes are not GraphQL operations: they never count against the rate limit", async () => {
    // Callers without a token are counted per address: the probes' "address" too, if they counted.
    const t = await createTestApp(backend, { RATE_LIMIT_PER_MINUTE: "2" });
    try {
      for (let i = 0; i < 5; i++) {
        expect((await probe(t.app, "/health")).status).toBe(200);
        expect((await probe(t.app, "/ready")).status).toBe(200);
      }
      const anonymous = () => t.execute({ document: "{ __typename }" });
      expect((await anonymous()).body).toEqual({ data: { __typename: "Query" } });
      expect((await anonymous()).body).toEqual({ data: { __typename: "Query" } });
      // The limit is real: the third operation is refused.
      expect((await anonymous()).body.data).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
