import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCursor } from "../src/features/metadata/metadata.cursor.js";
import { createTestApp, errorCodes, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";
import { ListMetadata, UpdateMetadata } from "./support/operations.js";

describe.each(backends)("metadataList on $name", (backend) => {
  let t: TestApp;
  let staff: string;
  const object = { linkedObjectType: "USER" as const, identifier: "u-list" };
  // Byte order: digits < upper case < '_' < lower case.
  const keys = Array.from({ length: 23 }, (_, i) => `pref.${String(i).padStart(2, "0")}`);

  const write = (key: string, extra: Record<string, unknown> = {}) =>
    t.execute({
      document: UpdateMetadata,
      variables: { input: { ...object, key, value: key, ...extra } },
      token: staff,
    });
  const list = (variables: Record<string, unknown>) =>
    t.execute({ document: ListMetadata, variables: { ...object, ...variables }, token: staff });

  beforeAll(async () => {
    t = await createTestApp(backend);
    staff = await t.token({ sub: "staff", scope: "metadata.write", permissions: ["CAN_MUTATE_METADATA"] });
    for (const key of [...keys].reverse()) await write(key);
    await write("other.a");
    await write("Zed");
    await write("_under");
  });
  afterAll(() => t.close());

  it("orders by key byte-wise, defaults to 50 per page, counts everything", async () => {
    const page = (await list({})).body.data?.metadataList;
    expect(page?.edges.map((e) => e.node.key)).toEqual(["Zed", "_under", "other.a", ...keys]);
    expect(page?.totalCount).toBe(26);
    expect(page?.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: false });
  });

  it("walks forward with first/after through every key exactly once", async () => {
    const seen: string[] = [];
    let after: string | null | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = (await list({ keyPrefix: "pref.", first: 5, after })).body.data?.metadataList;
      expect(page?.totalCount).toBe(23);
      seen.push(...(page?.edges.map((e) => e.node.key) ?? []));
      if (!page?.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(keys);
  });

  it("walks backward with last/before", async () => {
    const lastPage = (await list({ keyPrefix: "pref.", last: 5 })).body.data?.metadataList;
    expect(lastPage?.edges.map((e) => e.node.key)).toEqual(keys.slice(-5));
    expect(lastPage?.pageInfo.hasPreviousPage).toBe(true);
    const previous = (await list({ keyPrefix: "pref.", last: 5, before: lastPage?.pageInfo.startCursor })).body.data
      ?.metadataList;
    expect(previous?.edges.map((e) => e.node.key)).toEqual(keys.slice(-10, -5));
    expect(previous?.pageInfo.hasNextPage).toBe(true);
  });

  it("stays stable when keys are inserted between pages: no repeats, no skips of old keys", async () => {
    const first = (await list({ keyPrefix: "pref.", first: 10 })).body.data?.metadataList;
    // New keys land before and after the cursor while the client pages.
    await write("pref.00a");
    await write("pref.15a");
    const rest: string[] = [];
    let after = first?.pageInfo.endCursor;
    for (let pages = 0; pages < 10 && after; pages++) {
      const page = (await list({ keyPrefix: "pref.", first: 10, after })).body.data?.metadataList;
      rest.push(...(page?.edges.map((e) => e.node.key) ?? []));
      after = page?.pageInfo.hasNextPage ? page.pageInfo.endCursor : undefined;
    }
    const all = [...(first?.edges.map((e) => e.node.key) ?? []), ...rest];
    expect(new Set(all).size).toBe(all.length);
    for (const key of keys) expect(all).toContain(key);
    expect(all).toContain("pref.15a");
  });

  it("hides expired entries from pages and counts", async () => {
    await write("temp.1", { expiresAt: new Date(Date.now() + 1000).toISOString() });
    expect((await list({ keyPrefix: "temp." })).body.data?.metadataList.totalCount).toBe(1);
    await new Promise((r) => setTimeout(r, 1200));
    const page = (await list({ keyPrefix: "temp." })).body.data?.metadataList;
    expect(page?.totalCount).toBe(0);
    expect(page?.edges).toEqual([]);
  });

  it.each([
    ["first", { first: 501 }],
    ["first", { first: -1 }],
    ["last", { last: 501 }],
    ["first", { first: 1, last: 1 }],
    ["after", { after: "not-a-cursor" }],
    ["before", { before: "a2V5" }],
    ["keyPrefix", { keyPrefix: "has space" }],
    // Well-formed cursors of keys the API never returns: a NUL reached PostgreSQL (was INTERNAL_SERVER_ERROR).
    ["after", { after: encodeCursor("k\u0000") }],
    ["before", { before: encodeCursor("") }],
  ])("rejects a bad %s with BAD_USER_INPUT", async (field, variables) => {
    const result = await list(variables);
    expect(errorCodes(result)).toEqual(["BAD_USER_INPUT"]);
    expect(result.body.errors?.[0]?.extensions?.field).toBe(field);
  });

  it("accepts the maximum page size of 500", async () => {
    const page = (await list({ first: 500 })).body.data?.metadataList;
    expect(page?.edges.length).toBeGreaterThan(20);
  });
});
