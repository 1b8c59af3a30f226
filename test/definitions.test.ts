import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { type Database, openDatabase } from "../src/db/database.js";
import { LISTENER_APPLICATION_NAME } from "../src/db/notifications.js";
import { createApp } from "../src/server.js";
import type { MetadataDefinitionInput, MetadataValueType, SetMetadataEntryInput } from "./gql/graphql.js";
import { createTestApp, errorCodes, executorFor, TEST_SECRET, type TestApp, type TestClaims } from "./support/app.js";
import { backends } from "./support/backends.js";
import {
  DefineMetadata,
  GetMetadataWithDefinitions,
  ListMetadataDefinitions,
  RemoveMetadataDefinition,
  SetMetadata,
  UpdateMetadata,
} from "./support/operations.js";

// Definitions: typed keys. What a definition accepts and refuses, what it leaves alone, who manages
// them, and that every instance enforces a change made on any of them.

const STAFF: TestClaims = { sub: "staff-1", scope: "metadata.write", permissions: ["CAN_MUTATE_METADATA"] };
const USER: TestClaims = { sub: "u-1", accounts: ["A-user"], scope: "metadata.write" };
const TITLE = { en: "A typed key" };

describe.each(backends)("definitions on $name", (backend) => {
  let t: TestApp;
  let staff: string;
  const statements: string[] = [];

  beforeAll(async () => {
    t = await createTestApp(
      backend,
      { METADATA_MAX_VALUE_LENGTH: "5000" },
      { onQuery: (e) => statements.push(e.query) },
    );
    staff = await t.token(STAFF);
  });
  afterAll(() => t?.close());

  const define = (input: Partial<MetadataDefinitionInput> & { key: string }, token = staff) =>
    t.execute({
      document: DefineMetadata,
      variables: { input: { linkedObjectTypes: ["ACCOUNT"], title: TITLE, type: "STRING", ...input } },
      token,
    });
  const defined = async (input: Partial<MetadataDefinitionInput> & { key: string }) => {
    const result = await define(input);
    expect(result.body.errors).toBeUndefined();
    return result.body.data?.defineMetadata.definition;
  };
  const remove = (key: string, extra: { namespace?: string; expectedVersion?: number } = {}) =>
    t.execute({ document: RemoveMetadataDefinition, variables: { input: { key, ...extra } }, token: staff });
  const write = (
    identifier: string,
    key: string,
    value: string,
    extra: { namespace?: string; linkedObjectType?: "ACCOUNT" | "USER" } = {},
  ) =>
    t.execute({
      document: UpdateMetadata,
      variables: { input: { linkedObjectType: "ACCOUNT", identifier, key, value, ...extra } },
      token: staff,
    });
  const list = (variables: { first?: number; after?: string; last?: number; before?: string } = {}, token = staff) =>
    t.execute({ document: ListMetadataDefinitions, variables, token });
  /** The stored values of one object: key=value. */
  const rowsOf = async (identifier: string) =>
    (await t.db.prisma.metadata.findMany({ where: { identifier }, orderBy: { key: "asc" } })).map(
      (r) => `${r.namespace || "-"} ${r.key}=${r.value}`,
    );
  const definitionCount = () => t.db.prisma.metadataDefinition.count({ where: { tenant: "default" } });
  /** Refused with BAD_USER_INPUT, `extensions` as given, nothing stored on the object. */
  const expectRefused = async (
    result: Awaited<ReturnType<typeof write>>,
    identifier: string,
    extensions: Record<string, unknown>,
  ) => {
    expect(errorCodes(result)).toEqual(["BAD_USER_INPUT"]);
    expect(result.body.errors?.[0]?.extensions).toMatchObject(extensions);
    expect(await rowsOf(identifier)).toEqual([]);
  };

  // ---- define, list, remove ---------------------------------------------------------------------

  it("defines a key (version 1), replaces it (version 2), and compare-and-sets on expectedVersion", async () => {
    const first = await defined({
      key: "plan",
      title: { en: "Plan", de: "Tarif" },
      description: "The billing plan",
      type: "STRING",
      linkedObjectTypes: ["USER", "ACCOUNT", "USER"],
      allowedValues: ["free", "pro"],
    });
    expect(first).toMatchObject({
      namespace: null,
      key: "plan",
      title: { en: "Plan", de: "Tarif" },
      description: "The billing plan",
      type: "STRING",
      linkedObjectTypes: ["ACCOUNT", "USER"],
      allowedValues: ["free", "pro"],
      maxLength: null,
      pattern: null,
      jsonSchema: null,
      version: 1,
    });
    const second = await defined({ key: "plan", allowedValues: ["free", "pro", "team"], expectedVersion: 1 });
    expect(second).toMatchObject({ version: 2, allowedValues: ["free", "pro", "team"], description: null });
    expect(second?.createdAt).toBe(first?.createdAt);
    const stale = await define({ key: "plan", expectedVersion: 1 });
    expect(errorCodes(stale)).toEqual(["VERSION_CONFLICT"]);
    expect(stale.body.errors?.[0]?.extensions).toMatchObject({ expectedVersion: 1, currentVersion: 2 });
    expect(errorCodes(await define({ key: "plan", expectedVersion: 0 }))).toEqual(["VERSION_CONFLICT"]);
    expect(errorCodes(await define({ key: "plan-new", expectedVersion: 3 }))).toEqual(["VERSION_CONFLICT"]);
    const [row] = await t.db.prisma.metadataDefinition.findMany({ where: { key: "plan" } });
    expect(row).toMatchObject({ version: 2, tenant: "default", namespace: "", allowedValues: ["free", "pro", "team"] });
    expect(await t.db.prisma.metadataDefinition.count({ where: { key: "plan-new" } })).toBe(0);
  });

  it("lists the tenant's definitions by namespace (default first) then key, in pages", async () => {
    for (const key of ["list.b", "list.a", "list.c"]) await defined({ key });
    await defined({ key: "list.a", namespace: "billing" });
    const all = (await list({ first: 500 })).body.data?.metadataDefinitions;
    const names = all?.edges.map((e) => `${e.node.namespace ?? "-"} ${e.node.key}`) ?? [];
    expect(names.filter((n) => n.includes("list."))).toEqual(["- list.a", "- list.b", "- list.c", "billing list.a"]);
    expect(all?.totalCount).toBe(names.length);
    expect(names).toEqual([...names].sort((a, b) => (a.replace("-", " ") < b.replace("-", " ") ? -1 : 1)));

    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = (await list({ first: 2, after })).body.data?.metadataDefinitions;
      expect(page?.edges.length).toBeLessThanOrEqual(2);
      seen.push(...(page?.edges.map((e) => `${e.node.namespace ?? "-"} ${e.node.key}`) ?? []));
      expect(page?.pageInfo.hasPreviousPage).toBe(after !== undefined);
      if (!page?.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor ?? undefined;
    }
    expect(seen).toEqual(names);
    const last = (await list({ last: 2 })).body.data?.metadataDefinitions;
    expect(last?.edges.map((e) => `${e.node.namespace ?? "-"} ${e.node.key}`)).toEqual(names.slice(-2));
    expect(errorCodes(await list({ after: "bm90LWEtY3Vyc29y" }))).toEqual(["BAD_USER_INPUT"]);
    expect(errorCodes(await list({ first: 501 }))).toEqual(["BAD_USER_INPUT"]);
  });

  it("removes a definition: the values stay and the key is free-form again", async () => {
    await defined({ key: "flag", type: "BOOLEAN" });
    expect((await write("A-remove", "flag", "true")).body.errors).toBeUndefined();
    await expectRefused(await write("A-remove-2", "flag", "yes"), "A-remove-2", { field: "value" });
    const stale = await remove("flag", { expectedVersion: 7 });
    expect(errorCodes(stale)).toEqual(["VERSION_CONFLICT"]);
    const removed = await remove("flag", { expectedVersion: 1 });
    expect(removed.body.data?.removeMetadataDefinition.definition).toMatchObject({ key: "flag", type: "BOOLEAN" });
    expect(await rowsOf("A-remove")).toEqual(["- flag=true"]);
    expect((await write("A-remove", "flag", "yes")).body.errors).toBeUndefined();
    expect(errorCodes(await remove("flag"))).toEqual(["NOT_FOUND"]);
    expect(errorCodes(await remove("flag", { namespace: "$app" }))).toEqual(["BAD_USER_INPUT"]);
  });

  // ---- value types ------------------------------------------------------------------------------

  const TYPES: [MetadataValueType, string[], string[]][] = [
    ["STRING", ["", "anything at all", "ünïcödé"], []],
    ["BOOLEAN", ["true", "false"], ["TRUE", "1", "yes", " true", ""]],
    [
      "INTEGER",
      ["0", "-17", "9007199254740991", "-9007199254740991"],
      ["1.0", "01", "+1", "9007199254740992", "1e3", "", "-0x1"],
    ],
    ["NUMBER", ["0", "-1.5", "3e8", "2.5E-3"], ["NaN", "Infinity", "1e999", ".5", "1.", "0x10", "", "1 "]],
    [
      "DATE_TIME",
      ["2026-11-27T21:00:00Z", "2026-11-27T21:00:00.123+05:30", "2024-02-29T00:00:00-01:00"],
      ["2026-11-27", "2026-11-27T21:00:00", "2026-02-30T00:00:00Z", "yesterday", "2026-11-27T25:00:00Z"],
    ],
    [
      "URL",
      ["https://example.com/a?b=c#d", "http://localhost:8080"],
      ["example.com", "/relative", "javascript:alert(1)", "ftp://example.com/", "https://exa mple.com", ""],
    ],
    ["BASE64", ["", "aGVsbG8=", "aGk=", "AAECAw=="], ["aGVsbG8", "aGVsbG8=\n", "a GVs", "aGVsbG9=", "aGk", "aG!k"]],
    [
      "JSON",
      ['{"a":1}', "[1,2]", "null", '"text"', "3"],
      ["{a:1}", "", "[1,", `${"[".repeat(1001)}${"]".repeat(1001)}`],
    ],
  ];

  it.each(TYPES)(
    "%s: accepts its values and refuses others (BAD_USER_INPUT, path '', nothing written)",
    async (type, good, bad) => {
      const key = `typed.${type.toLowerCase()}`;
      await defined({ key, type });
      for (const [i, value] of good.entries()) {
        const result = await write(`A-${type}-ok-${i}`, key, value);
        expect(result.body.errors, `${type} ${JSON.stringify(value)}`).toBeUndefined();
        expect(await rowsOf(`A-${type}-ok-${i}`)).toEqual([`- ${key}=${value}`]);
      }
      for (const [i, value] of bad.entries()) {
        const identifier = `A-${type}-bad-${i}`;
        const result = await write(identifier, key, value);
        expect(errorCodes(result), `${type} ${JSON.stringify(value)}`).toEqual(["BAD_USER_INPUT"]);
        expect(result.body.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT", field: "value", path: "" });
        expect(await rowsOf(identifier)).toEqual([]);
      }
    },
  );

  it("BASE64 values are capped at 500000 characters even when METADATA_MAX_VALUE_LENGTH allows more", async () => {
    const big = await createTestApp(backend, { METADATA_MAX_VALUE_LENGTH: "600000" });
    try {
      const token = await big.token(STAFF);
      const definedThere = await big.execute({
        document: DefineMetadata,
        variables: { input: { key: "blob", linkedObjectTypes: ["ACCOUNT"], title: TITLE, type: "BASE64" } },
        token,
      });
      expect(definedThere.body.errors).toBeUndefined();
      const put = (value: string) =>
        big.execute({
          document: UpdateMetadata,
          variables: { input: { linkedObjectType: "ACCOUNT", identifier: "A-blob", key: "blob", value } },
          token,
        });
      expect((await put("A".repeat(500_000))).body.errors).toBeUndefined();
      expect(errorCodes(await put("A".repeat(500_004)))).toEqual(["BAD_USER_INPUT"]);
    } finally {
      await big.close();
    }
  });

  it("maxLength counts characters (code points), pattern needs a match, allowedValues lists the only values", async () => {
    await defined({ key: "short", maxLength: 3 });
    expect((await write("A-len", "short", "😀😀😀")).body.errors).toBeUndefined();
    await expectRefused(await write("A-len-2", "short", "abcd"), "A-len-2", { field: "value", path: "" });

    await defined({ key: "sku", pattern: "^[A-Z]{3}-[0-9]+$" });
    expect((await write("A-sku", "sku", "ABC-123")).body.errors).toBeUndefined();
    await expectRefused(await write("A-sku-2", "sku", "abc-123"), "A-sku-2", { field: "value" });

    await defined({ key: "color", allowedValues: ["red", "green"] });
    expect((await write("A-color", "color", "green")).body.errors).toBeUndefined();
    await expectRefused(await write("A-color-2", "color", "blue"), "A-color-2", { field: "value" });
  });

  it("a catastrophic pattern cannot backtrack: RE2 answers in linear time", async () => {
    await defined({ key: "redos", pattern: "^(a+)+$" });
    const result = await write("A-redos", "redos", `${"a".repeat(900)}!`);
    await expectRefused(result, "A-redos", { field: "value" });
    expect((await write("A-redos-ok", "redos", "a".repeat(900))).body.errors).toBeUndefined();
  });

  // ---- JSON Schema ------------------------------------------------------------------------------

  const ORDER_SCHEMA = {
    type: "object",
    properties: {
      items: {
        type: "array",
        items: {
          type: "object",
          properties: { name: { type: "string", pattern: "^[a-z]+$" }, qty: { type: "integer", minimum: 1 } },
          required: ["name"],
        },
      },
      "a/b": { type: "string", format: "email" },
    },
    required: ["items"],
  };

  it("JSON with a JSON Schema: a failure names the JSON pointer inside the value", async () => {
    await defined({ key: "order", type: "JSON", jsonSchema: ORDER_SCHEMA });
    expect(
      (await write("A-order", "order", '{"items":[{"name":"tea","qty":2}],"a/b":"x@example.com"}')).body.errors,
    ).toBeUndefined();
    const cases: [string, string][] = [
      ['{"items":[{"name":"tea"},{"qty":1}]}', "/items/1/name"],
      ['{"items":[{"name":"tea","qty":0}]}', "/items/0/qty"],
      ['{"items":[{"name":"Tea"}]}', "/items/0/name"],
      ['{"items":"none"}', "/items"],
      ["{}", "/items"],
      ['{"items":[],"a/b":"not an email"}', "/a~1b"],
      ["[1]", ""],
    ];
    for (const [i, [value, path]] of cases.entries()) {
      const identifier = `A-order-bad-${i}`;
      const result = await write(identifier, "order", value);
      await expectRefused(result, identifier, { code: "BAD_USER_INPUT", field: "value", path });
      expect(result.body.errors?.[0]?.message).toContain("JSON Schema");
    }
  });

  // ---- batches ----------------------------------------------------------------------------------

  it("setMetadata: a failing entry fails the batch with its index and path; nothing is written", async () => {
    await defined({ key: "batch.count", type: "INTEGER" });
    await defined({ key: "batch.doc", type: "JSON", jsonSchema: { type: "object", required: ["id"] } });
    const entries: SetMetadataEntryInput[] = [
      { key: "batch.free", value: "anything" },
      { key: "batch.count", value: "12" },
      { key: "batch.doc", value: '{"name":"x"}' },
    ];
    const result = await t.execute({
      document: SetMetadata,
      variables: { input: { linkedObjectType: "ACCOUNT", identifier: "A-batch", entries } },
      token: staff,
    });
    expect(errorCodes(result)).toEqual(["BAD_USER_INPUT"]);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: "BAD_USER_INPUT",
      field: "value",
      path: "/id",
      index: 2,
    });
    expect(await rowsOf("A-batch")).toEqual([]);
    const fixed = entries.map((e) => (e.key === "batch.doc" ? { ...e, value: '{"id":1}' } : e));
    const ok = await t.execute({
      document: SetMetadata,
      variables: { input: { linkedObjectType: "ACCOUNT", identifier: "A-batch", entries: fixed } },
      token: staff,
    });
    expect(ok.body.errors).toBeUndefined();
    expect(await rowsOf("A-batch")).toEqual(["- batch.count=12", '- batch.doc={"id":1}', "- batch.free=anything"]);
  });

  // ---- what a definition leaves alone -----------------------------------------------------------

  it("undefined keys stay free-form; a definition governs its own namespace and object types only", async () => {
    await defined({ key: "scoped", type: "INTEGER", linkedObjectTypes: ["ACCOUNT"] });
    await defined({ key: "scoped.billing", type: "INTEGER", namespace: "billing" });
    expect((await write("A-free", "never-defined", "{ not json")).body.errors).toBeUndefined();
    // Another namespace: the default namespace's definition does not apply there.
    expect((await write("A-ns", "scoped", "text", { namespace: "billing" })).body.errors).toBeUndefined();
    // Another object type: free-form.
    expect((await write("u-9", "scoped", "text", { linkedObjectType: "USER" })).body.errors).toBeUndefined();
    // A named namespace's definition does not apply to the default namespace.
    expect((await write("A-ns", "scoped.billing", "text")).body.errors).toBeUndefined();
    await expectRefused(await write("A-ns-2", "scoped.billing", "text", { namespace: "billing" }), "A-ns-2", {
      field: "value",
    });
    await expectRefused(await write("A-ns-3", "scoped", "text"), "A-ns-3", { field: "value" });
  });

  it("values stored before a definition stay; their next write must comply", async () => {
    expect((await write("A-before", "later", "not a number")).body.errors).toBeUndefined();
    await defined({ key: "later", type: "INTEGER" });
    expect(await rowsOf("A-before")).toEqual(["- later=not a number"]);
    const entry = await t.execute({
      document: GetMetadataWithDefinitions,
      variables: { identifier: "A-before" },
      token: staff,
    });
    expect(entry.body.data?.metadata).toEqual([
      { key: "later", value: "not a number", definition: { key: "later", type: "INTEGER", version: 1 } },
    ]);
    expect(errorCodes(await write("A-before", "later", "still not"))).toEqual(["BAD_USER_INPUT"]);
    expect(await rowsOf("A-before")).toEqual(["- later=not a number"]);
  });

  it("another tenant's definitions do not apply, and are not listed", async () => {
    const other = await t.token({ ...STAFF, tenant: "acme" });
    expect((await define({ key: "acme.only", type: "BOOLEAN" }, other)).body.errors).toBeUndefined();
    expect((await write("A-tenant", "acme.only", "not boolean")).body.errors).toBeUndefined();
    const keys = (await list({ first: 500 })).body.data?.metadataDefinitions.edges.map((e) => e.node.key);
    expect(keys).not.toContain("acme.only");
    expect((await list({}, other)).body.data?.metadataDefinitions.edges.map((e) => e.node.key)).toEqual(["acme.only"]);
  });

  // ---- invalid definitions ----------------------------------------------------------------------

  const INVALID: [string, Partial<MetadataDefinitionInput>, string][] = [
    ["a pattern RE2 cannot compile", { pattern: "(unclosed" }, "pattern"],
    ["a lookbehind (not RE2)", { pattern: "(?<=a)b" }, "pattern"],
    ["a pattern over 1000 characters", { pattern: "a".repeat(1001) }, "pattern"],
    ["a JSON Schema of an unknown type", { type: "JSON", jsonSchema: { type: "nope" } }, "jsonSchema"],
    [
      "a JSON Schema with a misspelled keyword",
      { type: "JSON", jsonSchema: { type: "object", propertys: {} } },
      "jsonSchema",
    ],
    [
      "a JSON Schema with an unknown format",
      { type: "JSON", jsonSchema: { type: "string", format: "nope" } },
      "jsonSchema",
    ],
    [
      "a JSON Schema with a remote $ref",
      { type: "JSON", jsonSchema: { $ref: "https://example.com/s.json" } },
      "jsonSchema",
    ],
    [
      "a JSON Schema whose pattern is not RE2",
      { type: "JSON", jsonSchema: { type: "string", pattern: "(?=x)" } },
      "jsonSchema",
    ],
    ["a JSON Schema on another type", { type: "STRING", jsonSchema: { type: "string" } }, "jsonSchema"],
    ["a JSON Schema that is not an object", { type: "JSON", jsonSchema: 42 }, "jsonSchema"],
    ["no linked object types", { linkedObjectTypes: [] }, "linkedObjectTypes"],
    ["an empty title map", { title: {} }, "title"],
    ["a title that is not a map", { title: "Plan" }, "title"],
    ["a title in no language", { title: { "not a tag": "x" } }, "title"],
    ["a blank title", { title: { en: " " } }, "title"],
    ["maxLength 0", { maxLength: 0 }, "maxLength"],
    ["maxLength above METADATA_MAX_VALUE_LENGTH", { maxLength: 5001 }, "maxLength"],
    ["allowedValues invalid for the type", { type: "BOOLEAN", allowedValues: ["true", "yes"] }, "allowedValues"],
    ["allowedValues twice the same", { allowedValues: ["a", "a"] }, "allowedValues"],
    ["allowedValues empty", { allowedValues: [] }, "allowedValues"],
    ["allowedValues against the pattern", { pattern: "^[a-z]+$", allowedValues: ["ok", "NOT"] }, "allowedValues"],
    ["the $app namespace", { namespace: "$app" }, "namespace"],
    ["an invalid namespace", { namespace: "no spaces" }, "namespace"],
    ["a negative expectedVersion", { expectedVersion: -1 }, "expectedVersion"],
  ];

  it.each(INVALID)("refuses %s: BAD_USER_INPUT naming the field, nothing stored", async (_name, input, field) => {
    const before = await definitionCount();
    const result = await define({ key: "invalid.def", ...input });
    expect(errorCodes(result)).toEqual(["BAD_USER_INPUT"]);
    expect(result.body.errors?.[0]?.extensions).toMatchObject({ field });
    expect(await definitionCount()).toBe(before);
  });

  it("refuses an invalid key and an unknown linked object type", async () => {
    const before = await definitionCount();
    expect(errorCodes(await define({ key: "no spaces" }))).toEqual(["BAD_USER_INPUT"]);
    const unknownType = await t.execute({
      document: DefineMetadata,
      variables: { input: { key: "k", linkedObjectTypes: ["SPACESHIP" as "USER"], title: TITLE, type: "STRING" } },
      token: staff,
    });
    expect(errorCodes(unknownType)).toEqual(["BAD_USER_INPUT"]);
    expect(await definitionCount()).toBe(before);
  });

  it("only CAN_MUTATE_METADATA manages definitions; users read them", async () => {
    const user = await t.token(USER);
    const before = await definitionCount();
    const refused = await define({ key: "by.user" }, user);
    expect(errorCodes(refused)).toEqual(["FORBIDDEN"]);
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ missingPermission: "CAN_MUTATE_METADATA" });
    const removal = await t.execute({
      document: RemoveMetadataDefinition,
      variables: { input: { key: "plan" } },
      token: user,
    });
    expect(errorCodes(removal)).toEqual(["FORBIDDEN"]);
    expect(await definitionCount()).toBe(before);
    expect((await list({}, user)).body.data?.metadataDefinitions.totalCount).toBe(before);
  });

  it("a tenant holds at most 1000 definitions: a new key past that is LIMIT_EXCEEDED, a redefinition is not", async () => {
    await t.db.withConnection((exec) =>
      exec(`INSERT INTO metadata_definition (tenant, namespace, key, title, type)
            SELECT 'full', '', 'k.' || i, '{"en":"x"}', 'STRING' FROM generate_series(1, 1000) AS i`),
    );
    const full = await t.token({ ...STAFF, tenant: "full" });
    const refused = await define({ key: "one.more" }, full);
    expect(errorCodes(refused)).toEqual(["LIMIT_EXCEEDED"]);
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ limit: 1000 });
    expect((await define({ key: "k.1", type: "INTEGER" }, full)).body.data?.defineMetadata.definition).toMatchObject({
      type: "INTEGER",
      version: 2,
    });
    expect(await t.db.prisma.metadataDefinition.count({ where: { tenant: "full" } })).toBe(1000);
  });

  // ---- cost -------------------------------------------------------------------------------------

  const definitionStatements = () => statements.filter((s) => /metadata_definition/.test(s)).length;

  it("a write to an undefined key sends no definition statement once the tenant is loaded", async () => {
    expect((await write("A-hot", "warm-up", "x")).body.errors).toBeUndefined();
    const before = definitionStatements();
    const writes = statements.length;
    for (let i = 0; i < 5; i++) expect((await write("A-hot", `free.${i}`, "x")).body.errors).toBeUndefined();
    expect(definitionStatements()).toBe(before);
    expect(statements.length).toBeGreaterThan(writes);
  });

  it("Metadata.definition: one statement at most for a whole page of entries (none when loaded)", async () => {
    await defined({ key: "page.0", type: "INTEGER" });
    await defined({ key: "page.1", type: "BOOLEAN" });
    for (let i = 0; i < 10; i++)
      expect((await write("A-page", `page.${i}`, i < 1 ? "1" : "true")).body.errors).toBeUndefined();
    // A change drops the tenant's definitions: the next read loads them once for all ten entries.
    await defined({ key: "page.2", type: "BOOLEAN" });
    const before = definitionStatements();
    const read = () =>
      t.execute({ document: GetMetadataWithDefinitions, variables: { identifier: "A-page" }, token: staff });
    const result = await read();
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data?.metadata.map((e) => e.definition?.type ?? null)).toEqual([
      "INTEGER",
      "BOOLEAN",
      "BOOLEAN",
      ...Array(7).fill(null),
    ]);
    expect(definitionStatements() - before).toBeLessThanOrEqual(1);
    const loaded = definitionStatements();
    expect((await read()).body.errors).toBeUndefined();
    expect(definitionStatements()).toBe(loaded);
  });

  // ---- several instances ------------------------------------------------------------------------

  describe("a second instance on the same database", () => {
    let db: Database;
    let other: ReturnType<typeof executorFor>;
    const statementsThere: string[] = [];
    /** Statements on metadata_definition the second instance sent (PGlite: both, as they share the database). */
    const definitionStatementsThere = () =>
      backend.name === "postgres"
        ? statementsThere.filter((s) => /metadata_definition/.test(s)).length
        : definitionStatements();

    beforeAll(async () => {
      // PGlite is one process's: the second instance shares its database (and its LISTEN). PostgreSQL: its own connections.
      db =
        backend.name === "postgres"
          ? await openDatabase({ ...t.options, onQuery: (e) => statementsThere.push(e.query) })
          : t.db;
      const config = loadConfig({
        JWT_SECRET: TEST_SECRET,
        NODE_ENV: "test",
        LOG_LEVEL: "silent",
        METADATA_MAX_VALUE_LENGTH: "5000",
      });
      other = executorFor(await createApp({ config, db }));
    });
    afterAll(async () => {
      if (db !== t.db) await db.close();
    });

    const writeThere = (identifier: string, key: string, value: string) =>
      other({
        document: UpdateMetadata,
        variables: { input: { linkedObjectType: "ACCOUNT", identifier, key, value } },
        token: staff,
      });
    /** Polls until the other instance refuses (or accepts) the write, for at most 10 s. */
    async function eventually(check: () => Promise<boolean>) {
      const deadline = Date.now() + 10_000;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error("the other instance never saw the change");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const refusedThere = async (key: string, value: string) =>
      errorCodes(await writeThere(`A-coherent-${key}`, key, value)).includes("BAD_USER_INPUT");

    it("enforces a definition made on the first, and forgets a removed one", async () => {
      // The other instance keeps this tenant's definitions (it listens): its writes send no definition
      // statement. Only the notification can make it see the change.
      await eventually(async () => {
        const before = definitionStatementsThere();
        expect((await writeThere("A-coherent", "coherent", "free")).body.errors).toBeUndefined();
        return definitionStatementsThere() === before;
      });
      await defined({ key: "coherent", type: "INTEGER" });
      await eventually(() => refusedThere("coherent", "free"));
      expect((await remove("coherent")).body.errors).toBeUndefined();
      await eventually(async () => !(await refusedThere("coherent", "free")));
    });

    it.runIf(backend.name === "postgres")(
      "stays coherent when its listening connection is lost and comes back",
      async () => {
        expect((await writeThere("A-lost", "lost", "free")).body.errors).toBeUndefined();
        const listeners = async () =>
          (await t.db.withConnection((exec) =>
            exec(
              `SELECT pid FROM pg_stat_activity WHERE application_name = '${LISTENER_APPLICATION_NAME}' AND datname = current_database()`,
            ),
          )) as { pid: number }[];
        // Both instances listen; kill both connections (the first instance's comes back too).
        await eventually(async () => (await listeners()).length === 2);
        await t.db.withConnection((exec) =>
          exec(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${LISTENER_APPLICATION_NAME}' AND datname = current_database()`,
          ),
        );
        await defined({ key: "lost", type: "BOOLEAN" });
        await eventually(() => refusedThere("lost", "free"));
        await eventually(async () => (await listeners()).length === 2);
        // Listening again: a change still reaches it.
        expect((await remove("lost")).body.errors).toBeUndefined();
        await eventually(async () => !(await refusedThere("lost", "free")));
      },
    );
  });
});
