import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LinkedObjectType } from "./gql/graphql.js";
import { createTestApp, errorCodes, type OperationResult, type TestApp, type TestClaims } from "./support/app.js";
import { backends } from "./support/backends.js";
import {
  DefineMetadata,
  DeleteMetadata,
  DeleteMetadataKeys,
  GetMetadata,
  GetMetadataForKey,
  GetMetadataWithDefinitions,
  ListMetadata,
  ListMetadataDefinitions,
  MetadataChanged,
  MetadataHistory,
  RemoveMetadataDefinition,
  SearchMetadata,
  SetMetadata,
  UpdateMetadata,
} from "./support/operations.js";

// The access policy, end to end through HTTP: tenants, scopes, reach, namespaces, client-mode tokens.

const STAFF_PERMISSION = "CAN_MUTATE_METADATA";

/** A user of tenant "default", signed in through the "web" client; no scope yet. */
const USER_BASE: TestClaims = {
  sub: "u-1",
  email: "u1@example.com",
  accounts: ["A-1", "A-ns", "A-app", 42],
  orgs: ["O-1"],
  client_id: "web",
};
const USER: TestClaims = { ...USER_BASE, scope: "openid metadata.write" };
const READER: TestClaims = { ...USER_BASE, scope: "openid metadata.read" };
const NO_SCOPE: TestClaims = { ...USER_BASE, scope: "openid profile" };
/** Staff via the back office: the permission alone, no scope at all. */
const STAFF: TestClaims = { sub: "staff-1", permissions: [STAFF_PERMISSION], client_id: "backoffice" };
/** Client-credentials tokens: no `sub`. */
const CLIENT: TestClaims = { client_id: "svc", scope: "metadata.write" };
const STAFF_CLIENT: TestClaims = { client_id: "sync", scope: "metadata.write", permissions: [STAFF_PERMISSION] };

interface ObjectRef {
  linkedObjectType: LinkedObjectType;
  identifier: string;
}
interface Where extends ObjectRef {
  namespace?: string;
}

const WRITES = ["updateMetadata", "deleteMetadata", "setMetadata", "deleteMetadataKeys"] as const;
// metadataChanged (a subscription) is authorized like a read, once, when it starts: every refusal
// here is a plain JSON answer with no stream. What a permitted subscription receives is in
// test/subscriptions.test.ts.
const READS = [
  "metadata",
  "metadataForKey",
  "metadataList",
  "metadataHistory",
  "metadataSearch",
  "metadataChanged",
] as const;
const OPERATIONS = [...WRITES, ...READS] as const;
type Operation = (typeof OPERATIONS)[number];
/** The operations on one object; metadataSearch spans a type's objects, and its reach has its own tests below. */
const OBJECT_OPERATIONS = OPERATIONS.filter((op) => op !== "metadataSearch");
const isWrite = (op: Operation) => (WRITES as readonly string[]).includes(op);

describe.each(backends)("access policy on $name", (backend) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp(backend);
  });
  afterAll(() => t.close());

  // ---- helpers -------------------------------------------------------------------------------

  const tokenFor = (claims: TestClaims | null) => (claims ? t.token(claims) : Promise.resolve(undefined));

  async function set(claims: TestClaims, where: Where, key: string, value: string, expectedVersion?: number) {
    return t.execute({
      document: UpdateMetadata,
      variables: { input: { ...where, key, value, expectedVersion } },
      token: await tokenFor(claims),
    });
  }

  /** A write that must succeed; returns the entry. */
  async function write(claims: TestClaims, where: Where, key: string, value: string, expectedVersion?: number) {
    const result = await set(claims, where, key, value, expectedVersion);
    expect(result.body.errors).toBeUndefined();
    const entry = result.body.data?.updateMetadata.metadata;
    expect(entry).toBeDefined();
    return entry;
  }

  async function del(claims: TestClaims, where: Where, key: string) {
    return t.execute({
      document: DeleteMetadata,
      variables: { input: { ...where, key } },
      token: await tokenFor(claims),
    });
  }

  async function getOne(claims: TestClaims, where: Where, key: string) {
    return t.execute({ document: GetMetadataForKey, variables: { ...where, key }, token: await tokenFor(claims) });
  }

  /** Runs one operation; writes set the value "changed" (setMetadata: a batch of that one entry). */
  async function run(
    op: Operation,
    claims: TestClaims | null,
    where: Where,
    key = "k",
  ): Promise<OperationResult<unknown>> {
    const token = await tokenFor(claims);
    switch (op) {
      case "updateMetadata":
        return t.execute({
          document: UpdateMetadata,
          variables: { input: { ...where, key, value: "changed" } },
          token,
        });
      case "deleteMetadata":
        return t.execute({ document: DeleteMetadata, variables: { input: { ...where, key } }, token });
      case "setMetadata":
        return t.execute({
          document: SetMetadata,
          variables: { input: { ...where, entries: [{ key, value: "changed" }] } },
          token,
        });
      case "deleteMetadataKeys":
        return t.execute({ document: DeleteMetadataKeys, variables: { input: { ...where, keys: [key] } }, token });
      case "metadata":
        return t.execute({ document: GetMetadata, variables: { ...where }, token });
      case "metadataForKey":
        return t.execute({ document: GetMetadataForKey, variables: { ...where, key }, token });
      case "metadataList":
        return t.execute({ document: ListMetadata, variables: { ...where }, token });
      case "metadataHistory":
        return t.execute({ document: MetadataHistory, variables: { ...where, key }, token });
      case "metadataSearch":
        return t.execute({
          document: SearchMetadata,
          variables: {
            linkedObjectType: where.linkedObjectType,
            namespace: where.namespace,
            key,
            jsonContains: { a: 1 },
          },
          token,
        });
      case "metadataChanged":
        return t.execute({ document: MetadataChanged, variables: { ...where }, token });
    }
  }

  /** What a caller sees of `key` and of the object through the three reads: values, or error codes. */
  async function look(claims: TestClaims, where: Where, key: string) {
    const token = await tokenFor(claims);
    const one = await t.execute({ document: GetMetadataForKey, variables: { ...where, key }, token });
    const all = await t.execute({ document: GetMetadata, variables: { ...where }, token });
    const list = await t.execute({ document: ListMetadata, variables: { ...where }, token });
    const listed = list.body.data?.metadataList;
    return {
      metadataForKey: one.body.errors ? errorCodes(one) : one.body.data?.metadataForKey?.value,
      metadata: all.body.errors ? errorCodes(all) : all.body.data?.metadata.map((e) => `${e.key}=${e.value}`),
      metadataList:
        list.body.errors || !listed
          ? errorCodes(list)
          : { totalCount: listed.totalCount, entries: listed.edges.map((e) => `${e.node.key}=${e.node.value}`) },
    };
  }

  const absent = { metadataForKey: ["NOT_FOUND"], metadata: [], metadataList: { totalCount: 0, entries: [] } };
  const only = (key: string, value: string) => ({
    metadataForKey: value,
    metadata: [`${key}=${value}`],
    metadataList: { totalCount: 1, entries: [`${key}=${value}`] },
  });

  /** Every row in the table, in a stable order. */
  const snapshot = () =>
    t.db.prisma.metadata.findMany({
      orderBy: [
        { tenant: "asc" },
        { linkedObjectType: "asc" },
        { identifier: "asc" },
        { namespace: "asc" },
        { key: "asc" },
      ],
      select: {
        tenant: true,
        namespace: true,
        linkedObjectType: true,
        identifier: true,
        key: true,
        value: true,
        version: true,
      },
    });

  /** The stored rows of one object as "tenant namespace key=value vN", sorted (namespace as stored). */
  async function rowsOf({ linkedObjectType, identifier }: ObjectRef): Promise<string[]> {
    const rows = await t.db.prisma.metadata.findMany({ where: { linkedObjectType, identifier } });
    return rows.map((r) => `${r.tenant} ${r.namespace || "-"} ${r.key}=${r.value} v${r.version}`).sort();
  }

  /** The operation fails with exactly FORBIDDEN and the given extensions/message parts, returns no data, writes nothing. */
  async function expectForbidden(
    op: Operation,
    claims: TestClaims | null,
    where: Where,
    extensions: Record<string, unknown>,
    messageParts: string[],
    key = "k",
  ) {
    const count = await t.db.prisma.metadata.count();
    const before = await snapshot();
    const result = await run(op, claims, where, key);
    expect(errorCodes(result)).toEqual(["FORBIDDEN"]);
    const error = result.body.errors?.[0];
    expect(error?.extensions).toMatchObject(extensions);
    for (const part of messageParts) expect(error?.message).toContain(part);
    const data = result.body.data as Record<string, unknown> | null | undefined;
    expect(data?.[op] ?? null).toBeNull();
    expect(await t.db.prisma.metadata.count()).toBe(count);
    expect(await snapshot()).toEqual(before);
  }

  // ---- scopes ----------------------------------------------------------------------------------

  describe("scopes", () => {
    const account: ObjectRef = { linkedObjectType: "ACCOUNT", identifier: "A-1" };

    beforeAll(async () => {
      await write(STAFF, account, "k", "seed");
    });

    it.each(OPERATIONS)("%s without any metadata scope is FORBIDDEN and names the missing scope", async (op) => {
      const scope = isWrite(op) ? "metadata.write" : "metadata.read";
      await expectForbidden(op, NO_SCOPE, account, { code: "FORBIDDEN", missingScope: scope }, [scope]);
    });

    it.each(WRITES)(
      "%s with only metadata.read is FORBIDDEN naming metadata.write; the entry is untouched",
      async (op) => {
        await expectForbidden(op, READER, account, { code: "FORBIDDEN", missingScope: "metadata.write" }, [
          "metadata.write",
        ]);
        expect((await getOne(STAFF, account, "k")).body.data?.metadataForKey).toMatchObject({
          value: "seed",
          version: 1,
        });
      },
    );

    it("metadata.read allows every read", async () => {
      expect(await look(READER, account, "k")).toEqual(only("k", "seed"));
      const history = await t.execute({
        document: MetadataHistory,
        variables: { ...account, key: "k" },
        token: await t.token(READER),
      });
      expect(history.body.data?.metadataHistory.edges.map((e) => e.node.value)).toEqual(["seed"]);
    });

    it("metadata.write allows reading and writing", async () => {
      expect(await write(USER, account, "own", "mine")).toMatchObject({ value: "mine", version: 1, namespace: null });
      const seen = await look(USER, account, "own");
      expect(seen.metadataForKey).toBe("mine");
      expect(seen.metadata).toEqual(["k=seed", "own=mine"]);
      expect(seen.metadataList).toEqual({ totalCount: 2, entries: ["k=seed", "own=mine"] });
      expect((await del(USER, account, "own")).body.data?.deleteMetadata.metadata).toMatchObject({ key: "own" });
    });

    it("the scp array grants scopes like the scope string", async () => {
      const scpReader: TestClaims = { ...USER_BASE, scp: ["metadata.read"] };
      expect(await look(scpReader, account, "k")).toEqual(only("k", "seed"));
      await expectForbidden("updateMetadata", scpReader, account, { missingScope: "metadata.write" }, [
        "metadata.write",
      ]);
      const scpWriter: TestClaims = { ...USER_BASE, scp: ["metadata.write"] };
      expect(await write(scpWriter, account, "scp", "x")).toMatchObject({ version: 1 });
      expect((await del(scpWriter, account, "scp")).body.errors).toBeUndefined();
    });

    it("look-alike scopes grant nothing", async () => {
      const lookAlike: TestClaims = {
        ...USER_BASE,
        scope: "metadata metadata.readonly metadata.writer METADATA.WRITE",
      };
      await expectForbidden("metadata", lookAlike, account, { missingScope: "metadata.read" }, ["metadata.read"]);
      await expectForbidden("updateMetadata", lookAlike, account, { missingScope: "metadata.write" }, [
        "metadata.write",
      ]);
    });

    it("CAN_MUTATE_METADATA grants reading and writing without any scope", async () => {
      expect(await write(STAFF, account, "staff", "s")).toMatchObject({ version: 1 });
      const seen = await look(STAFF, account, "staff");
      expect(seen.metadataForKey).toBe("s");
      expect(seen.metadata).toEqual(["k=seed", "staff=s"]);
      expect((await del(STAFF, account, "staff")).body.errors).toBeUndefined();
      expect(await rowsOf(account)).toEqual(["default - k=seed v1"]);
    });

    it.each(OPERATIONS)("%s without a token is UNAUTHENTICATED and writes nothing", async (op) => {
      const before = await snapshot();
      expect(errorCodes(await run(op, null, account))).toEqual(["UNAUTHENTICATED"]);
      expect(await snapshot()).toEqual(before);
    });
  });

  // ---- reach -----------------------------------------------------------------------------------

  describe("reach", () => {
    const REACHED: [LinkedObjectType, string, string][] = [
      ["USER", "u-1", "the user's own sub"],
      ["ACCOUNT_USER", "u1@example.com", "the user's email"],
      ["ACCOUNT_USER", "u-1", "the user's sub"],
      ["ACCOUNT", "A-1", "an account in `accounts`"],
      ["ACCOUNT", "42", "an account given as a JSON number"],
      ["ORGANIZATION", "O-1", "an org in `orgs`"],
    ];

    it.each(REACHED)("a user reaches %s %s (%s) with every operation", async (linkedObjectType, identifier) => {
      const object: ObjectRef = { linkedObjectType, identifier };
      expect(await write(USER, object, "reach", "yes")).toMatchObject({ linkedObjectType, identifier, version: 1 });
      const seen = await look(USER, object, "reach");
      expect(seen.metadataForKey).toBe("yes");
      expect(seen.metadata).toContain("reach=yes");
      expect(seen.metadataList).toMatchObject({ entries: expect.arrayContaining(["reach=yes"]) });
      const deleted = await del(USER, object, "reach");
      expect(deleted.body.data?.deleteMetadata.metadata).toMatchObject({ key: "reach", value: "yes" });
      expect(errorCodes(await getOne(USER, object, "reach"))).toEqual(["NOT_FOUND"]);
    });

    // Each holds a staff entry "k", so a leak would show.
    const UNREACHED: [LinkedObjectType, string, string][] = [
      ["USER", "u-2", "another user"],
      ["USER", "u1@example.com", "the email, which is not a USER id"],
      ["ACCOUNT_USER", "u2@example.com", "another email"],
      ["ACCOUNT_USER", "u-2", "another sub"],
      ["ACCOUNT", "A-2", "an account not in `accounts`"],
      ["ACCOUNT", "u-1", "the sub, which is not an account"],
      ["ACCOUNT", "O-1", "an org, which is not an account"],
      ["ORGANIZATION", "O-2", "an org not in `orgs`"],
      ["ORGANIZATION", "A-1", "an account, which is not an org"],
      ["PROPERTY", "P-1", "a property: staff only"],
      ["ACCOUNT_PROPERTY_EFFECTIVE_PERIOD", "APEP-1", "an effective period: staff only"],
    ];
    const STAFF_ONLY = new Set<LinkedObjectType>(["PROPERTY", "ACCOUNT_PROPERTY_EFFECTIVE_PERIOD"]);

    beforeAll(async () => {
      for (const [linkedObjectType, identifier] of UNREACHED) {
        await write(STAFF, { linkedObjectType, identifier }, "k", "hidden");
      }
    });

    const cases = UNREACHED.flatMap(([type, id, why]) => OBJECT_OPERATIONS.map((op) => [op, type, id, why] as const));

    it.each(cases)("%s on %s %s (%s) is FORBIDDEN naming the missing reach", async (op, type, identifier) => {
      const expectedMessage = STAFF_ONLY.has(type) ? [type, STAFF_PERMISSION] : [type, identifier];
      await expectForbidden(
        op,
        USER,
        { linkedObjectType: type, identifier },
        { code: "FORBIDDEN", missingReach: `${type}:${identifier}` },
        expectedMessage,
      );
    });

    it("reach is checked in every namespace: billing and $app of an unreached object are FORBIDDEN", async () => {
      const other: ObjectRef = { linkedObjectType: "ACCOUNT", identifier: "A-2" };
      for (const namespace of ["billing", "$app"]) {
        for (const op of OBJECT_OPERATIONS) {
          await expectForbidden(op, USER, { ...other, namespace }, { missingReach: "ACCOUNT:A-2" }, ["A-2"]);
        }
      }
    });

    it("a user without email does not reach ACCOUNT_USER by an email", async () => {
      const noEmail: TestClaims = { ...USER, email: undefined };
      await expectForbidden(
        "metadataForKey",
        noEmail,
        { linkedObjectType: "ACCOUNT_USER", identifier: "u1@example.com" },
        {
          missingReach: "ACCOUNT_USER:u1@example.com",
        },
        ["u1@example.com"],
      );
    });

    it.each(UNREACHED)("staff reaches %s %s (%s) with every operation", async (linkedObjectType, identifier) => {
      const object: ObjectRef = { linkedObjectType, identifier };
      expect(await write(STAFF, object, "staff", "s")).toMatchObject({ version: 1 });
      expect(await look(STAFF, object, "k")).toEqual({
        metadataForKey: "hidden",
        metadata: ["k=hidden", "staff=s"],
        metadataList: { totalCount: 2, entries: ["k=hidden", "staff=s"] },
      });
      expect((await del(STAFF, object, "staff")).body.data?.deleteMetadata.metadata.value).toBe("s");
      expect(await rowsOf(object)).toEqual(["default - k=hidden v1"]);
    });

    it("metadataSearch finds, of each type, exactly the objects a user reaches; staff all of them", async () => {
      const objects = [...REACHED, ...UNREACHED].map(([linkedObjectType, identifier]) => ({
        linkedObjectType,
        identifier,
      }));
      for (const object of objects) await write(STAFF, object, "searchable", "yes");
      const found = async (claims: TestClaims, linkedObjectType: LinkedObjectType) => {
        const result = await t.execute({
          document: SearchMetadata,
          variables: { linkedObjectType, key: "searchable", valueEquals: "yes" },
          token: await t.token(claims),
        });
        return result.body.errors
          ? errorCodes(result)
          : result.body.data?.metadataSearch.edges.map((e) => e.node.identifier).sort();
      };
      const ofType = (list: typeof REACHED, type: LinkedObjectType) =>
        [...new Set(list.filter(([t]) => t === type).map(([, id]) => id))].sort();
      for (const type of ["USER", "ACCOUNT_USER", "ACCOUNT", "ORGANIZATION"] as const) {
        expect(await found(USER, type), type).toEqual(ofType(REACHED, type));
        expect(await found(READER, type), type).toEqual(ofType(REACHED, type));
        expect(await found(STAFF, type), type).toEqual(ofType([...REACHED, ...UNREACHED], type));
      }
      for (const type of STAFF_ONLY) {
        expect(await found(USER, type)).toEqual(["FORBIDDEN"]);
        expect(await found(STAFF, type)).toEqual(ofType(UNREACHED, type));
      }
      for (const object of objects) expect((await del(STAFF, object, "searchable")).body.errors).toBeUndefined();
    });

    it("a user holding CAN_MUTATE_METADATA reaches PROPERTY objects", async () => {
      const staffUser: TestClaims = { ...USER, permissions: [STAFF_PERMISSION] };
      const property: ObjectRef = { linkedObjectType: "PROPERTY", identifier: "P-1" };
      expect(await write(staffUser, property, "k", "by-staff-user")).toMatchObject({ version: 2 });
      expect((await getOne(USER, property, "k")).body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      expect(await write(STAFF, property, "k", "hidden")).toMatchObject({ version: 3 });
    });
  });

  // ---- tenants ---------------------------------------------------------------------------------

  describe("tenant isolation", () => {
    const object: ObjectRef = { linkedObjectType: "ACCOUNT", identifier: "A-1" };
    const acme = (claims: TestClaims): TestClaims => ({ ...claims, tenant: "acme" });
    const globex = (claims: TestClaims): TestClaims => ({ ...claims, tenant: "globex" });
    /** Every kind of caller of tenant globex, with what it may read. */
    const GLOBEX_READERS: [string, TestClaims, (string | undefined)[]][] = [
      ["staff", globex(STAFF), [undefined, "billing", "$app"]],
      ["user (client web)", globex(USER), [undefined, "billing", "$app"]],
      ["staff client (client web)", globex({ ...STAFF_CLIENT, client_id: "web" }), [undefined, "billing", "$app"]],
      ["client (client web)", globex({ ...CLIENT, client_id: "web" }), ["$app"]],
    ];

    beforeAll(async () => {
      await write(acme(STAFF), object, "plan", "acme-default");
      await write(acme(STAFF), { ...object, namespace: "billing" }, "plan", "acme-billing");
      await write(acme(USER), { ...object, namespace: "$app" }, "plan", "acme-app");
      await write(acme(STAFF), object, "other", "acme-other");
    });

    it("the owning tenant sees its entries (control)", async () => {
      expect((await look(acme(USER), object, "plan")).metadataForKey).toBe("acme-default");
      expect(await look(acme(USER), { ...object, namespace: "billing" }, "plan")).toEqual(only("plan", "acme-billing"));
      expect(await look(acme(USER), { ...object, namespace: "$app" }, "plan")).toEqual(only("plan", "acme-app"));
    });

    it.each(GLOBEX_READERS)("another tenant's %s finds nothing in any namespace", async (_name, claims, namespaces) => {
      for (const namespace of namespaces) {
        expect(await look(claims, { ...object, namespace }, "plan")).toEqual(absent);
      }
    });

    it("a token without tenant claim is tenant 'default' and sees nothing of acme", async () => {
      expect(await look(USER, object, "plan")).toMatchObject({ metadataForKey: ["NOT_FOUND"] });
      expect((await look(USER, object, "plan")).metadata).not.toContain("plan=acme-default");
      expect((await look(USER, { ...object, namespace: "billing" }, "plan")).metadataForKey).toEqual(["NOT_FOUND"]);
    });

    it("a write by another tenant to the same object and key creates its own entry; the first is untouched", async () => {
      const before = await rowsOf(object);
      // expectedVersion 0 ("must not exist yet") passes: acme's entry does not exist for globex.
      expect(await write(globex(USER), object, "plan", "globex-default", 0)).toMatchObject({ version: 1 });
      expect(
        await write(globex(STAFF), { ...object, namespace: "billing" }, "plan", "globex-billing", 0),
      ).toMatchObject({ version: 1, namespace: "billing" });
      expect(await write(globex(USER), { ...object, namespace: "$app" }, "plan", "globex-app", 0)).toMatchObject({
        version: 1,
        namespace: "$app",
      });
      expect(await rowsOf(object)).toEqual(
        [
          ...before,
          "globex - plan=globex-default v1",
          "globex $app:web plan=globex-app v1",
          "globex billing plan=globex-billing v1",
        ].sort(),
      );
      expect(await look(acme(USER), object, "plan")).toMatchObject({ metadataForKey: "acme-default" });
      expect(await look(globex(USER), object, "plan")).toEqual({
        metadataForKey: "globex-default",
        metadata: ["plan=globex-default"],
        metadataList: { totalCount: 1, entries: ["plan=globex-default"] },
      });
      expect(await look(acme(USER), { ...object, namespace: "$app" }, "plan")).toEqual(only("plan", "acme-app"));
      expect(await look(globex(USER), { ...object, namespace: "$app" }, "plan")).toEqual(only("plan", "globex-app"));
    });

    it("another tenant cannot delete an entry: NOT_FOUND, nothing deleted; deleting its own leaves the first", async () => {
      const count = await t.db.prisma.metadata.count();
      expect(errorCodes(await del(globex(STAFF), object, "other"))).toEqual(["NOT_FOUND"]);
      expect(errorCodes(await del(globex(USER), object, "other"))).toEqual(["NOT_FOUND"]);
      expect(await t.db.prisma.metadata.count()).toBe(count);
      await write(globex(STAFF), object, "other", "globex-other");
      const deleted = await del(globex(STAFF), object, "other");
      expect(deleted.body.data?.deleteMetadata.metadata.value).toBe("globex-other");
      expect((await getOne(acme(USER), object, "other")).body.data?.metadataForKey).toMatchObject({
        value: "acme-other",
        version: 1,
      });
    });

    it("a forbidden operation in another tenant is still FORBIDDEN, not a way to probe", async () => {
      for (const op of OPERATIONS) {
        await expectForbidden(op, globex(NO_SCOPE), object, { code: "FORBIDDEN" }, [], "plan");
        if (op === "metadataSearch") continue;
        await expectForbidden(
          op,
          globex(USER),
          { linkedObjectType: "ACCOUNT", identifier: "A-2" },
          {
            missingReach: "ACCOUNT:A-2",
          },
          [],
        );
      }
    });
  });

  // ---- namespaces ------------------------------------------------------------------------------

  describe("namespaces", () => {
    const object: ObjectRef = { linkedObjectType: "ACCOUNT", identifier: "A-ns" };
    const billing: Where = { ...object, namespace: "billing" };

    beforeAll(async () => {
      await write(STAFF, billing, "plan", "pro");
    });

    it("a user reads a named namespace (staff-written)", async () => {
      for (const reader of [USER, READER]) {
        expect(await look(reader, billing, "plan")).toEqual(only("plan", "pro"));
        expect((await getOne(reader, billing, "plan")).body.data?.metadataForKey?.namespace).toBe("billing");
      }
    });

    it.each(WRITES)("a user's %s in a named namespace is FORBIDDEN: a user can never raise their plan", async (op) => {
      await expectForbidden(
        op,
        USER,
        billing,
        { code: "FORBIDDEN", missingPermission: STAFF_PERMISSION },
        ["billing", STAFF_PERMISSION],
        "plan",
      );
      await expectForbidden(op, USER, billing, { missingPermission: STAFF_PERMISSION }, [], "new-key");
      expect(await look(USER, billing, "plan")).toEqual(only("plan", "pro"));
    });

    it("a user's compare-and-set on a named namespace is FORBIDDEN too", async () => {
      const before = await snapshot();
      const result = await set(USER, billing, "plan", "enterprise", 1);
      expect(errorCodes(result)).toEqual(["FORBIDDEN"]);
      expect(await snapshot()).toEqual(before);
    });

    it("a user's default-namespace write of the same key leaves the named namespace alone", async () => {
      expect(await write(USER, object, "plan", "enterprise")).toMatchObject({ version: 1, namespace: null });
      expect((await look(USER, billing, "plan")).metadataForKey).toBe("pro");
      expect((await del(USER, object, "plan")).body.errors).toBeUndefined();
    });

    it("staff and staff client-mode tokens write named namespaces", async () => {
      expect(await write(STAFF, billing, "plan", "business")).toMatchObject({ version: 2, namespace: "billing" });
      expect(await write(STAFF_CLIENT, billing, "plan", "pro")).toMatchObject({ version: 3, namespace: "billing" });
      expect(await write(STAFF_CLIENT, { ...object, namespace: "tier" }, "level", "gold")).toMatchObject({
        version: 1,
      });
      expect((await look(USER, { ...object, namespace: "tier" }, "level")).metadataForKey).toBe("gold");
      expect((await del(STAFF_CLIENT, { ...object, namespace: "tier" }, "level")).body.errors).toBeUndefined();
    });

    it("the same key lives independently in the default, a named and the $app namespace", async () => {
      const shared: ObjectRef = { linkedObjectType: "ACCOUNT", identifier: "A-1" };
      await write(USER, shared, "tier", "own");
      await write(STAFF, { ...shared, namespace: "billing" }, "tier", "paid");
      await write(USER, { ...shared, namespace: "$app" }, "tier", "app");

      const read = async (namespace?: string) =>
        (await getOne(USER, { ...shared, namespace }, "tier")).body.data?.metadataForKey;
      expect(await read()).toMatchObject({ value: "own", namespace: null, version: 1 });
      expect(await read("billing")).toMatchObject({ value: "paid", namespace: "billing", version: 1 });
      expect(await read("$app")).toMatchObject({ value: "app", namespace: "$app", version: 1 });

      const listed = async (namespace: string) =>
        (
          await t.execute({
            document: GetMetadata,
            variables: { ...shared, namespace },
            token: await t.token(USER),
          })
        ).body.data?.metadata.map((e) => `${e.namespace} ${e.key}=${e.value}`);
      expect(await listed("billing")).toEqual(["billing tier=paid"]);
      expect(await listed("$app")).toEqual(["$app tier=app"]);
      expect((await look(USER, shared, "tier")).metadata).not.toContain("tier=paid");
      expect((await look(USER, shared, "tier")).metadata).not.toContain("tier=app");

      expect(await rowsOf(shared)).toEqual(
        expect.arrayContaining([
          "default - tier=own v1",
          "default billing tier=paid v1",
          "default $app:web tier=app v1",
        ]),
      );
      // Deleting one leaves the others.
      expect((await del(USER, shared, "tier")).body.errors).toBeUndefined();
      expect((await read("billing"))?.value).toBe("paid");
      expect((await read("$app"))?.value).toBe("app");
      expect(errorCodes(await getOne(USER, shared, "tier"))).toEqual(["NOT_FOUND"]);
    });
  });

  // ---- $app ------------------------------------------------------------------------------------

  describe("the $app namespace", () => {
    const object: ObjectRef = { linkedObjectType: "ACCOUNT", identifier: "A-app" };
    const app: Where = { ...object, namespace: "$app" };
    const MOBILE: TestClaims = { ...USER, client_id: "mobile" };

    beforeAll(async () => {
      expect(await write(USER, app, "k", "web-secret")).toMatchObject({ namespace: "$app", version: 1 });
    });

    it("is stored per client id and read back as namespace $app", async () => {
      expect(await rowsOf(object)).toEqual(["default $app:web k=web-secret v1"]);
      expect((await getOne(USER, app, "k")).body.data?.metadataForKey?.namespace).toBe("$app");
      expect(await look(USER, app, "k")).toEqual(only("k", "web-secret"));
    });

    it("azp names the client as client_id does", async () => {
      const viaAzp: TestClaims = { ...USER, client_id: undefined, azp: "web" };
      expect(await look(viaAzp, app, "k")).toEqual(only("k", "web-secret"));
    });

    it("is not visible in the default namespace", async () => {
      expect(await look(USER, object, "k")).toEqual(absent);
    });

    it("another client cannot read or list it", async () => {
      expect(await look(MOBILE, app, "k")).toEqual(absent);
      expect(await look({ ...CLIENT, client_id: "mobile" }, app, "k")).toEqual(absent);
    });

    it("another client cannot delete it, and its write creates its own entry", async () => {
      const count = await t.db.prisma.metadata.count();
      expect(errorCodes(await del(MOBILE, app, "k"))).toEqual(["NOT_FOUND"]);
      expect(await t.db.prisma.metadata.count()).toBe(count);
      expect(await write(MOBILE, app, "k", "mobile-value", 0)).toMatchObject({ version: 1, namespace: "$app" });
      expect(await rowsOf(object)).toEqual([
        "default $app:mobile k=mobile-value v1",
        "default $app:web k=web-secret v1",
      ]);
      expect(await look(USER, app, "k")).toEqual(only("k", "web-secret"));
      expect(await look(MOBILE, app, "k")).toEqual(only("k", "mobile-value"));
      expect((await del(MOBILE, app, "k")).body.errors).toBeUndefined();
      expect(await rowsOf(object)).toEqual(["default $app:web k=web-secret v1"]);
    });

    it.each(OPERATIONS)("%s on $app without client id is FORBIDDEN", async (op) => {
      const noClient: TestClaims = { ...USER, client_id: undefined };
      await expectForbidden(op, noClient, app, { code: "FORBIDDEN", missingClaim: "client_id" }, ["$app"]);
      const staffNoClient: TestClaims = { ...STAFF, client_id: undefined };
      await expectForbidden(op, staffNoClient, app, { code: "FORBIDDEN", missingClaim: "client_id" }, ["$app"]);
    });

    it("staff writing $app writes its own client's $app, never another client's", async () => {
      expect(await write(STAFF, app, "k", "backoffice-value")).toMatchObject({ version: 1, namespace: "$app" });
      expect(await rowsOf(object)).toEqual([
        "default $app:backoffice k=backoffice-value v1",
        "default $app:web k=web-secret v1",
      ]);
      expect(await look(STAFF, app, "k")).toEqual(only("k", "backoffice-value"));
      expect(await look(USER, app, "k")).toEqual(only("k", "web-secret"));
      const deleted = await del(STAFF, app, "k");
      expect(deleted.body.data?.deleteMetadata.metadata.value).toBe("backoffice-value");
      expect(await rowsOf(object)).toEqual(["default $app:web k=web-secret v1"]);
    });

    it("another client's stored namespace cannot be named", async () => {
      const before = await snapshot();
      const result = await set(STAFF, { ...object, namespace: "$app:web" }, "k", "overwrite");
      expect(result.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "namespace" });
      const read = await getOne(STAFF, { ...object, namespace: "$app:web" }, "k");
      expect(errorCodes(read)).toEqual(["BAD_USER_INPUT"]);
      expect(await snapshot()).toEqual(before);
    });
  });

  // ---- client-mode tokens ----------------------------------------------------------------------

  describe("client-mode tokens", () => {
    const EVERY_TYPE: ObjectRef[] = [
      { linkedObjectType: "ACCOUNT", identifier: "A-anything" },
      { linkedObjectType: "ACCOUNT_USER", identifier: "someone@example.com" },
      { linkedObjectType: "USER", identifier: "u-anyone" },
      { linkedObjectType: "ORGANIZATION", identifier: "O-any" },
      { linkedObjectType: "PROPERTY", identifier: "P-any" },
      { linkedObjectType: "ACCOUNT_PROPERTY_EFFECTIVE_PERIOD", identifier: "APEP-any" },
    ];
    const seeded: ObjectRef = { linkedObjectType: "ACCOUNT", identifier: "A-client" };

    beforeAll(async () => {
      await write(STAFF, seeded, "k", "default-value");
      await write(STAFF, { ...seeded, namespace: "billing" }, "k", "billing-value");
    });

    it.each(EVERY_TYPE)("with metadata.write reaches $linkedObjectType $identifier in its $app", async (object) => {
      const app: Where = { ...object, namespace: "$app" };
      expect(await write(CLIENT, app, "c", "v")).toMatchObject({ version: 1, namespace: "$app" });
      expect(await look(CLIENT, app, "c")).toEqual(only("c", "v"));
      expect(await rowsOf(object)).toEqual(["default $app:svc c=v v1"]);
      expect((await del(CLIENT, app, "c")).body.errors).toBeUndefined();
      expect(await rowsOf(object)).toEqual([]);
    });

    const outside = OPERATIONS.flatMap((op) => [undefined, "billing"].map((namespace) => [op, namespace] as const));

    it.each(outside)("without CAN_MUTATE_METADATA, %s in namespace %s is FORBIDDEN", async (op, namespace) => {
      await expectForbidden(op, CLIENT, { ...seeded, namespace }, { missingPermission: STAFF_PERMISSION }, [
        STAFF_PERMISSION,
      ]);
    });

    it("with only metadata.read reads its $app but cannot write it", async () => {
      const readOnly: TestClaims = { ...CLIENT, scope: "metadata.read" };
      const app: Where = { ...seeded, namespace: "$app" };
      await write(CLIENT, app, "c", "v");
      expect(await look(readOnly, app, "c")).toEqual(only("c", "v"));
      for (const op of WRITES) {
        await expectForbidden(op, readOnly, app, { missingScope: "metadata.write" }, ["metadata.write"], "c");
      }
      for (const op of READS) {
        await expectForbidden(op, { ...CLIENT, scope: undefined }, app, { missingScope: "metadata.read" }, [
          "metadata.read",
        ]);
      }
      expect((await del(CLIENT, app, "c")).body.errors).toBeUndefined();
    });

    it("without a client id reaches nothing", async () => {
      const anonymousClient: TestClaims = { scope: "metadata.write" };
      await expectForbidden(
        "updateMetadata",
        anonymousClient,
        { ...seeded, namespace: "$app" },
        {
          missingClaim: "client_id",
        },
        [],
      );
      await expectForbidden("metadata", anonymousClient, seeded, { missingPermission: STAFF_PERMISSION }, []);
    });

    it.each(EVERY_TYPE)(
      "with CAN_MUTATE_METADATA also writes default and named namespaces of $linkedObjectType $identifier",
      async (object) => {
        for (const namespace of [undefined, "billing", "$app"]) {
          expect(await write(STAFF_CLIENT, { ...object, namespace }, "s", `in-${namespace}`)).toMatchObject({
            version: 1,
            namespace: namespace ?? null,
          });
        }
        expect(await rowsOf(object)).toEqual([
          "default $app:sync s=in-$app v1",
          "default - s=in-undefined v1",
          "default billing s=in-billing v1",
        ]);
        expect((await look(USER, object, "s")).metadataForKey).toEqual(["FORBIDDEN"]);
        expect((await look(STAFF, object, "s")).metadataForKey).toBe("in-undefined");
        for (const namespace of [undefined, "billing", "$app"]) {
          expect((await del(STAFF_CLIENT, { ...object, namespace }, "s")).body.errors).toBeUndefined();
        }
        expect(await rowsOf(object)).toEqual([]);
      },
    );
  });

  // ---- definitions -----------------------------------------------------------------------------

  describe("definitions", () => {
    const DEFINITION_OPERATIONS = ["defineMetadata", "removeMetadataDefinition", "metadataDefinitions"] as const;
    type DefinitionOperation = (typeof DEFINITION_OPERATIONS)[number];

    /** Runs one definitions operation on the key `k.<n>` (defineMetadata: an INTEGER key). */
    async function runDefinition(op: DefinitionOperation, claims: TestClaims | null, key: string) {
      const token = await tokenFor(claims);
      switch (op) {
        case "defineMetadata":
          return t.execute({
            document: DefineMetadata,
            variables: { input: { key, linkedObjectTypes: ["ACCOUNT"], title: { en: "Typed" }, type: "INTEGER" } },
            token,
          });
        case "removeMetadataDefinition":
          return t.execute({ document: RemoveMetadataDefinition, variables: { input: { key } }, token });
        case "metadataDefinitions":
          return t.execute({ document: ListMetadataDefinitions, variables: {}, token });
      }
    }
    const definitions = () =>
      t.db.prisma.metadataDefinition.findMany({
        orderBy: { id: "asc" },
        select: { tenant: true, key: true, version: true },
      });

    // [who, verdict per operation]: "ok", or the code and the extension naming what was missing.
    type Verdict = "ok" | { code: string; extensions?: Record<string, unknown> };
    const STAFF_ONLY: Verdict = { code: "FORBIDDEN", extensions: { missingPermission: STAFF_PERMISSION } };
    const MATRIX: [string, TestClaims | null, Record<DefinitionOperation, Verdict>][] = [
      [
        "no token",
        null,
        {
          defineMetadata: { code: "UNAUTHENTICATED" },
          removeMetadataDefinition: { code: "UNAUTHENTICATED" },
          metadataDefinitions: { code: "UNAUTHENTICATED" },
        },
      ],
      [
        "a user without metadata scope",
        NO_SCOPE,
        {
          defineMetadata: STAFF_ONLY,
          removeMetadataDefinition: STAFF_ONLY,
          metadataDefinitions: { code: "FORBIDDEN", extensions: { missingScope: "metadata.read" } },
        },
      ],
      [
        "a reader",
        READER,
        { defineMetadata: STAFF_ONLY, removeMetadataDefinition: STAFF_ONLY, metadataDefinitions: "ok" },
      ],
      [
        "a writer",
        USER,
        { defineMetadata: STAFF_ONLY, removeMetadataDefinition: STAFF_ONLY, metadataDefinitions: "ok" },
      ],
      [
        "a client-mode token",
        CLIENT,
        { defineMetadata: STAFF_ONLY, removeMetadataDefinition: STAFF_ONLY, metadataDefinitions: "ok" },
      ],
      ["staff", STAFF, { defineMetadata: "ok", removeMetadataDefinition: "ok", metadataDefinitions: "ok" }],
      [
        "a staff client-mode token",
        STAFF_CLIENT,
        { defineMetadata: "ok", removeMetadataDefinition: "ok", metadataDefinitions: "ok" },
      ],
    ];

    it.each(MATRIX)("%s", async (_who, claims, verdicts) => {
      const key = `access.${_who.replaceAll(" ", "-")}`;
      for (const op of DEFINITION_OPERATIONS) {
        // removeMetadataDefinition needs something to remove: staff defines it first.
        if (op === "removeMetadataDefinition") {
          expect((await runDefinition("defineMetadata", STAFF, key)).body.errors).toBeUndefined();
        }
        const before = await definitions();
        const result = await runDefinition(op, claims, key);
        const verdict = verdicts[op];
        if (verdict === "ok") {
          expect(result.body.errors, op).toBeUndefined();
          continue;
        }
        expect(errorCodes(result), op).toEqual([verdict.code]);
        expect(result.body.errors?.[0]?.extensions).toMatchObject(verdict.extensions ?? {});
        expect(await definitions(), op).toEqual(before);
      }
      // Clean up what staff left for the removal, whoever the caller was.
      await runDefinition("removeMetadataDefinition", STAFF, key);
    });

    it("a tenant's definitions are its own: another tenant neither lists them nor is bound by them", async () => {
      const acme: TestClaims = { ...STAFF, tenant: "acme" };
      const defined = await runDefinition("defineMetadata", acme, "acme.count");
      expect(defined.body.errors).toBeUndefined();
      const listed = await runDefinition("metadataDefinitions", STAFF, "");
      expect(JSON.stringify(listed.body.data)).not.toContain("acme.count");
      const account: Where = { linkedObjectType: "ACCOUNT", identifier: "A-1" };
      expect(await write(STAFF, account, "acme.count", "not a number")).toMatchObject({ value: "not a number" });
      expect(errorCodes(await set(acme, account, "acme.count", "not a number"))).toEqual(["BAD_USER_INPUT"]);
      // Another tenant cannot remove it either: it is not there for them.
      expect(errorCodes(await runDefinition("removeMetadataDefinition", STAFF, "acme.count"))).toEqual(["NOT_FOUND"]);
      expect((await runDefinition("removeMetadataDefinition", acme, "acme.count")).body.errors).toBeUndefined();
      expect((await del(STAFF, account, "acme.count")).body.errors).toBeUndefined();
    });

    it("Metadata.definition is visible to whoever reads the entry", async () => {
      const account: Where = { linkedObjectType: "ACCOUNT", identifier: "A-1" };
      expect((await runDefinition("defineMetadata", STAFF, "typed.read")).body.errors).toBeUndefined();
      await write(USER, account, "typed.read", "42");
      const read = await t.execute({
        document: GetMetadataWithDefinitions,
        variables: { identifier: "A-1" },
        token: await tokenFor(READER),
      });
      expect(read.body.data?.metadata.find((e) => e.key === "typed.read")?.definition).toMatchObject({
        key: "typed.read",
        type: "INTEGER",
      });
      expect((await del(USER, account, "typed.read")).body.errors).toBeUndefined();
      expect((await runDefinition("removeMetadataDefinition", STAFF, "typed.read")).body.errors).toBeUndefined();
    });
  });
});
