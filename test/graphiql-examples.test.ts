import { parse, validate } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devTokenClaims } from "../src/auth/mint.js";
import {
  GRAPHIQL_EXAMPLES,
  graphiqlOptions,
  KRAKEN_UPDATE_METADATA,
  KRAKEN_UPDATE_METADATA_VARIABLES,
} from "../src/graphql/graphiql-examples.js";
import { schema } from "../src/graphql/schema.js";
import { createTestApp, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";

// GraphiQL's example tabs are documentation that runs: each must stay valid against the schema and
// work, in order, for the dev token's staff caller. (test/graphiql.browser.test.ts clicks the first.)

describe("GraphiQL example tabs", () => {
  it("open with Kraken's mutation and variables, then metadata, metadataForKey and a paged metadataList", () => {
    const tabs = graphiqlOptions("the.dev.token").defaultTabs ?? [];
    expect(tabs.map((t) => /^(query|mutation) (\w+)/m.exec(t.query ?? "")?.[2])).toEqual([
      "updateMetadata",
      "Metadata",
      "MetadataForKey",
      "MetadataList",
    ]);
    expect(tabs[0]?.query).toBe(KRAKEN_UPDATE_METADATA);
    expect(JSON.parse(tabs[0]?.variables ?? "")).toEqual({
      input: {
        linkedObjectType: "ACCOUNT",
        identifier: "A-154321",
        key: "some_unique_key",
        value: '{"pet_type": "dog", "name": "fang"}',
      },
    });
    expect(tabs[3]?.query).toMatch(/first: \$first, after: \$after/);
    expect(JSON.parse(tabs[3]?.variables ?? "")).toMatchObject({ first: 10, after: null });
  });

  it("carry the dev token in every tab and in new tabs; no headers at all without one", () => {
    const withToken = graphiqlOptions("the.dev.token");
    const header = JSON.stringify({ Authorization: "Bearer the.dev.token" }, null, 2);
    expect(withToken.headers).toBe(header);
    expect(withToken.defaultTabs?.map((t) => t.headers)).toEqual([header, header, header, header]);
    const without = graphiqlOptions(undefined);
    expect(without.headers).toBeUndefined();
    expect(without.defaultTabs?.map((t) => t.headers)).toEqual([null, null, null, null]);
  });

  it("are valid against the schema", () => {
    for (const { query } of GRAPHIQL_EXAMPLES) {
      expect(validate(schema, parse(query)).map((e) => e.message)).toEqual([]);
    }
  });
});

describe.each(backends)("GraphiQL example tabs run on $name", (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(backend);
  });
  afterAll(() => t.close());

  it("in order, as the dev token's staff caller: the mutation's entry is what the queries return", async () => {
    const token = await t.token(devTokenClaims());
    const results = [];
    for (const { query, variables } of GRAPHIQL_EXAMPLES) {
      const result = await t.execute({ document: query, variables, token });
      expect(result.body.errors, JSON.stringify(result.body.errors)).toBeUndefined();
      results.push(result.body.data);
    }
    const entry = { key: "some_unique_key", value: KRAKEN_UPDATE_METADATA_VARIABLES.input.value };
    expect(results[0]).toEqual({ updateMetadata: { metadata: entry } });
    expect(results[1]).toEqual({ metadata: [entry] });
    expect(results[2]).toEqual({ metadataForKey: entry });
    expect(results[3]).toMatchObject({
      metadataList: {
        totalCount: 1,
        edges: [{ node: { ...entry, version: 1 } }],
        pageInfo: { hasNextPage: false },
      },
    });
  });
});
