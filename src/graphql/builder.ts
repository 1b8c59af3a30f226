import SchemaBuilder from "@pothos/core";
import RelayPlugin from "@pothos/plugin-relay";
import { DateTimeResolver, JSONResolver, SafeIntResolver } from "graphql-scalars";
import type { Principal } from "../auth/principal.js";
import type { Services } from "../services.js";

export interface GraphQLContext {
  /** The verified caller; null when no Authorization header was sent. */
  principal: Principal | null;
  services: Services;
}

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    SafeInt: { Input: number; Output: number };
  };
  Connection: { totalCount: number };
  DefaultFieldNullability: false;
}>({
  plugins: [RelayPlugin],
  defaultFieldNullability: false,
  relay: {
    // No global object identification: entries are addressed by object, namespace and key.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
});

builder.addScalarType("DateTime", DateTimeResolver);
builder.addScalarType("JSON", JSONResolver);
// Sequences: a JSON number every client parses exactly (below 2^53), unlike Int (32 bits) or a
// BigInt scalar that needs string handling or a JSON extension in JavaScript clients.
builder.addScalarType("SafeInt", SafeIntResolver);

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

builder.globalConnectionField("totalCount", (t) =>
  t.int({
    description: "Live entries matching the filters, across all pages.",
    resolve: (parent) => parent.totalCount,
  }),
);
