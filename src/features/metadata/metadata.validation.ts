import { BatchEntryFailed, InvalidInput } from "../../errors.js";

/** What makes an input valid: checked before any authorization or storage. */

const KEY = /^[a-zA-Z0-9._-]{1,255}$/;
const NAMESPACE = /^(?:\$app|[a-zA-Z0-9._-]{1,64})$/;
const KEY_PREFIX = /^[a-zA-Z0-9._-]{0,255}$/;
// C0 and C1 controls, DEL: invisible in logs and UIs, and NUL cannot be stored in PostgreSQL text.
const CONTROL = /\p{Cc}/u;

export function isKey(key: string): boolean {
  return KEY.test(key);
}

export function assertKey(key: string, field = "key"): void {
  if (!isKey(key)) throw new InvalidInput(field, "must be 1-255 characters of a-z, A-Z, 0-9, '.', '_' or '-'");
}

export function assertKeyPrefix(prefix: string | undefined): void {
  if (prefix !== undefined && !KEY_PREFIX.test(prefix)) {
    throw new InvalidInput("keyPrefix", "must be at most 255 characters of a-z, A-Z, 0-9, '.', '_' or '-'");
  }
}

export function assertIdentifier(identifier: string): void {
  const length = [...identifier].length;
  if (length < 1 || length > 255) throw new InvalidInput("identifier", "must be 1-255 characters");
  if (CONTROL.test(identifier)) throw new InvalidInput("identifier", "must not contain control characters");
  if (!identifier.isWellFormed()) throw new InvalidInput("identifier", "must be well-formed Unicode");
}

export function isIdentifier(identifier: string): boolean {
  try {
    assertIdentifier(identifier);
    return true;
  } catch {
    return false;
  }
}

export function assertNamespace(namespace: string | undefined): void {
  if (namespace !== undefined && !NAMESPACE.test(namespace)) {
    throw new InvalidInput("namespace", "must be '$app' or 1-64 characters of a-z, A-Z, 0-9, '.', '_' or '-'");
  }
}

export function assertValue(value: string, maxLength: number, field = "value"): void {
  // Characters are code points, as users count them, not UTF-16 units.
  if (value.length > maxLength && [...value].length > maxLength) {
    throw new InvalidInput(field, `must be at most ${maxLength} characters`);
  }
  if (value.includes("\u0000")) throw new InvalidInput(field, "must not contain NUL (U+0000) characters");
  if (!value.isWellFormed()) throw new InvalidInput(field, "must be well-formed Unicode (no lone surrogates)");
}

// RFC 3339 allows "9999-12-31T23:59:59-01:00", an instant in year 10000: JavaScript writes it
// "+010000-01-01T…", which PostgreSQL refuses ("time zone displacement out of range"; it was an
// INTERNAL_SERVER_ERROR) and RFC 3339 cannot express on the way back out.
const STORABLE_TIME_LIMIT = Date.UTC(10000, 0, 1);

export function assertExpiresAt(expiresAt: Date | undefined | null, now: Date): void {
  if (expiresAt && expiresAt.getTime() <= now.getTime()) {
    throw new InvalidInput("expiresAt", "must be in the future");
  }
  assertStorableTime(expiresAt, "expiresAt");
}

/** Any instant PostgreSQL and RFC 3339 can both write. */
function assertStorableTime(at: Date | undefined | null, field: string): void {
  if (at && at.getTime() >= STORABLE_TIME_LIMIT) throw new InvalidInput(field, "must be before 10000-01-01T00:00:00Z");
}

/** A time window's bounds: each storable, the lower strictly below the upper when both are given. */
export function assertTimeWindow(
  after: Date | undefined,
  before: Date | undefined,
  fields: { after: string; before: string },
): void {
  assertStorableTime(after, fields.after);
  assertStorableTime(before, fields.before);
  if (after && before && after.getTime() >= before.getTime()) {
    throw new InvalidInput(fields.before, `must be later than ${fields.after}`);
  }
}

/** What one write of an entry must satisfy, alone or in a batch. */
export function assertEntryWrite(
  entry: { key: string; value: string; expiresAt?: Date | null; expectedVersion?: number | null },
  now: Date,
  maxValueLength: number,
): void {
  assertKey(entry.key);
  assertValue(entry.value, maxValueLength);
  assertExpiresAt(entry.expiresAt, now);
  assertExpectedVersion(entry.expectedVersion);
}

export const MAX_BATCH_SIZE = 100;

/** A batch's keys: 1-MAX_BATCH_SIZE of them, valid, none twice (an entry names its index). */
export function assertBatchKeys(keys: readonly string[], field: string): void {
  if (keys.length < 1 || keys.length > MAX_BATCH_SIZE) {
    throw new InvalidInput(field, `must hold 1-${MAX_BATCH_SIZE} entries, not ${keys.length}`);
  }
  const seen = new Map<string, number>();
  for (const [index, key] of keys.entries()) {
    const first = seen.get(key);
    if (first !== undefined) {
      throw new BatchEntryFailed(index, new InvalidInput(field, `key '${key}' is already entry ${first}`));
    }
    seen.set(key, index);
  }
}

export function assertExpectedVersion(expectedVersion: number | undefined | null): void {
  if (expectedVersion != null && expectedVersion < 0) {
    throw new InvalidInput("expectedVersion", "must be 0 (must not exist yet) or a current version");
  }
}
