import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QueryEvent } from "../src/db/database.js";
import { type SqlArg, toDriverArg } from "../src/db/sql.js";
import { createTestApp, type TestApp } from "./support/app.js";
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
  ListMetadataFiltered,
  MetadataHistory,
  RemoveMetadataDefinition,
  SearchMetadata,
  SetMetadata,
  UpdateMetadata,
} from "./support/operations.js";

// Every statement the service sends must be index-backed: with enough rows for the planner to
// care, no sequential scan of the table and no sort of it. Sorting the rows of one object found
// through the index is fine: they are at most METADATA_MAX_KEYS_PER_OBJECT; so is a containment
// search sorting its matches by identifier (see sortsBeyondOneObject). Statements are captured from Prisma's
// query events while real requests run, then EXPLAINed with their own parameters.

const IDENTIFIERS = 2000;
const KEYS_PER_IDENTIFIER = 10;

describe.each(backends)("query plans on $name", (backend) => {
  let t: TestApp;
  let staff: string;
  const statements: QueryEvent[] = [];

  beforeAll(async () => {
    t = await createTestApp(backend, {}, { onQuery: (e) => statements.push(e) });
    staff = await t.token({ sub: "s", tenant: "t1", scope: "metadata.write", permissions: ["CAN_MUTATE_METADATA"] });
    await t.db.withConnection((exec) =>
      exec(`INSERT INTO metadata (tenant, linked_object_type, identifier, namespace, key, value, expires_at)
            SELECT 't' || (i % 3), 'ACCOUNT', 'A-' || (i / ${KEYS_PER_IDENTIFIER}), '', 'pref.theme.' || (i % ${KEYS_PER_IDENTIFIER}),
                   '{"v":' || i || '}', CASE WHEN i % 50 = 0 THEN now() + interval '1 day' END
            FROM generate_series(1, ${IDENTIFIERS * KEYS_PER_IDENTIFIER}) AS i;
            INSERT INTO metadata_event (tenant, linked_object_type, identifier, namespace, key, operation, old_version,
                                        new_version, value, actor, occurred_at)
            SELECT 't' || (i % 3), 'ACCOUNT', 'A-' || (i / ${KEYS_PER_IDENTIFIER}), '', 'pref.theme.' || (i % ${KEYS_PER_IDENTIFIER}),
                   'UPDATED', 1, 2, 'x', 's', now() - (i || ' minutes')::interval
            FROM generate_series(1, ${IDENTIFIERS * KEYS_PER_IDENTIFIER}) AS i;
            INSERT INTO metadata_definition (tenant, namespace, key, title, type)
            SELECT 'd' || (i % 500), '', 'def.' || i, '{"en":"x"}', 'STRING' FROM generate_series(1, 20000) AS i;
            ANALYZE metadata;
            ANALYZE metadata_definition;
            ANALYZE metadata_event;`),
    );
  });
  afterAll(() => t.close());

  it("uses an index for every statement of every operation", async () => {
    const object = { linkedObjectType: "ACCOUNT" as const, identifier: "A-42" };
    const run = async <R, V>(request: { document: TypedDocumentNode<R, V>; variables: V }) => {
      const result = await t.execute({ ...request, token: staff });
      expect((result.body.errors ?? []).filter((e) => e.extensions?.code === "INTERNAL_SERVER_ERROR")).toEqual([]);
    };
    const input = { ...object, key: "pref.theme.1", value: "x" };
    await run({ document: UpdateMetadata, variables: { input } });
    await run({ document: UpdateMetadata, variables: { input: { ...input, expectedVersion: 99 } } });
    await run({ document: GetMetadataForKey, variables: { ...object, key: "pref.theme.1" } });
    await run({ document: GetMetadata, variables: object });
    await run({ document: ListMetadata, variables: { ...object, keyPrefix: "pref.", first: 5 } });
    await run({ document: ListMetadata, variables: { ...object, last: 5 } });
    const listed = (
      await t.execute({
        document: ListMetadataFiltered,
        variables: { ...object, orderBy: { field: "UPDATED_AT", direction: "DESC" }, first: 2 },
        token: staff,
      })
    ).body.data?.metadataList;
    expect(listed?.edges).toHaveLength(2);
    await run({
      document: ListMetadataFiltered,
      variables: {
        ...object,
        orderBy: { field: "UPDATED_AT", direction: "DESC" },
        first: 2,
        after: listed?.pageInfo.endCursor,
        keys: ["pref.theme.1", "pref.theme.2", "pref.theme.3"],
        updatedAfter: "2000-01-01T00:00:00Z",
      },
    });
    await run({
      document: ListMetadataFiltered,
      variables: {
        ...object,
        orderBy: { field: "CREATED_AT" },
        last: 2,
        keyPrefix: "pref.",
        createdBefore: "2999-01-01T00:00:00Z",
      },
    });
    // Searches: exact text and containment (object and scalar), for staff (the whole tenant) and
    // for a user (its accounts), and a second page.
    const search = { linkedObjectType: "ACCOUNT" as const, key: "pref.theme.3" };
    const user = await t.token({ sub: "u", tenant: "t1", scope: "metadata.read", accounts: ["A-42", "A-43", "A-7"] });
    for (const token of [staff, user]) {
      for (const match of [{ valueEquals: '{"v":33}' }, { jsonContains: { v: 33 } }, { jsonContains: 33 }]) {
        const result = await t.execute({
          document: SearchMetadata,
          variables: { ...search, ...match, first: 5 },
          token,
        });
        expect(result.body.errors).toBeUndefined();
      }
    }
    for (const identifier of ["A-1", "A-2", "A-3", "A-4", "A-5"]) {
      const input = { linkedObjectType: "ACCOUNT" as const, identifier, key: search.key, value: '{"plan":"pro"}' };
      await run({ document: UpdateMetadata, variables: { input } });
    }
    const firstPage = await t.execute({
      document: SearchMetadata,
      variables: { ...search, jsonContains: { plan: "pro" }, first: 3 },
      token: staff,
    });
    const searchAfter = firstPage.body.data?.metadataSearch.pageInfo.endCursor;
    expect(searchAfter).toBeTruthy();
    await run({
      document: SearchMetadata,
      variables: { ...search, jsonContains: { plan: "pro" }, first: 3, after: searchAfter },
    });
    await run({
      document: SearchMetadata,
      variables: { ...search, valueEquals: '{"v":33}', last: 3, before: searchAfter },
    });
    await run({ document: DeleteMetadata, variables: { input: { ...object, key: "pref.theme.1" } } });
    const entries = [
      { key: "pref.theme.2", value: "y", expectedVersion: 1 },
      { key: "pref.batch.1", value: "z" },
    ];
    await run({ document: SetMetadata, variables: { input: { ...object, entries } } });
    await run({ document: SetMetadata, variables: { input: { ...object, entries, mode: "REPLACE" } } });
    await run({ document: DeleteMetadataKeys, variables: { input: { ...object, keys: ["pref.theme.2", "pref.x"] } } });
    await run({ document: MetadataHistory, variables: { ...object, key: "pref.theme.2", first: 5 } });
    const page = await t.execute({ document: MetadataHistory, variables: { ...object, first: 1 }, token: staff });
    const historyAfter = page.body.data?.metadataHistory.pageInfo.endCursor;
    expect(historyAfter).toBeTruthy();
    await run({ document: MetadataHistory, variables: { ...object, first: 5, after: historyAfter } });
    await t.app.services.metadata.purgeExpired();
    await t.app.services.metadata.pruneHistory();
    // Definitions: the upsert (create, then replace, then a failed compare-and-set and its version
    // read), the tenant's load (by Metadata.definition and the listing), the removal; each notifies.
    const definition = {
      key: "pref.theme.3",
      linkedObjectTypes: ["ACCOUNT" as const],
      title: { en: "Theme" },
      type: "STRING" as const,
    };
    await run({ document: DefineMetadata, variables: { input: definition } });
    await run({ document: DefineMetadata, variables: { input: { ...definition, pattern: "^[a-z]+$" } } });
    await run({ document: DefineMetadata, variables: { input: { ...definition, expectedVersion: 9 } } });
    await run({ document: GetMetadataWithDefinitions, variables: object });
    await run({ document: ListMetadataDefinitions, variables: { first: 5 } });
    await run({ document: RemoveMetadataDefinition, variables: { input: { key: "pref.theme.3" } } });

    const writes = statements.filter((s) => /^\s*(WITH|INSERT|DELETE)/i.test(s.query));
    expect(writes.length).toBeGreaterThanOrEqual(3);
    // The batches' own statements were captured too (set-based upsert, REPLACE's delete, the multi-key delete).
    expect(statements.filter((s) => /unnest\(/.test(s.query)).length).toBeGreaterThanOrEqual(2);
    expect(statements.filter((s) => /ALL\(\$6::text\[\]\)/.test(s.query)).length).toBeGreaterThanOrEqual(1);
    expect(statements.filter((s) => /ANY\(\$6::text\[\]\)/.test(s.query)).length).toBeGreaterThanOrEqual(1);
    // The history's statements: the page (one key, every key, after a cursor), the purge and the prune.
    expect(statements.filter((s) => /FROM metadata_event WHERE/.test(s.query)).length).toBeGreaterThanOrEqual(3);
    expect(statements.filter((s) => /'EXPIRED'/.test(s.query)).length).toBeGreaterThanOrEqual(1);
    expect(statements.filter((s) => /DELETE FROM metadata_event/.test(s.query)).length).toBeGreaterThanOrEqual(1);
    // The new list variants and both kinds of search were captured.
    expect(statements.filter((s) => /ORDER BY updated_at DESC, key DESC/.test(s.query)).length).toBeGreaterThanOrEqual(
      2,
    );
    expect(statements.filter((s) => /md5\(value\) = md5/.test(s.query)).length).toBeGreaterThanOrEqual(2);
    expect(statements.filter((s) => /metadata_search_doc/.test(s.query)).length).toBeGreaterThanOrEqual(4);
    // Every definitions statement: upsert, version read, the tenant's load, delete, and the notification.
    for (const shape of [
      /INSERT INTO metadata_definition/,
      /SELECT version FROM metadata_definition/,
      /FROM metadata_definition WHERE tenant = \$1$/,
      /DELETE FROM metadata_definition/,
      /pg_notify/,
    ]) {
      expect(
        statements.some((s) => shape.test(s.query)),
        String(shape),
      ).toBe(true);
    }
    for (const statement of statements) {
      const plan = await explain(t, statement);
      if (process.env.SHOW_PLANS) console.log(`${statement.query}\n${plan}\n`);
      expect(plan, `${statement.query}\n${plan}`).not.toMatch(/Seq Scan on metadata/);
      expect(sortsBeyondOneObject(plan), `${statement.query}\n${plan}`).toBe(false);
    }
  });
});

/**
 * Whether a Sort sorts more than a bounded set: allowed are sorts whose input is found through the
 * unique index on one object (at most METADATA_MAX_KEYS_PER_OBJECT rows) or on a user's few objects,
 * the containment search's sort of its own matches (a GIN index cannot return rows in
 * identifier order; the matches are what the caller asked for, not the table), read directly or
 * from the search's CTE, and a write's sort of its own entries (an `unnest` of its parameters alone).
 */
function sortsBeyondOneObject(plan: string): boolean {
  const bounded = (text: string) =>
    /Index Cond: \(\(tenant = .*\(linked_object_type = .*\(identifier = /.test(text) ||
    /Bitmap Index Scan on metadata_search_json_idx/.test(text) ||
    (/^\s*->\s+Function Scan on /m.test(text) && !/^\s*->\s+(?!Function Scan on )\S/m.test(text));
  const lines = plan.split("\n");
  /** The lines of the node at `i` and everything below it (indented deeper). */
  const subtree = (i: number) => {
    const depth = lines[i]?.search(/\S/) ?? 0;
    const end = lines.findIndex((l, j) => j > i && l.search(/\S/) <= depth);
    return lines.slice(i + 1, end === -1 ? undefined : end).join("\n");
  };
  const searchCte = lines.findIndex((l) => /^\s*CTE search_matches$/.test(l));
  return lines.some((line, i) => {
    if (!/^\s*(->\s+)?Sort {2}\(/.test(line)) return false;
    const input = subtree(i);
    if (bounded(input)) return false;
    return !(/CTE Scan on search_matches/.test(input) && searchCte !== -1 && bounded(subtree(searchCte)));
  });
}

/** EXPLAIN a captured statement with its parameters, through PREPARE/EXECUTE (nothing runs). */
async function explain(t: TestApp, { query, params }: QueryEvent): Promise<string> {
  // As the runners send them: an array parameter becomes PostgreSQL's array literal.
  const values = (JSON.parse(params) as SqlArg[]).map((v) => {
    const arg = toDriverArg(v);
    return arg === null ? "NULL" : `'${String(arg).replaceAll("'", "''")}'`;
  });
  return t.db.withConnection(async (exec) => {
    await exec(`PREPARE plan_probe AS ${query}`);
    try {
      const rows = (await exec(`EXPLAIN EXECUTE plan_probe${values.length ? `(${values.join(", ")})` : ""}`)) as {
        "QUERY PLAN": string;
      }[];
      return rows.map((r) => r["QUERY PLAN"]).join("\n");
    } finally {
      await exec("DEALLOCATE plan_probe");
    }
  });
}
