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
  | "LIMIT_EXCEEDED"
  | "SERVICE_UNAVAILABLE"
  | "RATE_LIMITED";

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  /** Machine-readable details, merged into `extensions`. */
  readonly details: Readonly<Record<string, unknown>>;
  /** HTTP status and headers for an error that fails the whole request (Yoga's `extensions.http`). */
  readonly http?: Readonly<{ status: number; headers?: Record<string, string> }>;

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

/**
 * A value breaks its key's definition. `path` points at what failed inside the value: a JSON
 * pointer (RFC 6901) for JSON, "" for the value as a whole.
 */
export class InvalidValue extends DomainError {
  readonly code = "BAD_USER_INPUT";
  constructor(message: string, path: string, field = "value") {
    super(`${field}: ${message}${path ? ` (at ${path})` : ""}`, { field, path });
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

/**
 * One entry of a batch failed, so the whole batch did and nothing was written: the entry's own
 * error (its code and details) plus `index`, the entry's position in the input list.
 */
export class BatchEntryFailed extends DomainError {
  readonly code: ErrorCode;
  constructor(index: number, cause: DomainError) {
    super(`Entry ${index}: ${cause.message}`, { ...cause.details, index });
    this.code = cause.code;
    this.cause = cause;
  }
}

/**
 * A dependency the request needs (e.g. the database) cannot be reached right now; retrying later
 * may succeed. A write whose connection died mid-statement may have been applied: `expectedVersion`
 * makes its retry safe. The message names no host, port or driver error.
 */
export class ServiceUnavailable extends DomainError {
  readonly code = "SERVICE_UNAVAILABLE";
  /** `cause`: the driver's error, for logs and debuggers; clients never see it. */
  constructor(message: string, cause?: unknown) {
    super(message);
    if (cause !== undefined) this.cause = cause;
  }
}

/** The caller used up its operations for now; `retryAfterSeconds` says when the next one passes. */
export class RateLimited extends DomainError {
  readonly code = "RATE_LIMITED";
  override readonly http: { status: number; headers: Record<string, string> };
  constructor(retryAfterSeconds: number) {
    super(`Rate limit exceeded: retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
    this.http = { status: 429, headers: { "Retry-After": String(retryAfterSeconds) } };
  }
}
