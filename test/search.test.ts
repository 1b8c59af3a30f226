import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCursor } from "../src/features/metadata/metadata.cursor.js";
import { encodeSearchCursor } from "../src/features/metadata/metadata.search.js";
import type { LinkedObjectType, MetadataInput } from "./gql/graphql.js";
import { createTestApp, errorCodes, type TestApp, type TestClaims } from "./support/app.js";
import { backends } from "./support/backends.js";
import { ListMetadata, SearchMetadata, UpdateMetadata } from "./support/operations.js";

// metadataSearch: which linked objects carry a matching entry, within the caller's reach.

const STAFF: TestClaims = { sub: "staff", permissions: ["CAN_MUTATE_METADATA"], client_id: "backoffice" };
const USER: TestClaims = { sub: "u-1", scope: "metadata.read", accounts: ["A-1", "A-3", "A-6"], client_id: "web" };

// Values of key "plan" on ACCOUNT objects of tenant "default", default namespace.
const PLANS: Record<string, string> = {
  "A-1": '{"tier":"pro","seats":5,"tags":["x","y"]}',
  "A-2": '{"tier":"pro","seats":10}',
  "A-3": '{"tier":"free"}',
  "A-4": "pro",
  "A-5": '"pro"',
  "A-6": '["pro","beta"]',
  "A-7": '{"tier": "pro" ', // not JSON: one brace short
  "A-8": "5",
  "A-9": '{"tier":"pro","x":"\\u0000"}', // JSON, but not to jsonb: never matches containment
};
const PRO_EXTRA = Array.from({ length: 6 }, (_, i) => `B-${i}`);

describe.each(backends)("metadataSearch on $name", (backend) => {
  let t: TestApp;

  const write = async (
    claims: TestClaims,
    input: Pick<MetadataInput, "identifier" | "value"> & Partial<MetadataInput>,
  ) => {
    const result = await t.execute({
      document: UpdateMetadata,
      variables: { input: { linkedObjectType: "ACCOUNT", key: "plan", ...input } },
      token: await t.token(claims),
    });
    expect(result.body.errors).toBeUndefined();
  };
  const search = async (claims: TestClaims, variables: Record<string, unknown>) =>
    t.execute({
      document: SearchMetadata,
      variables: { linkedObjectType: "ACCOUNT" as LinkedObjectType, key: "plan", ...variables },
      token: await t.token(claims),
    });
  const found = async (claims: TestClaims, variables: Record<string, unknown>) => {
    const result = await search(claims, { first: 500, ...variables });
    expect(result.body.errors).toBeUndefined();
    const page = result.body.data?.metadataSearch;
    expect(page?.totalCount).toBe(page?.edges.length);
    return page?.edges.map((e) => e.node.identifier) ?? [];
  };

  beforeAll(async () => {
    t = await createTestApp(backend);
    for (const [identifier, value] of Object.entries(PLANS)) await write(STAFF, { identifier, value });
    for (const [i, identifier] of PRO_EXTRA.entries()) {
      await write(STAFF, { identifier, value: `{"tier":"pro","n":${i}}` });
    }
    // Near misses: another key, namespace, type, tenant; an entry that expires.
    await write(STAFF, { identifier: "C-1", key: "other", value: '{"tier":"pro"}' });
    await write(STAFF, { identifier: "C-2", namespace: "billing", value: '{"tier":"pro"}' });
    await write(STAFF, { identifier: "C-3", linkedObjectType: "ORGANIZATION", value: '{"tier":"pro"}' });
    await write({ ...STAFF, tenant: "acme" }, { identifier: "C-4", value: '{"tier":"pro"}' });
    await write(STAFF, {
      identifier: "C-5",
      value: '{"tier":"pro"}',
      expiresAt: new Date(Date.now() + 1000).toISOString(),
    });
    // $app namespaces of two clients.
    await write({ ...STAFF, client_id: "web" }, { identifier: "A-1", namespace: "$app", value: '{"tier":"pro"}' });
    await write({ ...STAFF, client_id: "mobile" }, { identifier: "A-2", namespace: "$app", value: '{"tier":"pro"}' });
    // A user's own objects.
    await write(STAFF, { linkedObjectType: "USER", identifier: "u-1", value: "gold" });
    await write(STAFF, { linkedObjectType: "USER", identifier: "u-2", value: "gold" });
    await new Promise((resolve) => setTimeout(resolve, 1100));
  });
  afterAll(() => t.close());

  describe("matching", () => {
    it("valueEquals matches the exact text, and only it", async () => {
      expect(await found(STAFF, { valueEquals: PLANS["A-2"] })).toEqual(["A-2"]);
      expect(await found(STAFF, { valueEquals: "pro" })).toEqual(["A-4"]);
      expect(await found(STAFF, { valueEquals: '"pro"' })).toEqual(["A-5"]);
      expect(await found(STAFF, { valueEquals: '{"tier": "pro"}' })).toEqual([]);
      expect(await found(STAFF, { valueEquals: PLANS["A-7"] })).toEqual(["A-7"]);
    });

    it("jsonContains with an object matches the values holding its members; expired entries never", async () => {
      const pro = await found(STAFF, { jsonContains: { tier: "pro" } });
      expect([...pro].sort()).toEqual(["A-1", "A-2", ...PRO_EXTRA].sort());
      expect(await found(STAFF, { jsonContains: { tier: "pro", seats: 5 } })).toEqual(["A-1"]);
      expect(await found(STAFF, { jsonContains: { tags: ["y"] } })).toEqual(["A-1"]);
      expect(await found(STAFF, { jsonContains: { tier: "gold" } })).toEqual([]);
    });

    it("jsonContains with a scalar matches an equal value or an element of an array value", async () => {
      expect([...(await found(STAFF, { jsonContains: "pro" }))].sort()).toEqual(["A-5", "A-6"]);
      expect(await found(STAFF, { jsonContains: 5 })).toEqual(["A-8"]);
      expect(await found(STAFF, { jsonContains: ["beta"] })).toEqual(["A-6"]);
      // Nested, PostgreSQL's rule holds: a scalar member does not match an array member.
      expect(await found(STAFF, { jsonContains: { tags: "x" } })).toEqual([]);
    });

    it("values that are not JSON never match containment", async () => {
      // A-4 is the text pro (not JSON), A-7 an unfinished object, A-9 JSON jsonb cannot hold.
      for (const jsonContains of ["pro", { tier: "pro" }, { x: "\\u0000" }, { tier: "pro", x: "\\u0000" }]) {
        const ids = await found(STAFF, { jsonContains });
        for (const id of ["A-4", "A-7", "A-9"]) expect(ids).not.toContain(id);
      }
      // The same search does find JSON values: the check above is not vacuous.
      expect(await found(STAFF, { jsonContains: { tier: "pro" } })).toContain("A-1");
    });

    it("each result carries the linked object and the matching entry", async () => {
      const result = await search(STAFF, { jsonContains: { seats: 10 } });
      expect(result.body.data?.metadataSearch.edges).toEqual([
        {
          cursor: encodeSearchCursor("A-2"),
          node: { identifier: "A-2", linkedObjectType: "ACCOUNT", namespace: null, key: "plan", value: PLANS["A-2"] },
        },
      ]);
    });
  });

  describe("paging", () => {
    it("first/after and last/before walk every match once, in identifier order, counting all", async () => {
      const all = await found(STAFF, { jsonContains: { tier: "pro" } });
      expect(all).toHaveLength(8);
      const forward: string[] = [];
      let after: string | null | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = (await search(STAFF, { jsonContains: { tier: "pro" }, first: 3, after })).body.data
          ?.metadataSearch;
        expect(page?.totalCount).toBe(8);
        expect(page?.pageInfo.hasPreviousPage).toBe(after !== undefined);
        forward.push(...(page?.edges.map((e) => e.node.identifier) ?? []));
        if (!page?.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(forward).toEqual(all);
      const backward: string[] = [];
      let before: string | null | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = (await search(STAFF, { valueEquals: undefined, jsonContains: { tier: "pro" }, last: 3, before }))
          .body.data?.metadataSearch;
        backward.unshift(...(page?.edges.map((e) => e.node.identifier) ?? []));
        if (!page?.pageInfo.hasPreviousPage) break;
        before = page.pageInfo.startCursor;
      }
      expect(backward).toEqual(all);
    });

    it("exact matches page the same way", async () => {
      for (const identifier of ["D-3", "D-1", "D-2"]) await write(STAFF, { identifier, key: "same", value: "v" });
      const first = (await search(STAFF, { key: "same", valueEquals: "v", first: 2 })).body.data?.metadataSearch;
      expect(first?.edges.map((e) => e.node.identifier)).toEqual(["D-1", "D-2"]);
      expect(first?.totalCount).toBe(3);
      const next = (await search(STAFF, { key: "same", valueEquals: "v", first: 2, after: first?.pageInfo.endCursor }))
        .body.data?.metadataSearch;
      expect(next?.edges.map((e) => e.node.identifier)).toEqual(["D-3"]);
      expect(next?.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    });
  });

  describe("reach", () => {
    it("a user token finds only the objects it reaches", async () => {
      expect(await found(USER, { jsonContains: { tier: "pro" } })).toEqual(["A-1"]);
      expect(await found(USER, { jsonContains: { tier: "free" } })).toEqual(["A-3"]);
      expect(await found(USER, { jsonContains: "pro" })).toEqual(["A-6"]);
      expect(await found(USER, { valueEquals: "pro" })).toEqual([]);
      expect(await found(USER, { linkedObjectType: "USER", valueEquals: "gold" })).toEqual(["u-1"]);
      expect(await found({ ...USER, accounts: [] }, { jsonContains: { tier: "free" } })).toEqual([]);
    });

    it("staff and client-mode tokens with CAN_MUTATE_METADATA search the whole tenant, and only it", async () => {
      expect(await found(STAFF, { linkedObjectType: "USER", valueEquals: "gold" })).toEqual(["u-1", "u-2"]);
      const client: TestClaims = { client_id: "sync", scope: "metadata.read", permissions: ["CAN_MUTATE_METADATA"] };
      expect(await found(client, { linkedObjectType: "USER", valueEquals: "gold" })).toEqual(["u-1", "u-2"]);
      expect(await found({ ...STAFF, tenant: "acme" }, { jsonContains: { tier: "pro" } })).toEqual(["C-4"]);
      expect(await found({ ...STAFF, tenant: "globex" }, { jsonContains: { tier: "pro" } })).toEqual([]);
    });

    it("the namespace and the type are the caller's: named, $app of its own client only", async () => {
      expect(await found(STAFF, { namespace: "billing", jsonContains: { tier: "pro" } })).toEqual(["C-2"]);
      expect(await found(STAFF, { linkedObjectType: "ORGANIZATION", jsonContains: { tier: "pro" } })).toEqual(["C-3"]);
      expect(await found(STAFF, { key: "other", jsonContains: { tier: "pro" } })).toEqual(["C-1"]);
      expect(await found(USER, { namespace: "$app", jsonContains: { tier: "pro" } })).toEqual(["A-1"]);
      expect(
        await found({ ...USER, client_id: "mobile" }, { namespace: "$app", jsonContains: { tier: "pro" } }),
      ).toEqual([]);
      expect(
        await found({ ...STAFF, client_id: "mobile" }, { namespace: "$app", jsonContains: { tier: "pro" } }),
      ).toEqual(["A-2"]);
      expect(await found(STAFF, { namespace: "$app", jsonContains: { tier: "pro" } })).toEqual([]);
      const mobileClient: TestClaims = { client_id: "mobile", scope: "metadata.read" };
      expect(await found(mobileClient, { namespace: "$app", jsonContains: { tier: "pro" } })).toEqual(["A-2"]);
    });

    it.each<[string, TestClaims | null, Record<string, unknown>, string, Record<string, unknown>]>([
      ["no token", null, {}, "UNAUTHENTICATED", {}],
      ["no metadata scope", { ...USER, scope: "openid" }, {}, "FORBIDDEN", { missingScope: "metadata.read" }],
      ["a user on PROPERTY", USER, { linkedObjectType: "PROPERTY" }, "FORBIDDEN", { missingReach: "PROPERTY:*" }],
      [
        "a client-mode token outside its $app",
        { client_id: "svc", scope: "metadata.read" },
        {},
        "FORBIDDEN",
        { missingPermission: "CAN_MUTATE_METADATA" },
      ],
      ["$app without a client id", { ...USER, client_id: undefined }, { namespace: "$app" }, "FORBIDDEN", {}],
    ])("%s is refused", async (_, claims, variables, code, extensions) => {
      const result = await t.execute({
        document: SearchMetadata,
        variables: { linkedObjectType: "ACCOUNT", key: "plan", jsonContains: { tier: "pro" }, ...variables },
        token: claims ? await t.token(claims) : undefined,
      });
      expect(errorCodes(result)).toEqual([code]);
      expect(result.body.errors?.[0]?.extensions).toMatchObject(extensions);
      expect(result.body.data?.metadataSearch ?? null).toBeNull();
    });
  });

  describe("bad arguments", () => {
    const deep = (depth: number): unknown => {
      let value: unknown = 1;
      for (let i = 0; i < depth; i++) value = [value];
      return value;
    };
    it.each<[string, Record<string, unknown>]>([
      ["valueEquals", {}],
      ["jsonContains", { valueEquals: "pro", jsonContains: "pro" }],
      ["key", { key: "has space", valueEquals: "pro" }],
      ["key", { key: "", valueEquals: "pro" }],
      ["namespace", { namespace: "$app:web", valueEquals: "pro" }],
      ["valueEquals", { valueEquals: "a\u0000b" }],
      ["valueEquals", { valueEquals: "\ud800" }],
      ["jsonContains", { jsonContains: { tier: "a\u0000" } }],
      ["jsonContains", { jsonContains: { "\ud800": 1 } }],
      ["jsonContains", { jsonContains: deep(1001) }],
      ["jsonContains", { jsonContains: "x".repeat(70_000) }],
      ["jsonContains", { jsonContains: {} }],
      ["jsonContains", { jsonContains: [] }],
      ["jsonContains", { jsonContains: { tier: {}, tags: [[]] } }],
      ["first", { valueEquals: "pro", first: 501 }],
      ["first", { valueEquals: "pro", first: 1, last: 1 }],
      ["after", { valueEquals: "pro", after: "not-a-cursor" }],
      ["after", { valueEquals: "pro", after: encodeCursor("A-1") }],
      ["before", { valueEquals: "pro", before: encodeSearchCursor("A\u0000") }],
    ])("rejects a bad %s with BAD_USER_INPUT", async (field, variables) => {
      const result = await search(STAFF, variables);
      expect(errorCodes(result)).toEqual(["BAD_USER_INPUT"]);
      expect(result.body.errors?.[0]?.extensions?.field).toBe(field);
    });

    it("accepts nesting up to 1,000 levels, as deep as stored values are parsed", async () => {
      expect(errorCodes(await search(STAFF, { jsonContains: deep(999) }))).toEqual([]);
    });

    it("a search cursor is not a list cursor", async () => {
      const result = await t.execute({
        document: ListMetadata,
        variables: { linkedObjectType: "ACCOUNT", identifier: "A-1", after: encodeSearchCursor("A-1") },
        token: await t.token(STAFF),
      });
      expect(errorCodes(result)).toEqual(["BAD_USER_INPUT"]);
    });
  });
});
