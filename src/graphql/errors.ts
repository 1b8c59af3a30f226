import { GraphQLError } from "graphql";
import { createGraphQLError, maskError as yogaMaskError } from "graphql-yoga";
import { DomainError } from "../errors.js";

/**
 * The one place domain errors become `extensions.code`. Everything unexpected is masked by Yoga
 * (INTERNAL_SERVER_ERROR, no stack, no SQL); GraphQL's own validation errors pass through.
 */
export function maskError(error: unknown, message: string, isDev?: boolean): Error {
  const domain = findDomainError(error);
  if (domain) {
    return createGraphQLError(domain.message, {
      ...(error instanceof GraphQLError && {
        nodes: error.nodes,
        path: error.path,
        source: error.source,
        positions: error.positions,
      }),
      extensions: { code: domain.code, ...domain.details },
    });
  }
  return yogaMaskError(error, message, isDev);
}

function findDomainError(error: unknown): DomainError | undefined {
  if (error instanceof DomainError) return error;
  if (error instanceof GraphQLError && error.originalError instanceof DomainError) return error.originalError;
  return undefined;
}
