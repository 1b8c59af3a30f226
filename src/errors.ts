/**
 * Expected failures of the domain. Each carries the `extensions.code` clients match on;
 * src/graphql/errors.ts turns them into GraphQL errors and masks everything else.
 */
export type ErrorCode =
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "BAD_USER_INPUT"
  | "NOT_FOUND"
  | "VERSION_CONFLICT"
  | "LIMIT_EXCEEDED";

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  /** Machine-readable details, merged into `extensions`. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }
}

export class Unauthenticated extends DomainError {
  readonly code = "UNAUTHENTICATED";
}

export class Forbidden extends DomainError {
  readonly code = "FORBIDDEN";
}

export class InvalidInput extends DomainError {
  readonly code = "BAD_USER_INPUT";
  constructor(field: string, message: string) {
    super(`${field}: ${message}`, { field });
  }
}

export class NotFound extends DomainError {
  readonly code = "NOT_FOUND";
}

export class VersionConflict extends DomainError {
  readonly code = "VERSION_CONFLICT";
  constructor(expectedVersion: number, currentVersion: number) {
    super(
      `Version conflict: expected version ${expectedVersion}, current version is ${currentVersion}` +
        (currentVersion === 0 ? " (the entry does not exist)" : ""),
      { expectedVersion, currentVersion },
    );
  }
}

export class LimitExceeded extends DomainError {
  readonly code = "LIMIT_EXCEEDED";
}
