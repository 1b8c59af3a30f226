import { InvalidInput } from "../../errors.js";
import { isKey } from "./metadata.validation.js";

export const ORDER_FIELDS = ["KEY", "CREATED_AT", "UPDATED_AT"] as const;
export type OrderField = (typeof ORDER_FIELDS)[number];
export const ORDER_DIRECTIONS = ["ASC", "DESC"] as const;
export type OrderDirection = (typeof ORDER_DIRECTIONS)[number];

export interface EntryOrder {
  field: OrderField;
  direction: OrderDirection;
}

export const DEFAULT_ORDER: EntryOrder = { field: "KEY", direction: "ASC" };

/** Where a row stands in an ordering: its timestamp first (timestamp orderings), then its key, unique in the namespace. */
export interface Position {
  at?: Date;
  key: string;
}

// Cursors are opaque to clients. KEY ASC keeps its original form, the base64url of "k1:<key>", so
// cursors handed out before orderings existed stay valid. Every other ordering:
// "o1:" + JSON [field, direction, epoch milliseconds or null, key]; timestamps are stored to the
// millisecond (TIMESTAMPTZ(3)), so the cursor carries them exactly.
const KEY_PREFIX = "k1:";
const ORDER_PREFIX = "o1:";

const isDefaultOrder = (order: EntryOrder) => order.field === "KEY" && order.direction === "ASC";

export function encodeCursor(key: string): string {
  return Buffer.from(KEY_PREFIX + key, "utf8").toString("base64url");
}

/** The cursor of `row` in `order`. */
export function encodePosition(order: EntryOrder, row: { key: string; createdAt: Date; updatedAt: Date }): string {
  if (isDefaultOrder(order)) return encodeCursor(row.key);
  const at = order.field === "KEY" ? null : (order.field === "CREATED_AT" ? row.createdAt : row.updatedAt).getTime();
  return Buffer.from(ORDER_PREFIX + JSON.stringify([order.field, order.direction, at, row.key]), "utf8").toString(
    "base64url",
  );
}

/**
 * The position a cursor stands for in `order`. A cursor made for another ordering points nowhere
 * meaningful in this one: BAD_USER_INPUT, as is anything this API did not hand out.
 */
export function decodePosition(
  cursor: string | null | undefined,
  field: string,
  order: EntryOrder,
): Position | undefined {
  if (cursor == null) return undefined;
  const decoded = decode(cursor);
  // The API only returns cursors of valid keys. A forged one could carry anything, e.g. a NUL, which
  // PostgreSQL refuses in text (that was an INTERNAL_SERVER_ERROR).
  if (!decoded || !isKey(decoded.position.key)) throw new InvalidInput(field, "is not a cursor returned by this API");
  const made = decoded.order;
  if (made.field !== order.field || made.direction !== order.direction) {
    throw new InvalidInput(
      field,
      `was made for orderBy {field: ${made.field}, direction: ${made.direction}}, not {field: ${order.field}, direction: ${order.direction}}`,
    );
  }
  return decoded.position;
}

function decode(cursor: string): { order: EntryOrder; position: Position } | undefined {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  // Re-encoding must give the cursor back: one spelling per position.
  if (Buffer.from(text, "utf8").toString("base64url") !== cursor) return undefined;
  if (text.startsWith(KEY_PREFIX)) return { order: DEFAULT_ORDER, position: { key: text.slice(KEY_PREFIX.length) } };
  if (!text.startsWith(ORDER_PREFIX)) return undefined;
  let parts: unknown;
  try {
    parts = JSON.parse(text.slice(ORDER_PREFIX.length));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parts) || parts.length !== 4) return undefined;
  const [field, direction, at, key] = parts as unknown[];
  const order = { field, direction } as EntryOrder;
  if (!ORDER_FIELDS.includes(order.field) || !ORDER_DIRECTIONS.includes(order.direction) || typeof key !== "string") {
    return undefined;
  }
  if (isDefaultOrder(order)) return undefined;
  if (order.field === "KEY") return at === null ? { order, position: { key } } : undefined;
  // Within PostgreSQL's and JavaScript's common range (a Date is valid to ±8.64e15 ms).
  if (!Number.isSafeInteger(at) || Math.abs(at as number) > 8.64e15) return undefined;
  const date = new Date(at as number);
  if (date.getUTCFullYear() > 9999 || date.getUTCFullYear() < 1) return undefined;
  return { order, position: { at: date, key } };
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
