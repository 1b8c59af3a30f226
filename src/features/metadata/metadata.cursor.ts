import { InvalidInput } from "../../errors.js";
import { isKey } from "./metadata.validation.js";

// Cursors are opaque to clients: the base64url of the last key seen, behind a version tag.
const PREFIX = "k1:";

export function encodeCursor(key: string): string {
  return Buffer.from(PREFIX + key, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string | null | undefined, field: string): string | undefined {
  if (cursor == null) return undefined;
  const decoded = Buffer.from(cursor, "base64url").toString("utf8");
  const key = decoded.slice(PREFIX.length);
  // The API only returns cursors of valid keys. A forged one could carry anything, e.g. a NUL, which
  // PostgreSQL refuses in text (that was an INTERNAL_SERVER_ERROR).
  if (!decoded.startsWith(PREFIX) || encodeCursor(key) !== cursor || !isKey(key)) {
    throw new InvalidInput(field, "is not a cursor returned by this API");
  }
  return key;
}

// History cursors: the sequence of the last event seen, behind their own tag.
const SEQUENCE_PREFIX = "s1:";

export function encodeSequenceCursor(sequence: number): string {
  return Buffer.from(SEQUENCE_PREFIX + sequence, "utf8").toString("base64url");
}

export function decodeSequenceCursor(cursor: string | null | undefined, field: string): number | undefined {
  if (cursor == null) return undefined;
  const decoded = Buffer.from(cursor, "base64url").toString("utf8");
  const digits = decoded.slice(SEQUENCE_PREFIX.length);
  const sequence = Number(digits);
  if (
    !decoded.startsWith(SEQUENCE_PREFIX) ||
    !/^[1-9][0-9]{0,15}$/.test(digits) ||
    !Number.isSafeInteger(sequence) ||
    encodeSequenceCursor(sequence) !== cursor
  ) {
    throw new InvalidInput(field, "is not a cursor returned by this API");
  }
  return sequence;
}
