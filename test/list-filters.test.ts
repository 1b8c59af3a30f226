import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCursor } from "../src/features/metadata/metadata.cursor.js";
import type { MetadataOrderField, OrderDirection } from "./gql/graphql.js";
import { createTestApp, errorCodes, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";
import { GetMetadata, ListMetadata, ListMetadataFiltered, SetMetadata, UpdateMetadata } from "./support/operations.js";

// metadataList's filters and orderings. Batches write all their entries at one instant, so
// created_at and updated_at tie across several keys: the pages below cross those ties.

interface Row {
  key: string;
  createdAt: string;
  updatedAt: string;
}

const ORDERS = (["KEY", "CREATED_AT", "UPDATED_AT"] as const).flatMap((field) =>
  (["ASC", "DESC"] as const).map((direction) => ({ field, direction })),
);

/** The expected order, computed from the entries' own timestamps: (timestamp, key), both reversed for DESC. */
function sorted(rows: Row[], order: { field: MetadataOrderField; direction: OrderDirection }): string[] {
  const stamp = (r: Row) =>
    order.field === "KEY" ? "" : new Date(order.field === "CREATED_AT" ? r.createdAt : r.updatedAt).toISOString();
  const ascending = [...rows].sort((a, b) =>
    stamp(a) === stamp(b) ? (a.key < b.key ? -1 : 1) : stamp(a) < stamp(b) ? -1 : 1,
  );
  return (order.direction === "ASC" ? ascending : ascending.reverse()).map((r) => r.key);
}

describe.each(backends)("metadataList filters and orderings on $name", (backend) => {
  let t: TestApp;
  let staff: string;
  const object = { linkedObjectType: "USER" as const, identifier: "u-filters" };
  let rows: Row[] = [];
  /** Instants between the writes: [before batch a, before batch b, before the singles, before the updates]. */
  const marks: Date[] = [];

  const list = (variables: Record<string, unknown>) =>
    t.execute({ document: ListMetadataFiltered, variables: { ...object, ...variables }, token: staff });
  const pause = () => new Promise((resolve) => setTimeout(resolve, 5));
  const mark = async () => {
    await pause();
    marks.push(new Date());
    await pause();
  };

  beforeAll(async () => {
    t = await createTestApp(backend);
    staff = await t.token({ sub: "staff", scope: "metadata.write", permissions: ["CAN_MUTATE_METADATA"] });
    const batch = async (keys: string[]) => {
      const entries = keys.map((key) => ({ key, value: key }));
      const result = await t.execute({
        document: SetMetadata,
        variables: { input: { ...object, entries } },
        token: staff,
      });
      expect(result.body.errors).toBeUndefined();
    };
    const write = async (key: string, where: Record<string, unknown> = object) => {
      const input = { ...object, ...where, key, value: `${key}!` };
      expect(
        (await t.execute({ document: UpdateMetadata, variables: { input }, token: staff })).body.errors,
      ).toBeUndefined();
    };
    await mark();
    await batch(["b.3", "a.1", "a.5", "a.2", "a.4"]);
    await mark();
    await batch(["b.1", "a.3", "b.4", "b.2"]);
    await mark();
    await write("c.2");
    await pause();
    await write("c.1");
    await mark();
    await write("a.2");
    await pause();
    await write("b.4");
    // Elsewhere: another namespace, another object. Never listed here.
    await write("a.1", { namespace: "billing" });
    await write("a.1", { identifier: "u-other" });
    const all = await t.execute({ document: GetMetadata, variables: object, token: staff });
    rows = all.body.data?.metadata ?? [];
    expect(rows).toHaveLength(11);
  });
  afterAll(() => t.close());

  /** Every key, walking with first/after, `size` at a time. */
  async function walkForward(variables: Record<string, unknown>, size: number) {
    const keys: string[] = [];
    let after: string | null | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const result = await list({ ...variables, first: size, after });
      expect(result.body.errors).toBeUndefined();
      const page = result.body.data?.metadataList;
      keys.push(...(page?.edges.map((e) => e.node.key) ?? []));
      expect(page?.pageInfo.hasPreviousPage).toBe(after !== undefined);
      if (!page?.pageInfo.hasNextPage) return { keys, totalCount: page?.totalCount };
      after = page.pageInfo.endCursor;
    }
    throw new Error("did not end");
  }

  /** Every key, walking back from the end with last/before, in reading order. */
  async function walkBackward(variables: Record<string, unknown>, size: number) {
    const keys: string[] = [];
    let before: string | null | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const result = await list({ ...variables, last: size, before });
      expect(result.body.errors).toBeUndefined();
      const page = result.body.data?.metadataList;
      keys.unshift(...(page?.edges.map((e) => e.node.key) ?? []));
      expect(page?.pageInfo.hasNextPage).toBe(before !== undefined);
      if (!page?.pageInfo.hasPreviousPage) return keys;
      before = page.pageInfo.startCursor;
    }
    throw new Error("did not end");
  }

  it("the batches really tie: five keys share one created_at, four another", () => {
    const created = new Map<string, number>();
    for (const r of rows) created.set(r.createdAt, (created.get(r.createdAt) ?? 0) + 1);
    expect([...created.values()].sort()).toEqual([1, 1, 4, 5]);
  });

  it.each(ORDERS)(
    "orders by $field $direction: first/after and last/before cross ties, each key once",
    async (order) => {
      const expected = sorted(rows, order);
      for (const size of [2, 3]) {
        const forward = await walkForward({ orderBy: order }, size);
        expect(forward.keys).toEqual(expected);
        expect(forward.totalCount).toBe(11);
        expect(await walkBackward({ orderBy: order }, size)).toEqual(expected);
      }
    },
  );

  it("without orderBy, and with {field: KEY}, orders by key ascending as before", async () => {
    const byKey = sorted(rows, { field: "KEY", direction: "ASC" });
    expect((await list({})).body.data?.metadataList.edges.map((e) => e.node.key)).toEqual(byKey);
    expect((await list({ orderBy: { field: "KEY" } })).body.data?.metadataList.edges.map((e) => e.node.key)).toEqual(
      byKey,
    );
  });

  it("cursors handed out before orderings existed keep working with the default order", async () => {
    const legacy = await t.execute({ document: ListMetadata, variables: { ...object, first: 2 }, token: staff });
    const cursor = legacy.body.data?.metadataList.pageInfo.endCursor;
    expect(cursor).toBe(encodeCursor("a.2"));
    const next = (await list({ first: 2, after: cursor })).body.data?.metadataList;
    expect(next?.edges.map((e) => e.node.key)).toEqual(["a.3", "a.4"]);
    const explicit = (await list({ first: 2, after: cursor, orderBy: { field: "KEY", direction: "ASC" } })).body.data
      ?.metadataList;
    expect(explicit?.edges.map((e) => e.node.key)).toEqual(["a.3", "a.4"]);
  });

  it("a cursor used with another orderBy than its own is BAD_USER_INPUT", async () => {
    const page = async (orderBy: Record<string, string>) =>
      (await list({ first: 1, orderBy })).body.data?.metadataList.pageInfo.endCursor;
    const createdAsc = await page({ field: "CREATED_AT", direction: "ASC" });
    const keyDesc = await page({ field: "KEY", direction: "DESC" });
    const keyAsc = await page({ field: "KEY", direction: "ASC" });
    const mismatches: [string | null | undefined, Record<string, string>, "after" | "before"][] = [
      [createdAsc, { field: "CREATED_AT", direction: "DESC" }, "after"],
      [createdAsc, { field: "UPDATED_AT", direction: "ASC" }, "before"],
      [keyDesc, { field: "KEY", direction: "ASC" }, "after"],
      [keyAsc, { field: "UPDATED_AT", direction: "DESC" }, "after"],
      [createdAsc, { field: "KEY", direction: "ASC" }, "before"],
    ];
    for (const [cursor, orderBy, field] of mismatches) {
      const result = await list({ first: 1, [field]: cursor, orderBy });
      expect(errorCodes(result)).toEqual(["BAD_USER_INPUT"]);
      expect(result.body.errors?.[0]?.extensions?.field).toBe(field);
      expect(result.body.errors?.[0]?.message).toContain("was made for orderBy");
    }
  });

  it("keys: only those keys, counted; a key without an entry is just absent", async () => {
    const page = (await list({ keys: ["c.1", "a.3", "zz", "a.1"] })).body.data?.metadataList;
    expect(page?.edges.map((e) => e.node.key)).toEqual(["a.1", "a.3", "c.1"]);
    expect(page?.totalCount).toBe(3);
  });

  it("createdAfter/createdBefore are exclusive bounds on created_at, counted", async () => {
    const [, beforeB, beforeSingles] = marks;
    const between = (await list({ createdAfter: beforeB, createdBefore: beforeSingles })).body.data?.metadataList;
    expect(between?.edges.map((e) => e.node.key)).toEqual(["a.3", "b.1", "b.2", "b.4"]);
    expect(between?.totalCount).toBe(4);
    const createdAt = rows.find((r) => r.key === "a.3")?.createdAt;
    // The batch's own instant is excluded by both bounds.
    expect((await list({ createdAfter: createdAt })).body.data?.metadataList.edges.map((e) => e.node.key)).toEqual([
      "c.1",
      "c.2",
    ]);
    expect((await list({ createdBefore: createdAt })).body.data?.metadataList.totalCount).toBe(5);
  });

  it("updatedAfter/updatedBefore filter on the last write; filters combine with keyPrefix, keys and an ordering", async () => {
    const [, , , beforeUpdates] = marks;
    const updated = (await list({ updatedAfter: beforeUpdates })).body.data?.metadataList;
    expect(updated?.edges.map((e) => e.node.key)).toEqual(["a.2", "b.4"]);
    expect((await list({ updatedBefore: beforeUpdates })).body.data?.metadataList.totalCount).toBe(9);
    const combined = {
      keyPrefix: "a.",
      keys: ["a.1", "a.2", "a.3", "b.4"],
      updatedBefore: beforeUpdates,
      orderBy: { field: "CREATED_AT", direction: "DESC" },
    };
    const expected = sorted(
      rows.filter((r) => ["a.1", "a.3"].includes(r.key)),
      { field: "CREATED_AT", direction: "DESC" },
    );
    const walked = await walkForward(combined, 1);
    expect(walked.keys).toEqual(expected);
    expect(walked.totalCount).toBe(2);
    expect(await walkBackward(combined, 1)).toEqual(expected);
  });

  it("a window that lets nothing through answers an empty page with totalCount 0", async () => {
    const page = (await list({ createdAfter: new Date().toISOString() })).body.data?.metadataList;
    expect(page?.edges).toEqual([]);
    expect(page?.totalCount).toBe(0);
    expect(page?.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: false, endCursor: null });
  });

  const forged = (parts: unknown) => Buffer.from(`o1:${JSON.stringify(parts)}`, "utf8").toString("base64url");
  it.each([
    ["keys", { keys: [] }],
    ["keys", { keys: Array.from({ length: 101 }, (_, i) => `k${i}`) }],
    ["keys", { keys: ["a.1", "a.1"] }],
    ["keys", { keys: ["a.1", "has space"] }],
    ["createdBefore", { createdAfter: "2026-01-02T00:00:00Z", createdBefore: "2026-01-01T00:00:00Z" }],
    ["createdBefore", { createdAfter: "2026-01-01T00:00:00Z", createdBefore: "2026-01-01T00:00:00Z" }],
    ["updatedBefore", { updatedAfter: "2026-01-02T00:00:00Z", updatedBefore: "2026-01-01T00:00:00Z" }],
    // An instant in year 10000: PostgreSQL cannot take it (was INTERNAL_SERVER_ERROR for expiresAt).
    ["createdAfter", { createdAfter: "9999-12-31T23:59:59-01:00" }],
    ["updatedBefore", { updatedBefore: "9999-12-31T23:59:59-01:00" }],
    ["after", { after: forged(["CREATED_AT", "ASC", 1.5, "a.1"]), orderBy: { field: "CREATED_AT" } }],
    ["after", { after: forged(["CREATED_AT", "ASC", null, "a.1"]), orderBy: { field: "CREATED_AT" } }],
    ["after", { after: forged(["CREATED_AT", "ASC", 0, "a\u0000"]), orderBy: { field: "CREATED_AT" } }],
    ["before", { before: forged(["UPDATED_AT", "UP", 0, "a.1"]), orderBy: { field: "UPDATED_AT" } }],
    ["before", { before: forged(["KEY", "ASC", null, "a.1"]) }],
    ["before", { before: forged(["KEY", "DESC", 5, "a.1"]), orderBy: { field: "KEY", direction: "DESC" } }],
    ["after", { after: forged(["CREATED_AT", "ASC", 8.64e15 + 1, "a.1"]), orderBy: { field: "CREATED_AT" } }],
  ])("rejects a bad %s with BAD_USER_INPUT", async (field, variables) => {
    const result = await list(variables);
    expect(errorCodes(result)).toEqual(["BAD_USER_INPUT"]);
    expect(result.body.errors?.[0]?.extensions?.field).toBe(field);
    expect(result.body.data?.metadataList ?? null).toBeNull();
  });

  it("a forged cursor of the right shape pages like a real one (it is a position, nothing more)", async () => {
    const createdAt = new Date(rows.find((r) => r.key === "a.3")?.createdAt ?? 0).getTime();
    const after = forged(["CREATED_AT", "ASC", createdAt, "a.3"]);
    const page = (await list({ after, orderBy: { field: "CREATED_AT" } })).body.data?.metadataList;
    const expected = sorted(rows, { field: "CREATED_AT", direction: "ASC" });
    expect(page?.edges.map((e) => e.node.key)).toEqual(expected.slice(expected.indexOf("a.3") + 1));
    expect(expected.slice(expected.indexOf("a.3") + 1, expected.indexOf("a.3") + 4)).toEqual(["b.1", "b.2", "b.4"]);
  });
});
