import { LINKED_OBJECT_TYPES } from "../../auth/policy.js";
import { DomainError } from "../../errors.js";
import { builder } from "../../graphql/builder.js";
import { BATCH_MODES } from "./metadata.batch.js";
import type { MetadataChange } from "./metadata.changes.js";
import { ORDER_DIRECTIONS, ORDER_FIELDS } from "./metadata.cursor.js";
import { EVENT_OPERATIONS } from "./metadata.events.js";
import { type MetadataEntry, parseJsonValue, type SetEntriesResult } from "./metadata.service.js";
import { MAX_BATCH_SIZE } from "./metadata.validation.js";

// Names and argument types of updateMetadata, metadata and metadataForKey are Kraken's published
// API: Kraken clients run against us unchanged. Extend freely; never rename.

export const LinkedObjectTypeEnum = builder.enumType("LinkedObjectType", {
  description: "The kind of object an entry is attached to.",
  values: LINKED_OBJECT_TYPES,
});

export const namespaceDescription =
  "Visibility level: omitted = default namespace (the user's own); a name like `billing` = readable by the user, " +
  "written by staff; `$app` = the calling OAuth client's private namespace.";

export const MetadataRef = builder.objectRef<MetadataEntry>("Metadata").implement({
  description: "One key/value entry attached to a linked object.",
  fields: (t) => ({
    key: t.exposeString("key"),
    value: t.exposeString("value", { description: "The value exactly as written (opaque text)." }),
    jsonValue: t.field({
      type: "JSON",
      nullable: true,
      description: "`value` parsed as JSON, or null when it is not valid JSON.",
      resolve: (entry) => parseJsonValue(entry.value),
    }),
    namespace: t.exposeString("namespace", { nullable: true, description: namespaceDescription }),
    linkedObjectType: t.field({ type: LinkedObjectTypeEnum, resolve: (entry) => entry.linkedObjectType }),
    identifier: t.exposeString("identifier"),
    version: t.exposeInt("version", { description: "1 on create, +1 on every update." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    expiresAt: t.expose("expiresAt", { type: "DateTime", nullable: true }),
    sequence: t.expose("sequence", {
      type: "SafeInt",
      description: "The sequence of the entry's last change: its newest metadataHistory event's.",
    }),
    resourceOwner: t.exposeString("resourceOwner", { description: "The tenant that owns the entry." }),
  }),
});

const keyDescription = "1-255 characters of a-z, A-Z, 0-9, '.', '_', '-'.";
const expiresAtDescription = "Must be in the future; the entry vanishes then.";
const expectedVersionDescription =
  "Compare-and-set: write only if the current version is this (0 = must not exist yet).";

const MetadataInput = builder.inputType("MetadataInput", {
  fields: (t) => ({
    linkedObjectType: t.field({ type: LinkedObjectTypeEnum, required: true }),
    identifier: t.string({ required: true }),
    key: t.string({ required: true, description: keyDescription }),
    value: t.string({ required: true }),
    namespace: t.string({ description: namespaceDescription }),
    expiresAt: t.field({ type: "DateTime", description: expiresAtDescription }),
    expectedVersion: t.int({ description: expectedVersionDescription }),
  }),
});

const SetMetadataModeEnum = builder.enumType("SetMetadataMode", {
  description: "What setMetadata does with the namespace's keys that are not in the batch.",
  values: BATCH_MODES,
});

const SetMetadataEntryInput = builder.inputType("SetMetadataEntryInput", {
  fields: (t) => ({
    key: t.string({ required: true, description: `${keyDescription} Unique within the batch.` }),
    value: t.string({ required: true }),
    expiresAt: t.field({ type: "DateTime", description: expiresAtDescription }),
    expectedVersion: t.int({ description: expectedVersionDescription }),
  }),
});

const SetMetadataInput = builder.inputType("SetMetadataInput", {
  fields: (t) => ({
    linkedObjectType: t.field({ type: LinkedObjectTypeEnum, required: true }),
    identifier: t.string({ required: true }),
    namespace: t.string({ description: namespaceDescription }),
    entries: t.field({ type: [SetMetadataEntryInput], required: true, description: `1-${MAX_BATCH_SIZE} entries.` }),
    mode: t.field({ type: SetMetadataModeEnum, required: true, defaultValue: "MERGE" }),
  }),
});

const DeleteMetadataKeysInput = builder.inputType("DeleteMetadataKeysInput", {
  fields: (t) => ({
    linkedObjectType: t.field({ type: LinkedObjectTypeEnum, required: true }),
    identifier: t.string({ required: true }),
    namespace: t.string({ description: namespaceDescription }),
    keys: t.stringList({ required: true, description: `1-${MAX_BATCH_SIZE} distinct keys.` }),
  }),
});

const DeleteMetadataInput = builder.inputType("DeleteMetadataInput", {
  fields: (t) => ({
    linkedObjectType: t.field({ type: LinkedObjectTypeEnum, required: true }),
    identifier: t.string({ required: true }),
    key: t.string({ required: true }),
    namespace: t.string({ description: namespaceDescription }),
    expectedVersion: t.int({ description: "Delete only if the current version is this." }),
  }),
});

const MetadataOrderFieldEnum = builder.enumType("MetadataOrderField", {
  description: "What metadataList orders by; entries sharing a timestamp are ordered by key.",
  values: ORDER_FIELDS,
});

const OrderDirectionEnum = builder.enumType("OrderDirection", { values: ORDER_DIRECTIONS });

const MetadataOrder = builder.inputType("MetadataOrder", {
  description: "A cursor is valid only with the orderBy it was returned for (BAD_USER_INPUT otherwise).",
  fields: (t) => ({
    field: t.field({ type: MetadataOrderFieldEnum, required: true, defaultValue: "KEY" }),
    direction: t.field({ type: OrderDirectionEnum, required: true, defaultValue: "ASC" }),
  }),
});

const UpdateMetadata = builder.objectRef<{ metadata: MetadataEntry }>("UpdateMetadata").implement({
  fields: (t) => ({ metadata: t.expose("metadata", { type: MetadataRef }) }),
});

const DeleteMetadata = builder.objectRef<{ metadata: MetadataEntry }>("DeleteMetadata").implement({
  fields: (t) => ({
    metadata: t.expose("metadata", { type: MetadataRef, description: "The entry as it was before deletion." }),
  }),
});

const SetMetadata = builder.objectRef<SetEntriesResult>("SetMetadata").implement({
  fields: (t) => ({
    metadata: t.expose("entries", {
      type: [MetadataRef],
      description: "The entries as written, in the order of the input.",
    }),
    removedKeys: t.exposeStringList("removedKeys", {
      description: "REPLACE: the namespace's keys the batch removed, sorted; MERGE: empty.",
    }),
  }),
});

const DeleteMetadataKeys = builder.objectRef<{ metadata: MetadataEntry[] }>("DeleteMetadataKeys").implement({
  fields: (t) => ({
    metadata: t.expose("metadata", {
      type: [MetadataRef],
      description: "The removed entries as they were, in the order of the input's keys.",
    }),
    removedKeys: t.stringList({
      description: "The removed keys, in the order of the input; keys that had no entry are not among them.",
      resolve: ({ metadata }) => metadata.map((entry) => entry.key),
    }),
  }),
});

builder.queryFields((t) => ({
  metadata: t.field({
    type: [MetadataRef],
    description: "All live entries of an object in one namespace, ordered by key.",
    args: {
      identifier: t.arg.string({ required: true }),
      linkedObjectType: t.arg({ type: LinkedObjectTypeEnum, description: "Defaults to ACCOUNT, as in Kraken." }),
      namespace: t.arg.string({ description: namespaceDescription }),
    },
    resolve: (_root, args, ctx) => ctx.services.metadata.getEntries(ctx.principal, args),
  }),
  metadataForKey: t.field({
    type: MetadataRef,
    nullable: true,
    description: "One live entry; a NOT_FOUND error when it does not exist.",
    args: {
      identifier: t.arg.string({ required: true }),
      key: t.arg.string({ required: true }),
      linkedObjectType: t.arg({ type: LinkedObjectTypeEnum, description: "Defaults to ACCOUNT, as in Kraken." }),
      namespace: t.arg.string({ description: namespaceDescription }),
    },
    resolve: (_root, args, ctx) => ctx.services.metadata.getEntry(ctx.principal, args),
  }),
  metadataList: t.connection({
    type: MetadataRef,
    description:
      "Live entries of an object in one namespace, ordered by key unless orderBy says otherwise, with cursor " +
      "pagination (max 500). Filters combine (AND); totalCount counts every entry they let through.",
    args: {
      linkedObjectType: t.arg({ type: LinkedObjectTypeEnum, required: true }),
      identifier: t.arg.string({ required: true }),
      namespace: t.arg.string({ description: namespaceDescription }),
      keyPrefix: t.arg.string({ description: "Only keys starting with this." }),
      keys: t.arg.stringList({ description: `Only these keys: 1-${MAX_BATCH_SIZE} distinct keys.` }),
      createdAfter: t.arg({ type: "DateTime", description: "Only entries created strictly after this." }),
      createdBefore: t.arg({ type: "DateTime", description: "Only entries created strictly before this." }),
      updatedAfter: t.arg({ type: "DateTime", description: "Only entries last written strictly after this." }),
      updatedBefore: t.arg({ type: "DateTime", description: "Only entries last written strictly before this." }),
      orderBy: t.arg({ type: MetadataOrder, description: "Defaults to {field: KEY, direction: ASC}." }),
    },
    resolve: (_root, { linkedObjectType, identifier, namespace, ...page }, ctx) =>
      ctx.services.metadata.listEntries(ctx.principal, { linkedObjectType, identifier, namespace }, page),
  }),
}));

builder.mutationFields((t) => ({
  updateMetadata: t.field({
    type: UpdateMetadata,
    description: "Create or update an entry (upsert). With expectedVersion, a compare-and-set.",
    args: { input: t.arg({ type: MetadataInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({
      metadata: (await ctx.services.metadata.setEntry(ctx.principal, input)).result,
    }),
  }),
  deleteMetadata: t.field({
    type: DeleteMetadata,
    description: "Delete an entry; returns it as it was. With expectedVersion, only at that version.",
    args: { input: t.arg({ type: DeleteMetadataInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({
      metadata: (await ctx.services.metadata.deleteEntry(ctx.principal, input)).result,
    }),
  }),
  setMetadata: t.field({
    type: SetMetadata,
    description:
      "Write several entries of one object's namespace atomically: all or none. An entry that fails " +
      "(extensions.index) fails the batch with its error; nothing is written then.",
    args: { input: t.arg({ type: SetMetadataInput, required: true }) },
    resolve: async (_root, { input }, ctx) => (await ctx.services.metadata.setEntries(ctx.principal, input)).result,
  }),
  deleteMetadataKeys: t.field({
    type: DeleteMetadataKeys,
    description:
      "Delete several keys of one object's namespace atomically; returns the entries as they were. A key " +
      "with no entry is skipped (unlike deleteMetadata, which answers NOT_FOUND): the keys are absent either way.",
    args: { input: t.arg({ type: DeleteMetadataKeysInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({
      metadata: (await ctx.services.metadata.deleteEntries(ctx.principal, input)).result,
    }),
  }),
}));

/** One enum for both: a subscription's changes are the history's events as they happen. */
export const MetadataOperationEnum = builder.enumType("MetadataOperation", {
  description: "What a change did to an entry.",
  values: EVENT_OPERATIONS,
});

const MetadataChangeRef = builder.objectRef<MetadataChange>("MetadataChange").implement({
  description: "One committed change of one entry.",
  fields: (t) => ({
    operation: t.field({ type: MetadataOperationEnum, resolve: (change) => change.operation }),
    sequence: t.expose("sequence", {
      type: "SafeInt",
      description: "Its history event's sequence (metadataHistory): increasing, with gaps.",
    }),
    metadata: t.expose("entry", {
      type: MetadataRef,
      description: "The entry as written; for DELETED and EXPIRED, as it was.",
    }),
  }),
});

builder.subscriptionFields((t) => ({
  metadataChanged: t.field({
    type: MetadataChangeRef,
    description:
      "Every change of one object's namespace committed from now on (writes, batches entry by entry, deletes, the " +
      "expiry purge), over Server-Sent Events or WebSocket (graphql-transport-ws). Authorized like a read when it " +
      "starts; when the token expires the stream sends an UNAUTHENTICATED error and completes.",
    args: {
      linkedObjectType: t.arg({ type: LinkedObjectTypeEnum, required: true }),
      identifier: t.arg.string({ required: true }),
      namespace: t.arg.string({ description: namespaceDescription }),
    },
    subscribe: (_root, args, ctx) => ctx.services.metadata.watchChanges(ctx.principal, args),
    // The stream's last item may be why it ends (token expired, consumer too slow): sent as that error.
    resolve: (event: MetadataChange | DomainError) => {
      if (event instanceof DomainError) throw event;
      return event;
    },
  }),
}));
