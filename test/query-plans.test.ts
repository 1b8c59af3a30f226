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
  RemoveMetadataDefinition,
  SetMetadata,
  UpdateMetadata,
} from "./support/operations.js";

// Every statement the service sends must be index-backed: with enough rows for the planner to
// care, no sequential scan of the table and no sort of it. Sorting the rows of one object found
// through the index is fine: they are at most METADATA_MAX_KEYS_PER_OBJECT. Statements are captured from Prisma's
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
            INSERT INTO metadata_definition (tenant, namespace, key, title, type)
            SELECT 'd' || (i % 500), '', 'def.' || i, '{"en":"x"}', 'STRING' FROM generate_series(1, 20000) AS i;
            ANALYZE metadata;
            ANALYZE metadata_definition;`),
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
    await run({ document: DeleteMetadata, variables: { input: { ...object, key: "pref.theme.1" } } });
    const entries = [
      { key: "pref.theme.2", value: "y", expectedVersion: 1 },
      { key: "pref.batch.1", value: "z" },
    ];
    await run({ document: SetMetadata, variables: { input: { ...object, entries } } });
    await run({ document: SetMetadata, variables: { input: { ...object, entries, mode: "REPLACE" } } });
    await run({ document: DeleteMetadataKeys, variables: { input: { ...object, keys: ["pref.theme.2", "pref.x"] } } });
    await t.app.services.metadata.purgeExpired();
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

    const writes = statements.filter((s) => /^\s*(INSERT|DELETE)/i.test(s.query));
    expect(writes.length).toBeGreaterThanOrEqual(3);
    // The batches' own statements were captured too (set-based upsert, REPLACE's delete, the multi-key delete).
    expect(statements.filter((s) => /unnest\(/.test(s.query)).length).toBeGreaterThanOrEqual(2);
    expect(statements.filter((s) => /ALL\(\$6::text\[\]\)/.test(s.query)).length).toBeGreaterThanOrEqual(1);
    expect(statements.filter((s) => /ANY\(\$6::text\[\]\)/.test(s.query)).length).toBeGreaterThanOrEqual(1);
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

function sortsBeyondOneObject(plan: string): boolean {
  const oneObject = /Index Cond: \(\(tenant = .*\(linked_object_type = .*\(identifier = /;
  return /\bSort\b/.test(plan) && !oneObject.test(plan);
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
