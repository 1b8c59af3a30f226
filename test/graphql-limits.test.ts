import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { print } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createTestApp, errorCodes, TEST_SECRET, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";
import { GetMetadataForKey, ListMetadata, UpdateMetadata } from "./support/operations.js";

// Each OWASP limit refuses with a code clients can match on, and leaves normal operations alone.

const pglite = backends[0];
if (!pglite) throw new Error("no backend");
const STAFF = {
  sub: "staff-1",
  tenant: "acme",
  scope: "metadata.write",
  permissions: ["CAN_MUTATE_METADATA"],
};

async function post(t: TestApp, body: unknown, headers: Record<string, string> = {}) {
  const response = await t.app.yoga.fetch("http://yoga/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await t.token(STAFF)}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

const readKey = (alias: string) =>
  `${alias}: metadataForKey(linkedObjectType: ACCOUNT, identifier: "A-1", key: "k") { key }`;
const codes = (body: { errors?: { extensions?: { code?: unknown } }[] }) =>
  (body.errors ?? []).map((e) => e.extensions?.code);

describe("query limits (graphql-armor)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(pglite, {
      GRAPHQL_MAX_DEPTH: "3",
      GRAPHQL_MAX_ALIASES: "3",
      GRAPHQL_MAX_DIRECTIVES: "2",
      GRAPHQL_MAX_TOKENS: "120",
      GRAPHQL_MAX_COST: "20",
    });
  });
  afterAll(() => t.close());

  it.each([
    ["maxDepth", `{ metadataList(linkedObjectType: ACCOUNT, identifier: "A-1") { edges { node { key } } } }`],
    ["maxAliases", `{ ${["a", "b", "c", "d"].map(readKey).join(" ")} }`],
    [
      "maxDirectives",
      `{ ${readKey("a").replace("{ key }", "{ key @include(if: true) @include(if: true) @skip(if: false) }")} }`,
    ],
    ["maxTokens", `{ ${readKey("a").replace("{ key }", `{ ${"key ".repeat(120)}}`)} }`],
    [
      "maxCost",
      `{ ${readKey("a").replace("{ key }", "{ key value version createdAt updatedAt expiresAt identifier namespace }")} ${readKey("b").replace("{ key }", "{ key value version createdAt updatedAt expiresAt identifier namespace }")} }`,
    ],
  ])("%s: refused with QUERY_TOO_COMPLEX and the limit's name, nothing executed", async (limit, query) => {
    const { body } = await post(t, { query });
    expect(body.data).toBeUndefined();
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit });
  });

  it("lets operations within every limit through", async () => {
    const { status, body } = await post(t, { query: `{ ${readKey("a")} ${readKey("b")} }` });
    expect(status).toBe(200);
    expect(codes(body)).toEqual(["NOT_FOUND", "NOT_FOUND"]);
  });
});

describe("default limits", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(pglite, { GRAPHQL_MAX_BATCH: "3", MAX_REQUEST_BODY_BYTES: "2000" });
  });
  afterAll(() => t.close());

  it("pass Kraken's operations and a full list page", async () => {
    const token = await t.token(STAFF);
    const input = { linkedObjectType: "ACCOUNT" as const, identifier: "A-1", key: "k", value: "{}" };
    expect(errorCodes(await t.execute({ document: UpdateMetadata, variables: { input }, token }))).toEqual([]);
    const read = await t.execute({
      document: GetMetadataForKey,
      variables: { linkedObjectType: "ACCOUNT", identifier: "A-1", key: "k" },
      token,
    });
    expect(read.body.data?.metadataForKey?.key).toBe("k");
    const list = await t.execute({
      document: ListMetadata,
      variables: { linkedObjectType: "ACCOUNT", identifier: "A-1", first: 500 },
      token,
    });
    expect(errorCodes(list)).toEqual([]);
    // graphql-armor counts a literal page size into the cost: the largest page, every field.
    const every = "key value jsonValue version createdAt updatedAt expiresAt identifier namespace linkedObjectType";
    const fullPage = await post(t, {
      query: `{ metadataList(linkedObjectType: ACCOUNT, identifier: "A-1", first: 500) {
        totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { ${every} } } } }`,
    });
    expect(fullPage.body.errors).toBeUndefined();
    expect(fullPage.body.data.metadataList.totalCount).toBe(1);
  });

  it("batches: up to GRAPHQL_MAX_BATCH operations in one request, more refused with a code", async () => {
    const operation = { query: `{ ${readKey("a").replace('"k"', '"missing"')} }` };
    const within = await post(t, [operation, operation, operation]);
    expect(within.status).toBe(200);
    expect(within.body.map(codes)).toEqual([["NOT_FOUND"], ["NOT_FOUND"], ["NOT_FOUND"]]);
    const over = await post(t, [operation, operation, operation, operation]);
    expect(over.status).toBe(413);
    expect(codes(over.body)).toEqual(["BAD_REQUEST"]);
  });

  it("refuses a body over MAX_REQUEST_BODY_BYTES with REQUEST_ENTITY_TOO_LARGE and writes nothing", async () => {
    const input = { linkedObjectType: "ACCOUNT", identifier: "A-2", key: "big", value: "x".repeat(3000) };
    const { status, body } = await post(t, { query: print(UpdateMetadata), variables: { input } });
    expect(status).toBe(413);
    expect(codes(body)).toEqual(["REQUEST_ENTITY_TOO_LARGE"]);
    const rows = await t.db.sql.query("SELECT 1 FROM metadata WHERE identifier = 'A-2'", []);
    expect(rows).toEqual([]);
  });
});

describe("introspection and field suggestions", () => {
  const introspect = { query: "{ __schema { queryType { name } } }" };
  const misspelled = { query: `{ metadataForKey(linkedObjectType: ACCOUNT, identifier: "A-1", key: "k") { kee } }` };

  it("are on outside production", async () => {
    const t = await createTestApp(pglite);
    try {
      expect((await post(t, introspect)).body.data).toEqual({ __schema: { queryType: { name: "Query" } } });
      expect((await post(t, misspelled)).body.errors[0].message).toMatch(/Did you mean "key"/);
    } finally {
      await t.close();
    }
  });

  it("are off in production, with GraphiQL, unless GRAPHQL_INTROSPECTION=true", async () => {
    const t = await createTestApp(pglite, { NODE_ENV: "production" });
    try {
      const refused = await post(t, introspect);
      expect(refused.body.data).toBeUndefined();
      expect(new Set(codes(refused.body))).toEqual(new Set(["GRAPHQL_VALIDATION_FAILED"]));
      const error = (await post(t, misspelled)).body.errors[0];
      expect(error.extensions.code).toBe("GRAPHQL_VALIDATION_FAILED");
      expect(error.message).not.toMatch(/Did you mean/);
      const page = await t.app.yoga.fetch("http://yoga/graphql", { headers: { accept: "text/html" } });
      expect(await page.text()).not.toMatch(/graphiql/i);
    } finally {
      await t.close();
    }
    const open = await createTestApp(pglite, { NODE_ENV: "production", GRAPHQL_INTROSPECTION: "true" });
    try {
      expect((await post(open, introspect)).body.data).toEqual({ __schema: { queryType: { name: "Query" } } });
    } finally {
      await open.close();
    }
  });
});

describe("persisted operations", () => {
  const query = `query Read { ${readKey("a")} }`;
  const id = createHash("sha256").update(query).digest("hex");
  let file: string;
  beforeAll(async () => {
    file = join(await mkdtemp(join(tmpdir(), "mg-persisted-")), "persisted-documents.json");
    await writeFile(file, JSON.stringify({ [id]: query }));
  });

  it("runs a persisted operation by its id, and still any other (PERSISTED_OPERATIONS_FILE)", async () => {
    const t = await createTestApp(pglite, { PERSISTED_OPERATIONS_FILE: file });
    try {
      const byHash = await post(t, { extensions: { persistedQuery: { version: 1, sha256Hash: id } } });
      expect(codes(byHash.body)).toEqual(["NOT_FOUND"]);
      expect(byHash.body.errors[0].path).toEqual(["a"]);
      const unknown = { extensions: { persistedQuery: { version: 1, sha256Hash: "0".repeat(64) } } };
      expect(codes((await post(t, unknown)).body)).toEqual(["PERSISTED_QUERY_NOT_IN_LIST"]);
      expect(codes((await post(t, { query: `{ ${readKey("b")} }` })).body)).toEqual(["NOT_FOUND"]);
    } finally {
      await t.close();
    }
  });

  it("refuses every other operation with PERSISTED_OPERATIONS_ONLY=true", async () => {
    const t = await createTestApp(pglite, { PERSISTED_OPERATIONS_FILE: file, PERSISTED_OPERATIONS_ONLY: "true" });
    try {
      const byHash = { extensions: { persistedQuery: { version: 1, sha256Hash: id } } };
      expect(codes((await post(t, byHash)).body)).toEqual(["NOT_FOUND"]);
      expect(codes((await post(t, { query: `{ ${readKey("b")} }` })).body)).toEqual(["CANNOT_SEND_PQ_ID_AND_BODY"]);
    } finally {
      await t.close();
    }
  });

  it("refuses a configuration that cannot work", async () => {
    expect(() => loadConfig({ JWT_SECRET: TEST_SECRET, PERSISTED_OPERATIONS_ONLY: "true" })).toThrow(
      /PERSISTED_OPERATIONS_ONLY=true needs PERSISTED_OPERATIONS_FILE/,
    );
    const t = createTestApp(pglite, { PERSISTED_OPERATIONS_FILE: join(tmpdir(), "does-not-exist.json") });
    await expect(t).rejects.toThrow(/PERSISTED_OPERATIONS_FILE/);
  });
});
