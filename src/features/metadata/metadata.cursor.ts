import { InvalidInput } from "../../errors.js";

// Cursors are opaque to clients: the base64url of the last key seen, behind a version tag.
const PREFIX = "k1:";

export function encodeCursor(key: string): string {
  return Buffer.from(PREFIX + key, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string | null | undefined, field: string): string | undefined {
  if (cursor == null) return undefined;
  const decoded = Buffer.from(cursor, "base64url").toString("utf8");
  if (!decoded.startsWith(PREFIX) || encodeCursor(decoded.slice(PREFIX.length)) !== cursor) {
    throw new InvalidInput(field, "is not a cursor returned by this API");
  }
  return decoded.slice(PREFIX.length);
}
