import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SetMetadataEntryInput, SetMetadataMode } from "./gql/graphql.js";
import { createTestApp, errorCodes, type TestApp, type TestClaims } from "./support/app.js";
import { backends } from "./support/backends.js";
import { DeleteMetadataKeys, GetMetadataForKey, SetMetadata, UpdateMetadata } from "./support/operations.js";

// Atomic batches: setMetadata (MERGE / REPLACE) and deleteMetadataKeys write all or nothing. Every
// refusal is checked against the rows left behind, read back from the table.

const STAFF: TestClaims = { sub: "staff-1", scope: "metadata.write", permissions: ["CAN_MUTATE_METADATA"] };
const USER: TestClaims = { sub: "u-1", accounts: ["A-user"], scope: "metadata.write" };
const READER: TestClaims = { sub: "u-1", accounts: ["A-user"], scope: "metadata.read" };
const MAX_KEYS = 8;

describe.each(backends)("atomic batches on $name", (backend) => {
  let t: TestApp;
  let staff: string;

  beforeAll(async () => {
    t = await createTestApp(backend, {
      METADATA_MAX_KEYS_PER_OBJECT: String(MAX_KEYS),
      METADATA_MAX_VALUE_LENGTH: "20",
    });
    staff = await t.token(STAFF);
  });
  afterAll(() => t?.close());

  interface Where {
    identifier: string;
    namespace?: string;
  }
  /** `token` null: no Authorization header. */
  const batch = (
    where: Where,
    entries: SetMetadataEntryInput[],
    mode?: SetMetadataMode,
    token: string | null = staff,
  ) =>
    t.execute({
      document: SetMetadata,
      variables: { input: { linkedObjectType: "ACCOUNT", ...where, entries, mode } },
      token: token ?? undefined,
    });
  const deleteKeys = (where: Where, keys: string[], token: string | null = staff) =>
    t.execute({
      document: DeleteMetadataKeys,
      variables: { input: { linkedObjectType: "ACCOUNT", ...where, keys } },
      token: token ?? undefined,
    });
  const set = async (where: Where, key: string, value: string) => {
    const result = await t.execute({
      document: UpdateMetadata,
      variables: { input: { linkedObjectType: "ACCOUNT", ...where, key, value } },
      token: staff,
    });
    expect(result.body.errors).toBeUndefined();
  };
  const get = (where: Where, key: string) =>
    t.execute({ document: GetMetadataForKey, variables: { ...where, key }, token: staff });
  /** The object's rows as stored, every namespace: [namespace, key, value, version]. */
  const rowsOf = async (identifier: string) =>
    (
      await t.db.prisma.metadata.findMany({
        where: { identifier },
        orderBy: [{ namespace: "asc" }, { key: "asc" }],
      })
    ).map((r) => [r.namespace, r.key, r.value, r.version]);
  const entries = (keys: string[], value = "v") => keys.map((key) => ({ key, value }));

  // ---- what a batch writes ---------------------------------------------------------------------

  it("MERGE (the default) creates keys at version 1, updates others, keeps the namespace's other keys", async () => {
    const where = { identifier: "A-merge" };
    await set(where, "a", "old");
    await set(where, "keep", "k");
    const result = await batch(where, [
      { key: "b", value: "new" },
      { key: "a", value: "updated" },
    ]);
    expect(result.body.errors).toBeUndefined();
    const written = result.body.data?.setMetadata;
    expect(written?.metadata.map((e) => [e.key, e.value, e.version, e.namespace])).toEqual([
      ["b", "new", 1, null],
      ["a", "updated", 2, null],
    ]);
    expect(written?.removedKeys).toEqual([]);
    expect(await rowsOf("A-merge")).toEqual([
      ["", "a", "updated", 2],
      ["", "b", "new", 1],
      ["", "keep", "k", 1],
    ]);
  });

  it("REPLACE removes the namespace's other keys only: other namespaces and objects keep theirs", async () => {
    const where = { identifier: "A-replace" };
    for (const key of ["x", "y", "z"]) await set(where, key, key);
    await set({ ...where, namespace: "billing" }, "y", "billing");
    await set({ identifier: "A-replace-other" }, "y", "other");
    const result = await batch(
      where,
      [
        { key: "n", value: "new" },
        { key: "x", value: "x2" },
      ],
      "REPLACE",
    );
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data?.setMetadata.removedKeys).toEqual(["y", "z"]);
    expect(result.body.data?.setMetadata.metadata.map((e) => [e.key, e.version])).toEqual([
      ["n", 1],
      ["x", 2],
    ]);
    expect(await rowsOf("A-replace")).toEqual([
      ["", "n", "new", 1],
      ["", "x", "x2", 2],
      ["billing", "y", "billing", 1],
    ]);
    expect(await rowsOf("A-replace-other")).toEqual([["", "y", "other", 1]]);
  });

  it("REPLACE in a named namespace leaves the default namespace alone", async () => {
    const where = { identifier: "A-replace-ns", namespace: "billing" };
    await set(where, "old", "o");
    await set({ identifier: "A-replace-ns" }, "old", "default");
    const result = await batch(where, entries(["plan"]), "REPLACE");
    expect(result.body.data?.setMetadata).toMatchObject({ removedKeys: ["old"], metadata: [{ namespace: "billing" }] });
    expect(await rowsOf("A-replace-ns")).toEqual([
      ["", "old", "default", 1],
      ["billing", "plan", "v", 1],
    ]);
  });

  it("expectedVersion applies per entry: 0 creates, the current version updates, omitted is unconditional", async () => {
    const where = { identifier: "A-cas" };
    await set(where, "a", "1");
    await set(where, "b", "1");
    await set(where, "b", "2");
    const result = await batch(where, [
      { key: "a", value: "a2", expectedVersion: 1 },
      { key: "b", value: "b3" },
      { key: "c", value: "c1", expectedVersion: 0 },
    ]);
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data?.setMetadata.metadata.map((e) => [e.key, e.version])).toEqual([
      ["a", 2],
      ["b", 3],
      ["c", 1],
    ]);
  });

  it("reads after a batch see it, after a refused one the rows as they were (embedded read cache)", async () => {
    const where = { identifier: "A-cache" };
    await set(where, "a", "1");
    await set(where, "b", "1");
    // Both read once: on PGlite they are now served from memory.
    expect((await get(where, "a")).body.data?.metadataForKey?.value).toBe("1");
    expect((await get(where, "b")).body.data?.metadataForKey?.value).toBe("1");
    await batch(where, [{ key: "a", value: "2" }], "REPLACE");
    expect((await get(where, "a")).body.data?.metadataForKey?.value).toBe("2");
    expect(errorCodes(await get(where, "b"))).toEqual(["NOT_FOUND"]);
    const refused = await batch(where, [
      { key: "a", value: "3" },
      { key: "b", value: "x", expectedVersion: 7 },
    ]);
    expect(errorCodes(refused)).toEqual(["VERSION_CONFLICT"]);
    expect((await get(where, "a")).body.data?.metadataForKey).toMatchObject({ value: "2", version: 2 });
    await deleteKeys(where, ["a"]);
    expect(errorCodes(await get(where, "a"))).toEqual(["NOT_FOUND"]);
  });

  it("deleteMetadataKeys removes several keys and returns them as they were; missing keys are skipped", async () => {
    const where = { identifier: "A-del" };
    for (const key of ["a", "b", "c"]) await set(where, key, `${key}-value`);
    await set({ ...where, namespace: "billing" }, "a", "billing");
    const result = await deleteKeys(where, ["c", "missing", "a"]);
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data?.deleteMetadataKeys.metadata.map((e) => [e.key, e.value, e.version])).toEqual([
      ["c", "c-value", 1],
      ["a", "a-value", 1],
    ]);
    expect(result.body.data?.deleteMetadataKeys.removedKeys).toEqual(["c", "a"]);
    expect(await rowsOf("A-del")).toEqual([
      ["", "b", "b-value", 1],
      ["billing", "a", "billing", 1],
    ]);
    const again = await deleteKeys(where, ["a"]);
    expect(again.body).toEqual({ data: { deleteMetadataKeys: { metadata: [], removedKeys: [] } } });
  });

  // ---- what a refused batch leaves: nothing ----------------------------------------------------

  /** A batch on a fresh object holding a, b (version 2) and billing/a; returns the rows to compare. */
  async function seeded(identifier: string) {
    await set({ identifier }, "a", "1");
    await set({ identifier }, "b", "1");
    await set({ identifier }, "b", "2");
    await set({ identifier, namespace: "billing" }, "a", "1");
    return rowsOf(identifier);
  }

  it.each([
    ["key", 2, { key: "bad key", value: "v" }],
    ["key", 0, { key: "", value: "v" }],
    ["value", 1, { key: "k", value: "v".repeat(21) }],
    ["value", 2, { key: "k", value: "nul\u0000char" }],
    ["expiresAt", 2, { key: "k", value: "v", expiresAt: "2000-01-01T00:00:00Z" }],
    ["expectedVersion", 1, { key: "k", value: "v", expectedVersion: -1 }],
  ])("a bad %s at entry %i: BAD_USER_INPUT with that index, nothing written", async (field, index, bad) => {
    const identifier = `A-bad-${field}-${index}`;
    const before = await seeded(identifier);
    const good = [
      { key: "a", value: "changed" },
      { key: "new1", value: "v" },
      { key: "new2", value: "v" },
    ];
    good.splice(index, 0, bad);
    for (const mode of ["MERGE", "REPLACE"] as const) {
      const result = await batch({ identifier }, good, mode);
      expect(result.body.data).toBeNull();
      expect(result.body.errors).toHaveLength(1);
      expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", index, field });
      expect(result.body.errors?.[0]?.message).toMatch(new RegExp(`^Entry ${index}: ${field}: `));
    }
    expect(await rowsOf(identifier)).toEqual(before);
  });

  it("refuses no entries, more than 100 and a key twice (naming the second entry), writing nothing", async () => {
    const identifier = "A-size";
    const before = await seeded(identifier);
    const none = await batch({ identifier }, []);
    expect(none.body.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT", field: "entries" });
    const keys = Array.from({ length: 101 }, (_, i) => `k${i}`);
    const tooMany = await batch({ identifier }, entries(keys));
    expect(tooMany.body.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT", field: "entries" });
    expect(tooMany.body.errors?.[0]?.message).toContain("1-100");
    const twice = await batch({ identifier }, entries(["x", "a", "y", "a"]), "REPLACE");
    expect(twice.body.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT", field: "entries", index: 3 });
    expect(await rowsOf(identifier)).toEqual(before);
  });

  it("deleteMetadataKeys refuses no keys, more than 100, a key twice and a bad key, removing nothing", async () => {
    const identifier = "A-del-bad";
    const before = await seeded(identifier);
    const cases: [string[], Record<string, unknown>][] = [
      [[], { code: "BAD_USER_INPUT", field: "keys" }],
      [Array.from({ length: 101 }, (_, i) => `k${i}`), { code: "BAD_USER_INPUT", field: "keys" }],
      [["a", "b", "a"], { code: "BAD_USER_INPUT", field: "keys", index: 2 }],
      [["a", "no way"], { code: "BAD_USER_INPUT", field: "keys", index: 1 }],
    ];
    for (const [keys, extensions] of cases) {
      const result = await deleteKeys({ identifier }, keys);
      expect(result.body.errors?.[0]?.extensions, JSON.stringify(keys)).toEqual(extensions);
    }
    expect(await rowsOf(identifier)).toEqual(before);
  });

  it("a version conflict at entry 2 rolls back the entries before it and REPLACE's removals", async () => {
    const identifier = "A-conflict";
    const before = await seeded(identifier);
    for (const mode of ["MERGE", "REPLACE"] as const) {
      const result = await batch(
        { identifier },
        [
          // MERGE updates a, REPLACE removes it: undone either way.
          { key: mode === "MERGE" ? "a" : "x", value: "changed" },
          { key: "new", value: "v" },
          { key: "b", value: "stale", expectedVersion: 1 },
          { key: "c", value: "v", expectedVersion: 3 },
        ],
        mode,
      );
      expect(result.body.errors).toHaveLength(1);
      expect(result.body.errors?.[0]?.extensions).toEqual({
        code: "VERSION_CONFLICT",
        index: 2,
        expectedVersion: 1,
        currentVersion: 2,
      });
    }
    const missing = await batch({ identifier }, [
      { key: "a", value: "changed" },
      { key: "c", value: "v", expectedVersion: 3 },
    ]);
    expect(missing.body.errors?.[0]?.extensions).toMatchObject({
      code: "VERSION_CONFLICT",
      index: 1,
      currentVersion: 0,
    });
    const exists = await batch({ identifier }, [
      { key: "new", value: "v" },
      { key: "a", value: "v", expectedVersion: 0 },
    ]);
    expect(exists.body.errors?.[0]?.extensions).toMatchObject({
      code: "VERSION_CONFLICT",
      index: 1,
      currentVersion: 1,
    });
    expect(await rowsOf(identifier)).toEqual(before);
  });

  it(`LIMIT_EXCEEDED at the new key that passes ${MAX_KEYS} live keys (all namespaces), nothing written`, async () => {
    const identifier = "A-limit";
    // 3 keys + 3 written below: 6 of 8.
    await seeded(identifier);
    await batch({ identifier }, entries(["c", "d", "e"]));
    const before = await rowsOf(identifier);
    expect(before).toHaveLength(6);
    // a: an update; n1, n2 reach 8; n3 passes the limit at entry 4.
    const over = await batch({ identifier }, entries(["a", "n1", "b", "n2", "n3"]));
    expect(over.body.errors?.[0]?.extensions).toEqual({ code: "LIMIT_EXCEEDED", index: 4, limit: MAX_KEYS });
    expect(await rowsOf(identifier)).toEqual(before);
    // Updates alone pass; REPLACE counts after its removals: 1 (billing) + 7 = 8.
    expect((await batch({ identifier }, entries(["a", "b", "c"], "u"))).body.errors).toBeUndefined();
    const replaced = await batch({ identifier }, entries(["r1", "r2", "r3", "r4", "r5", "r6", "r7"]), "REPLACE");
    expect(replaced.body.errors).toBeUndefined();
    expect(replaced.body.data?.setMetadata.removedKeys).toEqual(["a", "b", "c", "d", "e"]);
    expect(await rowsOf(identifier)).toHaveLength(MAX_KEYS);
  });

  it("refuses a caller without the right to write there: FORBIDDEN, nothing written or removed", async () => {
    const user = await t.token(USER);
    const reader = await t.token(READER);
    await set({ identifier: "A-user" }, "a", "1");
    await set({ identifier: "A-user", namespace: "billing" }, "a", "1");
    const before = await rowsOf("A-user");
    const refusals = [
      // A named namespace is written only by staff.
      () => batch({ identifier: "A-user", namespace: "billing" }, entries(["a"]), "REPLACE", user),
      () => deleteKeys({ identifier: "A-user", namespace: "billing" }, ["a"], user),
      // An account the token does not reach.
      () => batch({ identifier: "A-other" }, entries(["a"]), "MERGE", user),
      () => deleteKeys({ identifier: "A-other" }, ["a"], user),
      // Read scope only.
      () => batch({ identifier: "A-user" }, entries(["a"]), "REPLACE", reader),
      () => deleteKeys({ identifier: "A-user" }, ["a"], reader),
    ];
    for (const refused of refusals) expect(errorCodes(await refused())).toEqual(["FORBIDDEN"]);
    expect(await rowsOf("A-user")).toEqual(before);
    expect(await rowsOf("A-other")).toEqual([]);
    // The same user may batch in its own account's default namespace.
    const own = await batch({ identifier: "A-user" }, entries(["b"]), "REPLACE", user);
    expect(own.body.data?.setMetadata.removedKeys).toEqual(["a"]);
  });

  it("refuses an unauthenticated caller: UNAUTHENTICATED, nothing written or removed", async () => {
    const before = await seeded("A-anon");
    expect(errorCodes(await batch({ identifier: "A-anon" }, entries(["a"]), "REPLACE", null))).toEqual([
      "UNAUTHENTICATED",
    ]);
    expect(errorCodes(await deleteKeys({ identifier: "A-anon" }, ["a"], null))).toEqual(["UNAUTHENTICATED"]);
    expect(await rowsOf("A-anon")).toEqual(before);
  });

  it("concurrent REPLACE batches on one object: each round leaves exactly one batch's key set", async () => {
    const identifier = "A-race";
    const sets = [0, 1, 2].map((b) => Array.from({ length: 6 }, (_, i) => `b${b}-k${i}`));
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(
        sets.map((keys) => batch({ identifier }, entries(keys, `r${round}`), "REPLACE")),
      );
      expect(results.flatMap((r) => r.body.errors ?? [])).toEqual([]);
      const keys = (await rowsOf(identifier)).map((row) => row[1]);
      expect(sets.map((s) => JSON.stringify([...s].sort()))).toContain(JSON.stringify(keys));
    }
  });
});
