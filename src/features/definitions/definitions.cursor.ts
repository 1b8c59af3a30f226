import { InvalidInput } from "../../errors.js";

// Cursors are opaque to clients: the base64url of the last (namespace, key) seen, behind a version
// tag. Internally a position is "namespace key" (see definitions.service.ts).
const PREFIX = "d1:";
const POSITION = /^(?:[a-zA-Z0-9._-]{1,64})?\x20[a-zA-Z0-9._-]{1,255}$/;

export function encodeDefinitionCursor(position: string): string {
  return Buffer.from(PREFIX + position, "utf8").toString("base64url");
}

export function decodeDefinitionCursor(cursor: string | null | undefined, field: string): string | undefined {
  if (cursor == null) return undefined;
  const decoded = Buffer.from(cursor, "base64url").toString("utf8");
  const position = decoded.slice(PREFIX.length);
  if (!decoded.startsWith(PREFIX) || encodeDefinitionCursor(position) !== cursor || !POSITION.test(position)) {
    throw new InvalidInput(field, "is not a cursor returned by this API");
  }
  return position;
}
