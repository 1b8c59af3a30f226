import { builder } from "../../graphql/builder.js";
import { LinkedObjectTypeEnum, MetadataRef } from "./metadata.schema.js";
import { MAX_PAGE_SIZE } from "./metadata.service.js";

builder.queryFields((t) => ({
  metadataSearch: t.connection({
    type: MetadataRef,
    description:
      "The linked objects of one type whose entry for `key` (in one namespace) matches: exactly one of valueEquals " +
      "or jsonContains. One result per object (its matching entry), ordered by identifier, among the objects the " +
      `caller reaches; cursor pagination (max ${MAX_PAGE_SIZE}).`,
    args: {
      linkedObjectType: t.arg({ type: LinkedObjectTypeEnum, required: true }),
      key: t.arg.string({ required: true }),
      namespace: t.arg.string({
        description: "Omitted = the default namespace; a name; or `$app`, the calling client's own namespace.",
      }),
      valueEquals: t.arg.string({ description: "The value is exactly this text." }),
      jsonContains: t.arg({
        type: "JSON",
        description:
          "The value is JSON that contains this (PostgreSQL's `@>`): an object matches the values holding at " +
          'least its members, e.g. {"plan": "pro"}; a scalar matches an equal value or an element of an array value. ' +
          "Values that are not JSON never match.",
      }),
    },
    resolve: (_root, args, ctx) => ctx.services.metadata.searchEntries(ctx.principal, args),
  }),
}));
