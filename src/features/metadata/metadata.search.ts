import { InvalidInput } from "../../errors.js";
import type { SearchQuery } from "./metadata.repository.js";
import { assertValue, isIdentifier } from "./metadata.validation.js";

/** How deep a jsonContains may nest: as deep as a stored value is parsed (the migration's bound). */
const MAX_SEARCH_JSON_DEPTH = 1000;

/**
 * Exactly one of the two ways to match, checked as PostgreSQL will read it. A JSON string with a
 * NUL or a lone surrogate is text jsonb refuses ("unsupported Unicode escape sequence"): no stored
 * value can contain it, and sent as is it would fail the statement.
 */
export function searchMatch(
  args: { valueEquals?: string | null; jsonContains?: unknown },
  maxValueLength: number,
): SearchQuery["match"] {
  const hasEquals = args.valueEquals != null;
  const hasContains = args.jsonContains !== undefined && args.jsonContains !== null;
  if (hasEquals === hasContains) {
    throw new InvalidInput(
      hasEquals ? "jsonContains" : "valueEquals",
      "give exactly one of valueEquals or jsonContains",
    );
  }
  if (args.valueEquals != null) {
    assertValue(args.valueEquals, maxValueLength, "valueEquals");
    return { valueEquals: args.valueEquals };
  }
  assertStorableJson(args.jsonContains);
  const text = JSON.stringify(args.jsonContains);
  if (text.length > maxValueLength) {
    throw new InvalidInput("jsonContains", `must be at most ${maxValueLength} characters as JSON`);
  }
  return { jsonContains: text, scalar: typeof args.jsonContains !== "object" };
}

/**
 * Walks the value without recursion (its depth is what is being checked). At least one scalar:
 * the GIN index (jsonb_path_ops) knows values only by their scalars, so a value without one (`{}`,
 * `[]`, `{"a": {}}`) would read the whole index, to match nearly everything.
 */
function assertStorableJson(value: unknown): void {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  let scalars = 0;
  while (stack.length > 0) {
    const item = stack.pop() as { value: unknown; depth: number };
    const v = item.value;
    if (v === null || typeof v !== "object") scalars++;
    if (typeof v === "string") assertJsonString(v);
    else if (typeof v === "number" && !Number.isFinite(v)) {
      throw new InvalidInput("jsonContains", "numbers must be finite");
    } else if (v !== null && typeof v === "object") {
      if (item.depth >= MAX_SEARCH_JSON_DEPTH) {
        throw new InvalidInput("jsonContains", `must nest at most ${MAX_SEARCH_JSON_DEPTH} levels`);
      }
      const entries = Array.isArray(v) ? v.map((x) => ["", x] as const) : Object.entries(v);
      for (const [name, child] of entries) {
        assertJsonString(name);
        stack.push({ value: child, depth: item.depth + 1 });
      }
    }
  }
  if (scalars === 0) {
    throw new InvalidInput(
      "jsonContains",
      "must hold at least one string, number, boolean or null (an empty object or array matches any)",
    );
  }
}

function assertJsonString(text: string): void {
  if (text.includes("\u0000") || !text.isWellFormed()) {
    throw new InvalidInput("jsonContains", "strings must be well-formed Unicode without NUL (U+0000)");
  }
}

// Search cursors: the base64url of "s1:<identifier>" (results are ordered by identifier, unique
// among the entries of one key in one namespace).
const PREFIX = "s1:";

export function encodeSearchCursor(identifier: string): string {
  return Buffer.from(PREFIX + identifier, "utf8").toString("base64url");
}

export function decodeSearchCursor(cursor: string | null | undefined, field: string): string | undefined {
  if (cursor == null) return undefined;
  const decoded = Buffer.from(cursor, "base64url").toString("utf8");
  const identifier = decoded.slice(PREFIX.length);
  if (!decoded.startsWith(PREFIX) || encodeSearchCursor(identifier) !== cursor || !isIdentifier(identifier)) {
    throw new InvalidInput(field, "is not a cursor returned by metadataSearch");
  }
  return identifier;
}
