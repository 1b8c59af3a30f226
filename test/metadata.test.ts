import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, errorCodes, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";
import { DeleteMetadata, GetMetadata, GetMetadataForKey, UpdateMetadata } from "./support/operations.js";

const STAFF = { sub: "staff-1", scope: "metadata.write", permissions: ["CAN_MUTATE_METADATA"] };

describe.each(backends)("metadata entries on $name", (backend) => {
  let t: TestApp;
  let staff: string;
  const object = { linkedObjectType: "ACCOUNT" as const, identifier: "A-1000" };

  beforeAll(async () => {
    t = await createTestApp(backend, { METADATA_MAX_KEYS_PER_OBJECT: "5", METADATA_MAX_VALUE_LENGTH: "20" });
    staff = await t.token(STAFF);
  });
  afterAll(() => t.close());

  const set = (input: Record<string, unknown>, token = staff) =>
    t.execute({ document: UpdateMetadata, variables: { input: { ...object, ...input } as never }, token });
  const get = (key: string, extra: Record<string, unknown> = {}) =>
    t.execute({ document: GetMetadataForKey, variables: { ...object, key, ...extra }, token: staff });
  const del = (input: Record<string, unknown>) =>
    t.execute({ document: DeleteMetadata, variables: { input: { ...object, ...input } as never }, token: staff });

  it("creates at version 1, bumps the version on every update, keeps createdAt", async () => {
    const created = await set({ key: "theme", value: "dark" });
    expect(created.body.errors).toBeUndefined();
    const first = created.body.data?.updateMetadata.metadata;
    expect(first).toMatchObject({ key: "theme", value: "dark", version: 1, namespace: null, jsonValue: null });
    const updated = (await set({ key: "theme", value: "light" })).body.data?.updateMetadata.metadata;
    expect(updated).toMatchObject({ value: "light", version: 2, createdAt: first?.createdAt });
    expect(Date.parse(updated?.updatedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(first?.updatedAt ?? ""));
    expect((await get("theme")).body.data?.metadataForKey).toMatchObject({ value: "light", version: 2 });
  });

  it("stores true instants whatever the server's time zone (the test databases use America/Los_Angeles)", async () => {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    await set({ identifier: "A-tz", key: "when", value: "v", expiresAt });
    const [row] = (await t.db.withConnection((exec) =>
      exec(`SELECT extract(epoch FROM now() - created_at)::float8 AS age,
                   extract(epoch FROM expires_at)::float8 * 1000 AS expires
            FROM metadata WHERE identifier = 'A-tz'`),
    )) as { age: number; expires: number }[];
    expect(Math.abs(row?.age ?? Number.NaN)).toBeLessThan(60);
    expect(row?.expires).toBe(Date.parse(expiresAt));
  });

  it("returns the value exactly as sent and parses JSON into jsonValue", async () => {
    const value = '{"a": 1,  "b": [2]}';
    const entry = (await set({ key: "pet", value })).body.data?.updateMetadata.metadata;
    expect(entry?.value).toBe(value);
    expect(entry?.jsonValue).toEqual({ a: 1, b: [2] });
  });

  it("compare-and-set: writes at the expected version, refuses any other and writes nothing", async () => {
    expect(errorCodes(await set({ key: "cas", value: "x", expectedVersion: 3 }))).toEqual(["VERSION_CONFLICT"]);
    expect((await get("cas")).body.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect((await set({ key: "cas", value: "a", expectedVersion: 0 })).body.data?.updateMetadata.metadata.version).toBe(
      1,
    );
    const conflict = await set({ key: "cas", value: "b", expectedVersion: 0 });
    expect(conflict.body.errors?.[0]?.extensions).toMatchObject({ code: "VERSION_CONFLICT", currentVersion: 1 });
    expect((await set({ key: "cas", value: "c", expectedVersion: 1 })).body.data?.updateMetadata.metadata.version).toBe(
      2,
    );
    const stale = await set({ key: "cas", value: "d", expectedVersion: 1 });
    expect(stale.body.errors?.[0]?.extensions).toMatchObject({ code: "VERSION_CONFLICT", currentVersion: 2 });
    expect((await get("cas")).body.data?.metadataForKey).toMatchObject({ value: "c", version: 2 });
  });

  it("deletes and returns the entry as it was; NOT_FOUND afterwards; CAS on delete", async () => {
    await set({ key: "gone", value: "v1" });
    await set({ key: "gone", value: "v2" });
    const conflict = await del({ key: "gone", expectedVersion: 1 });
    expect(conflict.body.errors?.[0]?.extensions).toMatchObject({ code: "VERSION_CONFLICT", currentVersion: 2 });
    const deleted = await del({ key: "gone", expectedVersion: 2 });
    expect(deleted.body.data?.deleteMetadata.metadata).toMatchObject({ key: "gone", value: "v2", version: 2 });
    expect(errorCodes(await del({ key: "gone" }))).toEqual(["NOT_FOUND"]);
    expect(errorCodes(await get("gone"))).toEqual(["NOT_FOUND"]);
    // A key written again after deletion starts over.
    expect((await set({ key: "gone", value: "v3" })).body.data?.updateMetadata.metadata.version).toBe(1);
    await del({ key: "gone" });
  });

  it("metadata lists live keys ordered by key, defaulting to ACCOUNT; empty for an unknown object", async () => {
    const other = { identifier: "A-2000" };
    for (const key of ["b.two", "a.one", "C-three"]) await set({ ...other, key, value: key });
    const list = await t.execute({ document: GetMetadata, variables: { identifier: "A-2000" }, token: staff });
    expect(list.body.data?.metadata.map((e) => e.key)).toEqual(["C-three", "a.one", "b.two"]);
    expect(list.body.data?.metadata[0]?.linkedObjectType).toBe("ACCOUNT");
    const empty = await t.execute({ document: GetMetadata, variables: { identifier: "A-none" }, token: staff });
    expect(empty.body).toEqual({ data: { metadata: [] } });
  });

  it("expired entries are invisible at once and purged by the job; writing one starts at version 1", async () => {
    const soon = new Date(Date.now() + 1500).toISOString();
    const entry = (await set({ identifier: "A-exp", key: "flash", value: "x", expiresAt: soon })).body.data;
    expect(entry?.updateMetadata.metadata.expiresAt).toBe(soon);
    await new Promise((r) => setTimeout(r, 1700));
    const read = await t.execute({
      document: GetMetadataForKey,
      variables: { identifier: "A-exp", key: "flash" },
      token: staff,
    });
    expect(errorCodes(read)).toEqual(["NOT_FOUND"]);
    const list = await t.execute({ document: GetMetadata, variables: { identifier: "A-exp" }, token: staff });
    expect(list.body.data?.metadata).toEqual([]);
    const again = await set({ identifier: "A-exp", key: "flash", value: "y", expectedVersion: 0 });
    expect(again.body.data?.updateMetadata.metadata.version).toBe(1);

    await set({ identifier: "A-exp", key: "later", value: "z", expiresAt: new Date(Date.now() + 1000).toISOString() });
    await new Promise((r) => setTimeout(r, 1200));
    expect((await t.app.services.metadata.purgeExpired()).length).toBeGreaterThanOrEqual(1);
    const rows = await t.db.prisma.metadata.findMany({ where: { identifier: "A-exp" } });
    expect(rows.map((r) => r.key)).toEqual(["flash"]);
  });

  it.each([
    ["key", { key: "bad key", value: "v" }],
    ["key", { key: "", value: "v" }],
    ["key", { key: "k".repeat(256), value: "v" }],
    ["identifier", { identifier: "", key: "k", value: "v" }],
    ["identifier", { identifier: "x".repeat(256), key: "k", value: "v" }],
    ["identifier", { identifier: "line\nbreak", key: "k", value: "v" }],
    ["namespace", { namespace: "has space", key: "k", value: "v" }],
    ["namespace", { namespace: "n".repeat(65), key: "k", value: "v" }],
    ["namespace", { namespace: "$other", key: "k", value: "v" }],
    ["value", { key: "k", value: "v".repeat(21) }],
    ["value", { key: "k", value: "nul\u0000char" }],
    ["value", { key: "k", value: "lone \ud800 surrogate" }],
    ["expiresAt", { key: "k", value: "v", expiresAt: "2000-01-01T00:00:00Z" }],
    // Valid RFC 3339, but an instant in year 10000: PostgreSQL refused its ISO text (was INTERNAL_SERVER_ERROR).
    ["expiresAt", { key: "k", value: "v", expiresAt: "9999-12-31T23:59:59-01:00" }],
    ["expectedVersion", { key: "k", value: "v", expectedVersion: -1 }],
  ])("rejects a bad %s with BAD_USER_INPUT naming it, and writes nothing", async (field, input) => {
    const before = await t.db.prisma.metadata.count();
    const result = await set(input);
    expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
    expect(result.body.errors?.[0]?.message).toContain(field);
    expect(await t.db.prisma.metadata.count()).toBe(before);
  });

  it("counts characters, not UTF-16 units, against METADATA_MAX_VALUE_LENGTH", async () => {
    const twenty = "😀".repeat(20);
    expect(
      (await set({ identifier: "A-emoji", key: "e", value: twenty })).body.data?.updateMetadata.metadata.value,
    ).toBe(twenty);
  });

  it("rejects a malformed DateTime with a coded error", async () => {
    const result = await set({ key: "k", value: "v", expiresAt: "tomorrow" });
    expect(result.body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("LIMIT_EXCEEDED past METADATA_MAX_KEYS_PER_OBJECT live keys (all namespaces); updates still pass", async () => {
    const limited = { identifier: "A-limit" };
    for (let i = 0; i < 4; i++)
      expect((await set({ ...limited, key: `k${i}`, value: "v" })).body.errors).toBeUndefined();
    expect((await set({ ...limited, namespace: "billing", key: "plan", value: "pro" })).body.errors).toBeUndefined();
    const over = await set({ ...limited, key: "k5", value: "v" });
    expect(over.body.errors?.[0]?.extensions).toMatchObject({ code: "LIMIT_EXCEEDED", limit: 5 });
    expect(await t.db.prisma.metadata.count({ where: { identifier: "A-limit" } })).toBe(5);
    expect((await set({ ...limited, key: "k0", value: "updated" })).body.data?.updateMetadata.metadata.version).toBe(2);
    await del({ ...limited, key: "k1" });
    expect((await set({ ...limited, key: "k5", value: "v" })).body.errors).toBeUndefined();
  });

  it("keeps the same key apart per object type, identifier and namespace", async () => {
    await set({ identifier: "same", key: "k", value: "account" });
    await set({ linkedObjectType: "USER", identifier: "same", key: "k", value: "user" });
    await set({ identifier: "same", namespace: "billing", key: "k", value: "billing" });
    const read = async (extra: Record<string, unknown>) =>
      (await get("k", { identifier: "same", ...extra })).body.data?.metadataForKey?.value;
    expect(await read({})).toBe("account");
    expect(await read({ linkedObjectType: "USER" })).toBe("user");
    expect(await read({ namespace: "billing" })).toBe("billing");
  });

  it("concurrent compare-and-set: exactly one writer wins each version, the rest get VERSION_CONFLICT", async () => {
    const target = { identifier: "A-race", key: "counter" };
    await set({ ...target, value: "0" });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => set({ ...target, value: String(i), expectedVersion: 1 })),
    );
    const codes = results.map((r) => r.body.errors?.[0]?.extensions?.code ?? "OK");
    expect(codes.filter((c) => c === "OK")).toHaveLength(1);
    expect(codes.filter((c) => c === "VERSION_CONFLICT")).toHaveLength(19);
    expect((await get("counter", { identifier: "A-race" })).body.data?.metadataForKey?.version).toBe(2);
  });

  it("concurrent upserts of one new key: no duplicate rows, no lost update, no internal error", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => set({ identifier: "A-burst", key: "same", value: String(i) })),
    );
    expect(results.flatMap((r) => r.body.errors ?? [])).toEqual([]);
    const versions = results
      .map((r) => r.body.data?.updateMetadata.metadata.version)
      .sort((a, b) => (a ?? 0) - (b ?? 0));
    expect(versions).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await t.db.prisma.metadata.count({ where: { identifier: "A-burst" } })).toBe(1);
  });
});
