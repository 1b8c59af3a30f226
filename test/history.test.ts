import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { principalFromClaims } from "../src/auth/principal.js";
import type { LinkedObjectType, MetadataHistoryQueryVariables } from "./gql/graphql.js";
import { createTestApp, errorCodes, type TestApp, type TestClaims } from "./support/app.js";
import { backends } from "./support/backends.js";
import {
  DeleteMetadata,
  DeleteMetadataKeys,
  GetMetadataForKey,
  MetadataHistory,
  SetMetadata,
  UpdateMetadata,
} from "./support/operations.js";

// The change history: every write appends its events in the same statement as the change, and
// metadataHistory reads them back, newest first, with the reads' reach. Checked through HTTP and
// against the rows left behind.

const STAFF: TestClaims = { sub: "staff-1", tenant: "acme", permissions: ["CAN_MUTATE_METADATA"], client_id: "ops" };
const USER: TestClaims = {
  sub: "u-1",
  tenant: "acme",
  accounts: ["A-user"],
  scope: "metadata.write",
  client_id: "web",
};
const OTHER_USER: TestClaims = { ...USER, sub: "u-2", accounts: ["A-other"] };
const MOBILE: TestClaims = { ...USER, client_id: "mobile" };
const CLIENT: TestClaims = { tenant: "acme", client_id: "svc", scope: "metadata.write" };
const MAX_KEYS = 6;

interface Where {
  linkedObjectType?: LinkedObjectType;
  identifier: string;
  namespace?: string;
}

describe.each(backends)("history on $name", (backend) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp(backend, { METADATA_MAX_KEYS_PER_OBJECT: String(MAX_KEYS) });
  });
  afterAll(() => t?.close());

  const object = (where: Where) => ({ linkedObjectType: "ACCOUNT" as const, ...where });

  async function set(claims: TestClaims, where: Where, key: string, value: string, expectedVersion?: number) {
    const result = await t.execute({
      document: UpdateMetadata,
      variables: { input: { ...object(where), key, value, expectedVersion } },
      token: await t.token(claims),
    });
    expect(result.body.errors).toBeUndefined();
    return result.body.data?.updateMetadata.metadata;
  }

  async function history(
    claims: TestClaims,
    where: Where,
    args: Omit<MetadataHistoryQueryVariables, "linkedObjectType" | "identifier" | "namespace"> = {},
  ) {
    return t.execute({
      document: MetadataHistory,
      variables: { ...object(where), ...args },
      token: await t.token(claims),
    });
  }

  /** The events as "OPERATION key old->new value actor", newest first; fails on an error. */
  async function events(claims: TestClaims, where: Where, key?: string) {
    const result = await history(claims, where, { key, first: 500 });
    expect(result.body.errors).toBeUndefined();
    return (result.body.data?.metadataHistory.edges ?? []).map(
      ({ node: e }) => `${e.operation} ${e.key} ${e.oldVersion}->${e.newVersion ?? "-"} ${e.value ?? "-"} ${e.actor}`,
    );
  }

  const nodes = async (claims: TestClaims, where: Where, key?: string) =>
    ((await history(claims, where, { key, first: 500 })).body.data?.metadataHistory.edges ?? []).map((e) => e.node);

  const eventCount = () => t.db.prisma.metadataEvent.count();

  // ---- what each write appends -----------------------------------------------------------------

  it("updateMetadata appends CREATED then UPDATED; Metadata.sequence is the last event's, resourceOwner the tenant", async () => {
    const where = { identifier: "A-upsert" };
    const created = await set(STAFF, where, "k", "one");
    const updated = await set(STAFF, where, "k", "two");
    expect(await events(STAFF, where)).toEqual(["UPDATED k 1->2 two staff-1", "CREATED k 0->1 one staff-1"]);
    const [newest, oldest] = await nodes(STAFF, where);
    expect(newest).toMatchObject({
      namespace: null,
      linkedObjectType: "ACCOUNT",
      identifier: "A-upsert",
      resourceOwner: "acme",
    });
    expect(created?.sequence).toBe(oldest?.sequence);
    expect(updated?.sequence).toBe(newest?.sequence);
    expect(updated?.resourceOwner).toBe("acme");
    expect(newest?.sequence).toBeGreaterThan(oldest?.sequence ?? Number.POSITIVE_INFINITY);
    // occurredAt is the write's clock: the entry's updatedAt.
    expect(newest?.occurredAt).toBe(updated?.updatedAt);
    const read = await t.execute({
      document: GetMetadataForKey,
      variables: { identifier: "A-upsert", key: "k" },
      token: await t.token(STAFF),
    });
    expect(read.body.data?.metadataForKey?.sequence).toBe(newest?.sequence);
  });

  it("a refused compare-and-set appends nothing", async () => {
    const where = { identifier: "A-cas" };
    await set(STAFF, where, "k", "one");
    const before = await eventCount();
    const conflict = await t.execute({
      document: UpdateMetadata,
      variables: { input: { ...object(where), key: "k", value: "x", expectedVersion: 7 } },
      token: await t.token(STAFF),
    });
    expect(errorCodes(conflict)).toEqual(["VERSION_CONFLICT"]);
    expect(await eventCount()).toBe(before);
    expect(await events(STAFF, where)).toEqual(["CREATED k 0->1 one staff-1"]);
  });

  it("deleteMetadata appends DELETED (no new version, no value); the key written again is CREATED at 0->1", async () => {
    const where = { identifier: "A-delete" };
    await set(STAFF, where, "k", "one");
    const last = await set(STAFF, where, "k", "two");
    const deleted = await t.execute({
      document: DeleteMetadata,
      variables: { input: { ...object(where), key: "k" } },
      token: await t.token(STAFF),
    });
    // The entry as it was: its sequence is its last change before the delete.
    expect(deleted.body.data?.deleteMetadata.metadata.sequence).toBe(last?.sequence);
    await set(STAFF, where, "k", "three");
    expect(await events(STAFF, where)).toEqual([
      "CREATED k 0->1 three staff-1",
      "DELETED k 2->- - staff-1",
      "UPDATED k 1->2 two staff-1",
      "CREATED k 0->1 one staff-1",
    ]);
  });

  it("setMetadata appends one event per entry; REPLACE also a DELETED per removed key", async () => {
    const where = { identifier: "A-batch" };
    await set(STAFF, where, "a", "a1");
    await set(STAFF, where, "gone", "g1");
    const token = await t.token(STAFF);
    const merge = await t.execute({
      document: SetMetadata,
      variables: {
        input: {
          ...object(where),
          entries: [
            { key: "a", value: "a2" },
            { key: "b", value: "b1" },
          ],
        },
      },
      token,
    });
    expect(merge.body.errors).toBeUndefined();
    const afterMerge = await events(STAFF, where);
    expect(afterMerge.slice(0, 2).sort()).toEqual(["CREATED b 0->1 b1 staff-1", "UPDATED a 1->2 a2 staff-1"]);
    const replace = await t.execute({
      document: SetMetadata,
      variables: { input: { ...object(where), entries: [{ key: "b", value: "b2" }], mode: "REPLACE" } },
      token,
    });
    expect(replace.body.data?.setMetadata.removedKeys).toEqual(["a", "gone"]);
    const all = await events(STAFF, where);
    expect(all).toHaveLength(afterMerge.length + 3);
    // The removals run first in the batch, so their events come before the write's.
    expect(all[0]).toBe("UPDATED b 1->2 b2 staff-1");
    expect(all.slice(1, 3).sort()).toEqual(["DELETED a 2->- - staff-1", "DELETED gone 1->- - staff-1"]);
    // Each written entry carries its own event's sequence.
    const [newest] = await nodes(STAFF, where);
    expect(replace.body.data?.setMetadata.metadata[0]?.sequence).toBe(newest?.sequence);
  });

  it("a failed batch leaves no events: the same transaction rolls them back with the rows", async () => {
    const where = { identifier: "A-failed" };
    await set(STAFF, where, "a", "a1");
    const before = await eventCount();
    const token = await t.token(STAFF);
    const conflict = await t.execute({
      document: SetMetadata,
      variables: {
        input: {
          ...object(where),
          entries: [
            { key: "new", value: "n" },
            { key: "a", value: "a2", expectedVersion: 5 },
          ],
          mode: "REPLACE",
        },
      },
      token,
    });
    expect(conflict.body.errors?.[0]?.extensions).toMatchObject({ code: "VERSION_CONFLICT", index: 1 });
    const tooMany = await t.execute({
      document: SetMetadata,
      variables: {
        input: {
          ...object(where),
          entries: Array.from({ length: MAX_KEYS + 1 }, (_, i) => ({ key: `k${i}`, value: "v" })),
        },
      },
      token,
    });
    expect(errorCodes(tooMany)).toEqual(["LIMIT_EXCEEDED"]);
    expect(await eventCount()).toBe(before);
    expect(await events(STAFF, where)).toEqual(["CREATED a 0->1 a1 staff-1"]);
  });

  it("deleteMetadataKeys appends a DELETED per key it removed, none for absent keys", async () => {
    const where = { identifier: "A-multi" };
    for (const key of ["x", "y", "z"]) await set(STAFF, where, key, key);
    const result = await t.execute({
      document: DeleteMetadataKeys,
      variables: { input: { ...object(where), keys: ["x", "absent", "z"] } },
      token: await t.token(STAFF),
    });
    expect(result.body.data?.deleteMetadataKeys.removedKeys).toEqual(["x", "z"]);
    const all = await events(STAFF, where);
    expect(all.slice(0, 2).sort()).toEqual(["DELETED x 1->- - staff-1", "DELETED z 1->- - staff-1"]);
    expect(all).toHaveLength(5);
  });

  it("the expiry purge appends EXPIRED (no actor, at the expiry instant); a write over an expired entry is CREATED", async () => {
    const where = { identifier: "A-expiry" };
    await set(STAFF, where, "old", "o1");
    await set(STAFF, where, "old", "o2");
    await set(STAFF, where, "again", "a1");
    // Expired a minute ago, set in the table: no waiting.
    const expiredAt = new Date(Date.now() - 60_000);
    await t.db.prisma.metadata.updateMany({ where: { identifier: "A-expiry" }, data: { expiresAt: expiredAt } });
    await set(STAFF, where, "again", "a2", 0);
    const purged = await t.app.services.metadata.purgeExpired();
    expect(purged.map((e) => [e.operation, e.key, e.oldVersion, e.newVersion, e.value, e.actor])).toEqual([
      ["EXPIRED", "old", 2, null, null, null],
    ]);
    expect(await t.db.prisma.metadata.findMany({ where: { identifier: "A-expiry" } })).toHaveLength(1);
    expect(await events(STAFF, where)).toEqual([
      "EXPIRED old 2->- - null",
      "CREATED again 0->1 a2 staff-1",
      "CREATED again 0->1 a1 staff-1",
      "UPDATED old 1->2 o2 staff-1",
      "CREATED old 0->1 o1 staff-1",
    ]);
    expect((await nodes(STAFF, where, "old"))[0]?.occurredAt).toBe(expiredAt.toISOString());
  });

  it("the actor is the token's sub, or its client id for a client-credentials token", async () => {
    const where = { identifier: "A-client", namespace: "$app" };
    await set(CLIENT, where, "c", "v");
    await set(STAFF, where, "c", "v");
    expect(await events(CLIENT, where)).toEqual(["CREATED c 0->1 v svc"]);
    expect(await events(STAFF, where)).toEqual(["CREATED c 0->1 v staff-1"]);
  });

  it("the service's write methods hand on the events they appended (for publishing after commit)", async () => {
    const principal = principalFromClaims(STAFF);
    const ref = { linkedObjectType: "ACCOUNT" as const, identifier: "A-service" };
    const { result, events: appended } = await t.app.services.metadata.setEntry(principal, {
      ...ref,
      key: "k",
      value: "v",
    });
    expect(appended).toEqual([
      {
        sequence: result.sequence,
        operation: "CREATED",
        tenant: "acme",
        linkedObjectType: "ACCOUNT",
        identifier: "A-service",
        namespace: "",
        key: "k",
        oldVersion: 0,
        newVersion: 1,
        value: "v",
        actor: "staff-1",
        occurredAt: result.updatedAt,
      },
    ]);
    const removed = await t.app.services.metadata.deleteEntries(principal, { ...ref, keys: ["k"] });
    expect(removed.events.map((e) => [e.operation, e.key, e.oldVersion])).toEqual([["DELETED", "k", 1]]);
    expect(removed.events[0]?.sequence).toBeGreaterThan(result.sequence);
  });

  // ---- paging -----------------------------------------------------------------------------------

  it("pages newest first with cursors; key narrows to one key, omitted means every key of the namespace", async () => {
    const where = { identifier: "A-pages" };
    for (let i = 1; i <= 5; i++) await set(STAFF, where, "k", `v${i}`);
    await set(STAFF, where, "other", "o");
    await set(STAFF, { ...where, namespace: "billing" }, "k", "elsewhere");

    const values: string[] = [];
    let after: string | null | undefined;
    const seen: boolean[][] = [];
    for (;;) {
      const page = (await history(STAFF, where, { key: "k", first: 2, after })).body.data?.metadataHistory;
      if (!page) throw new Error("no page");
      values.push(...page.edges.map((e) => e.node.value ?? "-"));
      seen.push([page.pageInfo.hasPreviousPage, page.pageInfo.hasNextPage]);
      expect(page.pageInfo.startCursor).toBe(page.edges[0]?.cursor ?? null);
      expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor ?? null);
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(values).toEqual(["v5", "v4", "v3", "v2", "v1"]);
    expect(seen).toEqual([
      [false, true],
      [true, true],
      [true, false],
    ]);
    const every = (await nodes(STAFF, where)).map((e) => `${e.key}=${e.value}`);
    expect(every).toEqual(["other=o", "k=v5", "k=v4", "k=v3", "k=v2", "k=v1"]);
    const sequences = (await nodes(STAFF, where)).map((e) => e.sequence);
    expect([...sequences].sort((a, b) => b - a)).toEqual(sequences);
    expect(new Set(sequences).size).toBe(sequences.length);
    expect(await events(STAFF, { ...where, namespace: "billing" })).toEqual(["CREATED k 0->1 elsewhere staff-1"]);
    const empty = (await history(STAFF, where, { first: 0 })).body.data?.metadataHistory;
    expect(empty).toMatchObject({ edges: [], pageInfo: { hasNextPage: true } });
    expect((await history(STAFF, where)).body.data?.metadataHistory.edges).toHaveLength(6);
  });

  // ---- reach ------------------------------------------------------------------------------------

  it("has a read's reach: a user reads their own objects' history, never another user's", async () => {
    await set(STAFF, { identifier: "A-user" }, "k", "mine");
    await set(STAFF, { identifier: "A-other" }, "k", "theirs");
    expect(await events(USER, { identifier: "A-user" })).toEqual(["CREATED k 0->1 mine staff-1"]);
    const refused = await history(USER, { identifier: "A-other" });
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: "FORBIDDEN", missingReach: "ACCOUNT:A-other" });
    expect(refused.body.data?.metadataHistory ?? null).toBeNull();
    expect(errorCodes(await history(OTHER_USER, { identifier: "A-user" }))).toEqual(["FORBIDDEN"]);
    expect(await events(OTHER_USER, { identifier: "A-other" })).toEqual(["CREATED k 0->1 theirs staff-1"]);
    const anonymous = await t.execute({ document: MetadataHistory, variables: object({ identifier: "A-user" }) });
    expect(errorCodes(anonymous)).toEqual(["UNAUTHENTICATED"]);
    // Another tenant's staff sees an empty history of the same object.
    expect(await events({ ...STAFF, tenant: "globex" }, { identifier: "A-user" })).toEqual([]);
  });

  it("a client's $app events are visible only as reads of its $app are", async () => {
    const where = { identifier: "A-user" };
    await set(USER, { ...where, namespace: "$app" }, "secret", "web-only");
    await set(MOBILE, { ...where, namespace: "$app" }, "secret", "mobile-only");
    expect(await events(USER, { ...where, namespace: "$app" })).toEqual(["CREATED secret 0->1 web-only u-1"]);
    expect(await events(MOBILE, { ...where, namespace: "$app" })).toEqual(["CREATED secret 0->1 mobile-only u-1"]);
    expect((await nodes(USER, { ...where, namespace: "$app" }))[0]?.namespace).toBe("$app");
    // Not in the default namespace's history, not even for staff.
    for (const claims of [USER, STAFF]) {
      expect((await events(claims, where)).some((e) => e.includes("secret"))).toBe(false);
    }
    expect(errorCodes(await history({ ...USER, client_id: undefined }, { ...where, namespace: "$app" }))).toEqual([
      "FORBIDDEN",
    ]);
  });

  // ---- retention --------------------------------------------------------------------------------

  it("pruneHistory drops events older than METADATA_HISTORY_DAYS (90) and keeps the rest", async () => {
    const where = { identifier: "A-retention" };
    await set(STAFF, where, "k", "ancient");
    await set(STAFF, where, "k", "old");
    await set(STAFF, where, "k", "new");
    const [, old, ancient] = await nodes(STAFF, where);
    const daysAgo = (days: number) => new Date(Date.now() - days * 24 * 60 * 60 * 1000);
    await t.db.prisma.metadataEvent.updateMany({
      where: { sequence: BigInt(ancient?.sequence ?? 0) },
      data: { occurredAt: daysAgo(91) },
    });
    await t.db.prisma.metadataEvent.updateMany({
      where: { sequence: BigInt(old?.sequence ?? 0) },
      data: { occurredAt: daysAgo(89) },
    });
    expect(await t.app.services.metadata.pruneHistory()).toBe(1);
    expect(await events(STAFF, where)).toEqual(["UPDATED k 2->3 new staff-1", "UPDATED k 1->2 old staff-1"]);
    expect(await t.app.services.metadata.pruneHistory()).toBe(0);
  });

  // ---- bad arguments ----------------------------------------------------------------------------

  const listCursor = Buffer.from("k1:some.key").toString("base64url");
  it.each([
    ["first", { first: 501 }],
    ["first", { first: -1 }],
    ["after", { after: "not-a-cursor" }],
    ["after", { after: listCursor }],
    ["after", { after: Buffer.from("s1:0").toString("base64url") }],
    ["after", { after: Buffer.from("s1:1e3").toString("base64url") }],
    ["after", { after: Buffer.from("s1:99999999999999999999").toString("base64url") }],
    ["key", { key: "bad key" }],
  ])("a bad %s is BAD_USER_INPUT naming it, with no data", async (field, args) => {
    const before = await eventCount();
    const result = await history(STAFF, { identifier: "A-pages" }, args);
    expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
    expect(result.body.data?.metadataHistory ?? null).toBeNull();
    expect(await eventCount()).toBe(before);
  });
});
