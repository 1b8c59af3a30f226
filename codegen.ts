import type { CodegenConfig } from "@graphql-codegen/cli";

/** The client preset as a TypeScript client uses it: plain types, enums as string unions, ESM imports. */
const clientPreset = {
  preset: "client",
  config: {
    scalars: { DateTime: "string", JSON: "unknown", SafeInt: "number" },
    enumsAsTypes: true,
    useTypeImports: true,
    emitLegacyCommonJSImports: false,
  },
  presetConfig: { fragmentMasking: false },
} as const;

// Types every operation the tests and the TypeScript example send against the committed
// schema.graphql, so a renamed or removed field breaks compilation here before it breaks a client.
// Documents are per output: each folder's `graphql()` knows only its own operations.
const config: CodegenConfig = {
  schema: "schema.graphql",
  ignoreNoDocuments: true,
  generates: {
    "test/gql/": { ...clientPreset, documents: ["test/**/*.ts", "!test/gql/**"] },
    "examples/typescript-client/gql/": {
      ...clientPreset,
      documents: ["examples/typescript-client/**/*.ts", "!examples/typescript-client/gql/**"],
    },
  },
};

export default config;
