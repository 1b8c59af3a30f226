import { lexicographicSortSchema, printSchema } from "graphql";
import { builder } from "./builder.js";
// Each feature registers its types on the builder when imported.
import "../features/metadata/metadata.schema.js";
import "../features/metadata/metadata.history.schema.js";
import "../features/metadata/metadata.search.schema.js";
import "../features/definitions/definitions.schema.js";

export const schema = builder.toSchema();

/** The committed `schema.graphql`: sorted, so that a diff shows only real changes. */
export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
