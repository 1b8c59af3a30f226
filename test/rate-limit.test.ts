import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QueryEvent } from "../src/db/database.js";
import { createTestApp, errorCodes, type TestApp, type TestClaims } from "./support/app.js";
import { backends } from "./support/backends.js";
import { GetMetadataForKey } from "./support/operations.js";

// RATE_LIMIT_PER_MINUTE per principal: the caller past its allowance gets RATE_LIMITED with a retry
// hint, before any database work; everybody else goes on as before.

const pglite = backends[0];
if (!pglite) throw new Error("no backend");
const LIMIT = 5;
const reader = (tenant: string, sub: string): TestClaims => ({
  tenant,
  sub,
  scope: "metadata.read",
  accounts: ["A-1"],
});
const variables = { linkedObjectType: "ACCOUNT" as const, identifier: "A-1", key: "k" };

async function read(t: TestApp, token: string) {
  return t.execute({ document: GetMetadataForKey, variables, token });
}

describe("per-principal rate limit", () => {
  let t: TestApp;
  const statements: QueryEvent[] = [];
  beforeAll(async () => {
    t = await createTestApp(pglite, { RATE_LIMIT_PER_MINUTE: String(LIMIT) }, { onQuery: (e) => statements.push(e) });
  });
  afterAll(() => t.close());

  it("answers RATE_LIMITED, HTTP 429 and a retry hint once a principal's minute is used up", async () => {
    const token = await t.token(reader("acme", "alice"));
    for (let i = 0; i < LIMIT; i++) expect(errorCodes(await read(t, token))).toEqual(["NOT_FOUND"]);
    const response = await t.app.yoga.fetch("http://yoga/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `{ metadataForKey(linkedObjectType: ACCOUNT, identifier: "A-1", key: "k") { key } }`,
      }),
    });
    expect(response.status).toBe(429);
    const retryAfter = Number(response.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = await response.json();
    expect(body.data).toBeUndefined();
    expect(body.errors).toEqual([
      expect.objectContaining({ extensions: { code: "RATE_LIMITED", retryAfterSeconds: retryAfter } }),
    ]);
  });

  it("refuses a flooding principal before any SQL, while other tenants and users are served", async () => {
    const flooder = await t.token(reader("flood", "mallory"));
    const others = await Promise.all([t.token(reader("other", "bob")), t.token(reader("flood", "carol"))]);
    const before = statements.length;
    const flood = Array.from({ length: 200 }, () => read(t, flooder));
    const served = others.flatMap((token) => Array.from({ length: LIMIT }, () => read(t, token)));
    const [flooded, answered] = await Promise.all([Promise.all(flood), Promise.all(served)]);
    const floodCodes = flooded.map((r) => errorCodes(r)[0]);
    expect(floodCodes.filter((c) => c === "NOT_FOUND")).toHaveLength(LIMIT);
    expect(floodCodes.filter((c) => c === "RATE_LIMITED")).toHaveLength(200 - LIMIT);
    expect(answered.map((r) => errorCodes(r))).toEqual(answered.map(() => ["NOT_FOUND"]));
    // One statement per served read: the 195 refused ones cost the database nothing.
    expect(statements.length - before).toBe(LIMIT + others.length * LIMIT);
  });

  it("counts refused tokens against their address, so guessing tokens is limited too", async () => {
    const forged = `${(await t.token(reader("acme", "eve"))).slice(0, -4)}AAAA`;
    const codes = [];
    for (let i = 0; i <= LIMIT; i++) codes.push(errorCodes(await read(t, forged))[0]);
    expect(codes).toEqual([...Array(LIMIT).fill("UNAUTHENTICATED"), "RATE_LIMITED"]);
    expect(errorCodes(await read(t, await t.token(reader("acme", "dave"))))).toEqual(["NOT_FOUND"]);
  });
});

describe("RATE_LIMIT_PER_MINUTE=0", () => {
  it("turns the limit off", async () => {
    const t = await createTestApp(pglite, { RATE_LIMIT_PER_MINUTE: "0" });
    try {
      const token = await t.token(reader("acme", "alice"));
      const results = await Promise.all(Array.from({ length: 50 }, () => read(t, token)));
      expect(new Set(results.map((r) => errorCodes(r)[0]))).toEqual(new Set(["NOT_FOUND"]));
    } finally {
      await t.close();
    }
  });
});

// Shared counters need a Redis: .ci/run starts a throwaway one and sets REDIS_URL.
describe.skipIf(!process.env.REDIS_URL)("REDIS_URL: counters shared by instances", () => {
  it("counts one principal's operations across two instances", async () => {
    const env = { RATE_LIMIT_PER_MINUTE: String(LIMIT), REDIS_URL: process.env.REDIS_URL ?? "" };
    const [one, two] = await Promise.all([createTestApp(pglite, env), createTestApp(pglite, env)]);
    try {
      // A principal of its own: counters in Redis outlive this test.
      const token = await one.token(reader("acme", `shared-${randomBytes(4).toString("hex")}`));
      const codes = [];
      for (let i = 0; i <= LIMIT; i++) codes.push(errorCodes(await read(i % 2 ? two : one, token))[0]);
      expect(codes).toEqual([...Array(LIMIT).fill("NOT_FOUND"), "RATE_LIMITED"]);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it("keeps serving, counting in memory, when Redis is unreachable", async () => {
    const t = await createTestApp(pglite, { RATE_LIMIT_PER_MINUTE: String(LIMIT), REDIS_URL: "redis://127.0.0.1:1" });
    try {
      const token = await t.token(reader("acme", "alice"));
      const codes = [];
      for (let i = 0; i <= LIMIT; i++) codes.push(errorCodes(await read(t, token))[0]);
      expect(codes).toEqual([...Array(LIMIT).fill("NOT_FOUND"), "RATE_LIMITED"]);
    } finally {
      await t.close();
    }
  });
});
