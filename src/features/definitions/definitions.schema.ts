import { builder } from "../../graphql/builder.js";
import { LinkedObjectTypeEnum, MetadataRef } from "../metadata/index.js";
import type { Definition } from "./definitions.service.js";
import { MAX_ALLOWED_VALUES } from "./definitions.validation.js";
import { MAX_PATTERN_LENGTH, VALUE_TYPES } from "./definitions.values.js";

const namespaceDescription = "Omitted or null: the default namespace. A definition governs its own namespace only.";

const ValueTypeEnum = builder.enumType("MetadataValueType", {
  description: "What a defined key's values must be (the value is always stored as the text written).",
  values: VALUE_TYPES,
});

export const DefinitionRef = builder.objectRef<Definition>("MetadataDefinition").implement({
  description:
    "A typed key: writes of (namespace, key) on the listed linked object types are validated. Values " +
    "stored before the definition are left as they are.",
  fields: (t) => ({
    namespace: t.exposeString("namespace", { nullable: true, description: namespaceDescription }),
    key: t.exposeString("key"),
    linkedObjectTypes: t.field({
      type: [LinkedObjectTypeEnum],
      description: "The object types whose entries of this key are validated; on others the key is free-form.",
      resolve: (definition) => definition.linkedObjectTypes,
    }),
    title: t.field({
      type: "JSON",
      description: 'Language tag to text, e.g. {"en": "OAuth Providers"}.',
      resolve: (definition) => definition.title,
    }),
    description: t.exposeString("description", { nullable: true }),
    type: t.field({ type: ValueTypeEnum, resolve: (definition) => definition.type }),
    maxLength: t.exposeInt("maxLength", { nullable: true, description: "Most characters (code points) a value has." }),
    pattern: t.exposeString("pattern", {
      nullable: true,
      description: "An RE2 regular expression a value must contain a match of (anchor it with ^…$ for a whole match).",
    }),
    allowedValues: t.exposeStringList("allowedValues", {
      nullable: true,
      description: "The only values allowed; null: any.",
    }),
    jsonSchema: t.field({
      type: "JSON",
      nullable: true,
      description: "Type JSON: the JSON Schema (draft 2020-12) values must match.",
      resolve: (definition) => definition.jsonSchema ?? null,
    }),
    version: t.exposeInt("version", { description: "1 on create, +1 on every change." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

const expectedVersionDescription = "Compare-and-set: act only if the current version is this (0 = must not exist yet).";

const MetadataDefinitionInput = builder.inputType("MetadataDefinitionInput", {
  fields: (t) => ({
    namespace: t.string({ description: `${namespaceDescription} Not \`$app\` (each client's own).` }),
    key: t.string({ required: true, description: "1-255 characters of a-z, A-Z, 0-9, '.', '_', '-'." }),
    linkedObjectTypes: t.field({ type: [LinkedObjectTypeEnum], required: true, description: "At least one." }),
    title: t.field({
      type: "JSON",
      required: true,
      description: 'Language tag to text, 1-50 languages, e.g. {"en": "OAuth Providers"}.',
    }),
    description: t.string({ description: "At most 2000 characters." }),
    type: t.field({ type: ValueTypeEnum, required: true }),
    maxLength: t.int({ description: "1 to METADATA_MAX_VALUE_LENGTH characters." }),
    pattern: t.string({
      description: `An RE2 regular expression (no backreferences or lookaround; matching is linear-time), at most ${MAX_PATTERN_LENGTH} characters.`,
    }),
    allowedValues: t.stringList({
      description: `1-${MAX_ALLOWED_VALUES} distinct values, each valid for the rest of the definition.`,
    }),
    jsonSchema: t.field({
      type: "JSON",
      description: "Type JSON only: a JSON Schema (draft 2020-12), no remote $ref.",
    }),
    expectedVersion: t.int({ description: expectedVersionDescription }),
  }),
});

const RemoveMetadataDefinitionInput = builder.inputType("RemoveMetadataDefinitionInput", {
  fields: (t) => ({
    namespace: t.string({ description: namespaceDescription }),
    key: t.string({ required: true }),
    expectedVersion: t.int({ description: "Remove only if the current version is this." }),
  }),
});

const DefineMetadata = builder.objectRef<{ definition: Definition }>("DefineMetadata").implement({
  fields: (t) => ({ definition: t.expose("definition", { type: DefinitionRef }) }),
});

const RemoveMetadataDefinition = builder.objectRef<{ definition: Definition }>("RemoveMetadataDefinition").implement({
  fields: (t) => ({
    definition: t.expose("definition", { type: DefinitionRef, description: "The definition as it was." }),
  }),
});

builder.objectField(MetadataRef, "definition", (t) =>
  t.field({
    type: DefinitionRef,
    nullable: true,
    description: "The definition that validates this entry's writes; null when its key is free-form here.",
    resolve: (entry, _args, ctx) => ctx.services.definitions.definitionOf(ctx.principal, entry),
  }),
);

builder.queryFields((t) => ({
  metadataDefinitions: t.connection({
    type: DefinitionRef,
    description: "The tenant's definitions, by namespace (default first) then key, with cursor pagination (max 500).",
    resolve: (_root, page, ctx) => ctx.services.definitions.list(ctx.principal, page),
  }),
}));

builder.mutationFields((t) => ({
  defineMetadata: t.field({
    type: DefineMetadata,
    description:
      "Create or replace the definition of a key (upsert; needs CAN_MUTATE_METADATA). Later writes of the key " +
      "are validated; values already stored stay as they are.",
    args: { input: t.arg({ type: MetadataDefinitionInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({
      definition: await ctx.services.definitions.define(ctx.principal, input),
    }),
  }),
  removeMetadataDefinition: t.field({
    type: RemoveMetadataDefinition,
    description: "Remove a definition (needs CAN_MUTATE_METADATA); the key's values stay, free-form again.",
    args: { input: t.arg({ type: RemoveMetadataDefinitionInput, required: true }) },
    resolve: async (_root, { input }, ctx) => ({
      definition: await ctx.services.definitions.remove(ctx.principal, input),
    }),
  }),
}));
