import type { ExecutionResult, GraphQLError } from "graphql";
import {
  createGraphQLError,
  createLogger,
  type Plugin,
  type YogaLogger,
  maskError as yogaMaskError,
} from "graphql-yoga";
import { DomainError } from "../errors.js";

/**
 * The one place domain errors become `extensions.code`. Everything unexpected is masked by Yoga
 * (INTERNAL_SERVER_ERROR, no stack, no SQL); GraphQL's own validation errors pass through.
 */
export function maskError(error: unknown, message: string, isDev?: boolean): Error {
  const domain = findDomainError(error);
  if (!domain) return yogaMaskError(error, message, isDev);
  const located = error === domain ? undefined : (error as GraphQLError);
  return createGraphQLError(domain.message, {
    nodes: located?.nodes,
    source: located?.source,
    positions: located?.positions,
    path: located?.path,
    extensions: { code: domain.code, ...domain.details },
  });
}

// Duck-typed on purpose: `instanceof GraphQLError` fails when graphql's ESM and CJS builds are
// both loaded (the dual-package hazard, e.g. under vitest).
function findDomainError(error: unknown): DomainError | undefined {
  if (error instanceof DomainError) return error;
  const original = (error as { originalError?: unknown } | null)?.originalError;
  return original instanceof DomainError ? original : undefined;
}

/**
 * graphql-js reports a variable that fails coercion (a malformed DateTime, an unknown enum value,
 * a missing required field) without `extensions.code`; clients get BAD_USER_INPUT for it, like
 * every other bad input. Yoga already codes parse and validation failures.
 */
export function useInputErrorCodes(): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result) || !isSingleResult(result) || !result.errors?.length) return;
      setResult({ ...result, errors: result.errors.map(withInputCode) });
    },
  };
}

type ProcessedResult = Parameters<NonNullable<Plugin["onResultProcess"]>>[0]["result"];

function isSingleResult(result: ProcessedResult): result is ExecutionResult {
  return !(Symbol.asyncIterator in (result as object));
}

function withInputCode(error: GraphQLError): GraphQLError {
  if (error.extensions?.code || !error.message.startsWith("Variable ")) return error;
  return createGraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    extensions: { ...error.extensions, code: "BAD_USER_INPUT" },
  });
}

/**
 * Yoga logs every error its masking replaced; expected domain errors (a missing key, a refused
 * token) are answers, not incidents, so only unexpected ones reach the log.
 */
export function createYogaLogger(): YogaLogger {
  const logger = createLogger("info");
  return {
    ...logger,
    error: (...args: unknown[]) => {
      if (args.some((arg) => findDomainError(arg))) return;
      logger.error(...args);
    },
  };
}
