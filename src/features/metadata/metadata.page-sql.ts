import type { SqlArg } from "../../db/sql.js";
import type { EntryOrder, Position } from "./metadata.cursor.js";

/** What narrows a listing, besides the object's namespace; each one optional. */
export interface EntryFilters {
  keyPrefix?: string;
  keys?: readonly string[];
  createdAfter?: Date;
  createdBefore?: Date;
  updatedAfter?: Date;
  updatedBefore?: Date;
}

/** Conditions over numbered parameters, collected as they are added. */
export class Conditions {
  readonly sql: string[] = [];
  readonly values: SqlArg[] = [];
  constructor(private readonly firstParameter: number) {}

  /** The next parameter's placeholder, bound to `value`. */
  param(value: SqlArg): string {
    this.values.push(value);
    return `$${this.firstParameter + this.values.length - 1}`;
  }

  add(condition: string): void {
    this.sql.push(condition);
  }

  /** " AND c1 AND c2 …" (empty when there is none). */
  get and(): string {
    return this.sql.map((c) => ` AND ${c}`).join("");
  }
}

/** The smallest string above every string starting with `prefix` (keys are ASCII, collation "C"). */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

export function addFilters(c: Conditions, f: EntryFilters): void {
  if (f.keyPrefix) {
    c.add(`key >= ${c.param(f.keyPrefix)}`);
    c.add(`key < ${c.param(prefixEnd(f.keyPrefix))}`);
  }
  if (f.keys) c.add(`key = ANY(${c.param(f.keys)}::text[])`);
  if (f.createdAfter) c.add(`created_at > ${c.param(f.createdAfter)}::timestamptz`);
  if (f.createdBefore) c.add(`created_at < ${c.param(f.createdBefore)}::timestamptz`);
  if (f.updatedAfter) c.add(`updated_at > ${c.param(f.updatedAfter)}::timestamptz`);
  if (f.updatedBefore) c.add(`updated_at < ${c.param(f.updatedBefore)}::timestamptz`);
}

const TIMESTAMP_COLUMN = { CREATED_AT: "created_at", UPDATED_AT: "updated_at" } as const;

/**
 * Rows strictly on one side of a position: `later` = after it in `order`. Timestamp orderings
 * compare (timestamp, key) as a row, so rows sharing a timestamp still page in key order.
 */
export function addPosition(c: Conditions, order: EntryOrder, position: Position, later: boolean): void {
  const op = later === (order.direction === "ASC") ? ">" : "<";
  if (order.field === "KEY" || !position.at) {
    c.add(`key ${op} ${c.param(position.key)}`);
    return;
  }
  const column = TIMESTAMP_COLUMN[order.field];
  c.add(`(${column}, key) ${op} (${c.param(position.at)}::timestamptz, ${c.param(position.key)})`);
}

/** ORDER BY for `order`, reversed when reading from the end (Relay `last`). */
export function orderBy(order: EntryOrder, fromEnd: boolean): string {
  const direction = (order.direction === "DESC") !== fromEnd ? "DESC" : "ASC";
  if (order.field === "KEY") return `key ${direction}`;
  return `${TIMESTAMP_COLUMN[order.field]} ${direction}, key ${direction}`;
}
