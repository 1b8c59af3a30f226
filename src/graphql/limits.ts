import { readFileSync } from "node:fs";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { useDisableIntrospection } from "@graphql-yoga/plugin-disable-introspection";
import { usePersistedOperations } from "@graphql-yoga/plugin-persisted-operations";
import type { GraphQLError } from "graphql";
import { createGraphQLError, type Plugin } from "graphql-yoga";
import { ConfigError, type GraphQLLimits } from "../config.js";
import { useRequestBodyLimit } from "./request-body-limit.js";

/** Which limit refused an operation: `extensions.limit` next to code QUERY_TOO_COMPLEX. */
type LimitName = "maxDepth" | "maxAliases" | "maxDirectives" | "maxTokens" | "maxCost";

/**
 * The OWASP GraphQL cheat sheet's limits, from well-kept plugins: graphql-armor (depth, aliases,
 * directives, tokens, cost, field suggestions), Yoga's introspection and persisted-operation
 * plugins, and our request body limit. Batching is Yoga's own option (`batching.limit`).
 */
export function useGraphQLLimits(limits: GraphQLLimits): Plugin[] {
  const plugins: Plugin[] = [
    EnvelopArmorPlugin({
      maxDepth: { n: limits.maxDepth, ...rejectAs("maxDepth") },
      maxAliases: { n: limits.maxAliases, ...rejectAs("maxAliases") },
      maxDirectives: { n: limits.maxDirectives, ...rejectAs("maxDirectives") },
      maxTokens: { n: limits.maxTokens, ...rejectAs("maxTokens") },
      costLimit: { maxCost: limits.maxCost, ...rejectAs("maxCost") },
      blockFieldSuggestion: { enabled: !limits.fieldSuggestions },
    }) as Plugin,
    useRequestBodyLimit(limits.maxRequestBodyBytes),
  ];
  if (!limits.introspection) plugins.push(useDisableIntrospection());
  if (limits.persistedOperationsFile) {
    const operations = loadPersistedOperations(limits.persistedOperationsFile);
    plugins.push(
      usePersistedOperations({
        getPersistedOperation: (id) => operations.get(id) ?? null,
        allowArbitraryOperations: !limits.persistedOperationsOnly,
      }),
    );
  }
  return plugins;
}

// graphql-armor reports a refusal as an uncoded "Syntax Error"; clients get a code to match on.
function rejectAs(limit: LimitName) {
  return {
    propagateOnRejection: false,
    onReject: [
      (_context: unknown, error: GraphQLError) => {
        throw createGraphQLError(error.message.replace(/^Syntax Error: /, ""), {
          extensions: { code: "QUERY_TOO_COMPLEX", limit, http: { status: 400 } },
        });
      },
    ],
  };
}

/** `{ "<id>": "<document>" }`, as GraphQL Code Generator's persisted documents file holds them. */
function loadPersistedOperations(file: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError(`Invalid configuration: PERSISTED_OPERATIONS_FILE: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError("Invalid configuration: PERSISTED_OPERATIONS_FILE: must hold a JSON object of id → document");
  }
  const entries = Object.entries(parsed);
  if (entries.some(([, document]) => typeof document !== "string")) {
    throw new ConfigError("Invalid configuration: PERSISTED_OPERATIONS_FILE: every value must be a GraphQL document");
  }
  return new Map(entries as [string, string][]);
}
