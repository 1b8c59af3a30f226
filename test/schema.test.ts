import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { printedSchema, schema } from "../src/graphql/schema.js";

describe("schema.graphql", () => {
  it("matches the schema the code builds (run `npm run schema:print` after a deliberate change)", () => {
    const committed = readFileSync(new URL("../schema.graphql", import.meta.url), "utf8");
    expect(printedSchema(), "schema.graphql is stale: run `npm run schema:print` and review the diff").toBe(committed);
  });

  it("keeps Kraken's published names and argument types", () => {
    const signature = (type: "Query" | "Mutation", name: string) => {
      const field = (type === "Query" ? schema.getQueryType() : schema.getMutationType())?.getFields()[name];
      return `${name}(${field?.args.map((a) => `${a.name}: ${a.type}`).join(", ")}): ${field?.type}`;
    };
    expect(signature("Mutation", "updateMetadata")).toBe("updateMetadata(input: MetadataInput!): UpdateMetadata!");
    expect(signature("Query", "metadata")).toBe(
      "metadata(identifier: String!, linkedObjectType: LinkedObjectType, namespace: String): [Metadata!]!",
    );
    expect(signature("Query", "metadataForKey")).toBe(
      "metadataForKey(identifier: String!, key: String!, linkedObjectType: LinkedObjectType, namespace: String): Metadata",
    );
  });
});
