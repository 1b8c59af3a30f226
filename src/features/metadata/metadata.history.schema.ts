import { builder } from "../../graphql/builder.js";
import { LinkedObjectTypeEnum, MetadataOperationEnum, namespaceDescription } from "./metadata.schema.js";
import { type HistoryEvent, type HistoryPage, MAX_PAGE_SIZE } from "./metadata.service.js";

const MetadataEventRef = builder.objectRef<HistoryEvent>("MetadataEvent").implement({
  description: "One change of an entry, recorded in the same transaction as the change.",
  fields: (t) => ({
    sequence: t.expose("sequence", {
      type: "SafeInt",
      description:
        "Increasing across all changes (one global sequence), not gapless; concurrent transactions may commit out of order.",
    }),
    operation: t.field({ type: MetadataOperationEnum, resolve: (event) => event.operation }),
    key: t.exposeString("key"),
    namespace: t.exposeString("namespace", { nullable: true, description: namespaceDescription }),
    linkedObjectType: t.field({ type: LinkedObjectTypeEnum, resolve: (event) => event.linkedObjectType }),
    identifier: t.exposeString("identifier"),
    oldVersion: t.exposeInt("oldVersion", {
      description: "0 when the entry was absent (created, or written after it expired).",
    }),
    newVersion: t.exposeInt("newVersion", { nullable: true, description: "Null for DELETED and EXPIRED." }),
    value: t.exposeString("value", { nullable: true, description: "The new value; null for DELETED and EXPIRED." }),
    actor: t.exposeString("actor", {
      nullable: true,
      description: "The token's `sub`, or its client id for a client-credentials token; null for the expiry job.",
    }),
    occurredAt: t.expose("occurredAt", {
      type: "DateTime",
      description: "When it happened; for EXPIRED, the entry's expiresAt.",
    }),
    resourceOwner: t.exposeString("resourceOwner", { description: "The tenant that owns the entry." }),
  }),
});

const MetadataEventEdge = builder.objectRef<HistoryPage["edges"][number]>("MetadataEventEdge").implement({
  fields: (t) => ({
    cursor: t.exposeString("cursor"),
    node: t.expose("node", { type: MetadataEventRef }),
  }),
});

// Not a t.connection: history pages only forward (newest first, `first`/`after`), and counting an
// object's whole history for `totalCount` would cost every page a scan of it.
const MetadataHistoryConnection = builder.objectRef<HistoryPage>("MetadataHistoryConnection").implement({
  fields: (t) => ({
    edges: t.expose("edges", { type: [MetadataEventEdge] }),
    pageInfo: t.expose("pageInfo", { type: builder.pageInfoRef() }),
  }),
});

builder.queryFields((t) => ({
  metadataHistory: t.field({
    type: MetadataHistoryConnection,
    description:
      `Changes of an object's namespace, newest first, with cursor pagination (max ${MAX_PAGE_SIZE}): one key's, ` +
      "or every key's when key is omitted. Readable by whoever may read the namespace.",
    args: {
      linkedObjectType: t.arg({ type: LinkedObjectTypeEnum, required: true }),
      identifier: t.arg.string({ required: true }),
      key: t.arg.string({ description: "Only this key's changes; omitted = every key of the namespace." }),
      namespace: t.arg.string({ description: namespaceDescription }),
      first: t.arg.int({ description: `Events per page, 0-${MAX_PAGE_SIZE}; default 50.` }),
      after: t.arg.string({ description: "An endCursor: the events older than it." }),
    },
    resolve: (_root, { first, after, ...ref }, ctx) =>
      ctx.services.metadata.listHistory(ctx.principal, ref, { first, after }),
  }),
}));
