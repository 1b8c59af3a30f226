import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { fullFormats } from "ajv-formats/dist/formats.js";
import { LRUCache } from "lru-cache";
import { RE2JS } from "re2js";
import { InvalidInput, InvalidValue } from "../../errors.js";
import { parseJsonText } from "../../json-text.js";

/** What a definition says about its values; checked on every write of its key. */

export const VALUE_TYPES = {
  STRING: { description: "Any text." },
  JSON: { description: "JSON text; with jsonSchema, valid against that JSON Schema (draft 2020-12)." },
  BOOLEAN: { description: "`true` or `false`." },
  INTEGER: { description: "A decimal integer within ±9007199254740991 (JavaScript's safe integers)." },
  NUMBER: { description: "A finite JSON number, e.g. `-1.5e3`." },
  DATE_TIME: { description: "An RFC 3339 date-time with a time zone, e.g. `2026-11-27T21:00:00Z`." },
  URL: { description: "An absolute http or https URL." },
  BASE64: { description: "Canonical padded base64 (RFC 4648 §4), at most 500000 characters." },
} as const;
export type ValueType = keyof typeof VALUE_TYPES;

export interface ValueRule {
  type: ValueType;
  maxLength: number | null;
  pattern: string | null;
  /** Empty: any value. */
  allowedValues: readonly string[];
  jsonSchema: unknown;
}

/** Throws InvalidValue when `value` breaks the rule. */
export type ValueCheck = (value: string) => void;

export const MAX_PATTERN_LENGTH = 1000;
export const MAX_BASE64_LENGTH = 500_000;

/**
 * Builds the check of a rule; throws InvalidInput when the rule itself is invalid (a pattern RE2
 * cannot compile, a JSON Schema ajv refuses). Compiled patterns and schemas are cached by their text.
 */
export function compileValueCheck(rule: ValueRule): ValueCheck {
  const checkType = TYPE_CHECKS[rule.type];
  const pattern = rule.pattern === null ? undefined : compilePattern(rule.pattern);
  const schema = rule.jsonSchema == null ? undefined : compileSchema(rule.jsonSchema);
  const allowed = rule.allowedValues.length ? new Set(rule.allowedValues) : undefined;
  const { maxLength } = rule;
  return (value) => {
    if (maxLength !== null && value.length > maxLength && [...value].length > maxLength) {
      throw new InvalidValue(`must be at most ${maxLength} characters`, "");
    }
    checkType(value);
    if (pattern && !pattern.matcher(value).find()) throw new InvalidValue(`must match the pattern ${rule.pattern}`, "");
    if (allowed && !allowed.has(value)) throw new InvalidValue("must be one of the definition's allowedValues", "");
    if (schema) checkSchema(schema, value);
  };
}

// ---- types -------------------------------------------------------------------------------------

const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;
// JSON's number grammar: the value reads back as a number in jsonValue.
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// ajv-formats' "date-time" in full mode: RFC 3339 §5.6, time zone required, calendar dates checked.
const isDateTime = (fullFormats["date-time"] as { validate: (text: string) => boolean }).validate;

const TYPE_CHECKS: Record<ValueType, ValueCheck> = {
  STRING: () => {},
  JSON: (value) => {
    if (!parseJsonText(value)) throw new InvalidValue("must be JSON text", "");
  },
  BOOLEAN: (value) => {
    if (value !== "true" && value !== "false") throw new InvalidValue("must be true or false", "");
  },
  INTEGER: (value) => {
    if (!INTEGER.test(value) || !Number.isSafeInteger(Number(value))) {
      throw new InvalidValue("must be an integer between -9007199254740991 and 9007199254740991", "");
    }
  },
  NUMBER: (value) => {
    if (!NUMBER.test(value) || !Number.isFinite(Number(value))) throw new InvalidValue("must be a finite number", "");
  },
  DATE_TIME: (value) => {
    if (!isDateTime(value)) {
      throw new InvalidValue("must be an RFC 3339 date-time with a time zone", "");
    }
  },
  URL: (value) => {
    // javascript:, data: and relative URLs become scripts or wrong links where clients render them.
    const url = URL.parse(value);
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || /\s/.test(value)) {
      throw new InvalidValue("must be an absolute http or https URL", "");
    }
  },
  BASE64: (value) => {
    if (value.length > MAX_BASE64_LENGTH) throw new InvalidValue(`must be at most ${MAX_BASE64_LENGTH} characters`, "");
    // Canonical: the unused bits of the last group are zero, so one byte string has one spelling.
    if (!BASE64.test(value) || Buffer.from(value, "base64").toString("base64") !== value) {
      throw new InvalidValue("must be canonical padded base64", "");
    }
  },
};

// ---- patterns ----------------------------------------------------------------------------------

// RE2 (re2js, pure JavaScript): matching takes time linear in the value, whatever the pattern, so
// a definition cannot make writes of its key backtrack catastrophically (ReDoS). RE2 has no
// backreferences or lookaround. JSON Schemas' `pattern` keywords run on it too (see compileSchema).
const patterns = new LRUCache<string, RE2JS>({ max: 5000 });

function compilePattern(source: string): RE2JS {
  let compiled = patterns.get(source);
  if (!compiled) {
    if (source.length > MAX_PATTERN_LENGTH) {
      throw new InvalidInput("pattern", `must be at most ${MAX_PATTERN_LENGTH} characters`);
    }
    try {
      compiled = RE2JS.compile(source);
    } catch (error) {
      throw new InvalidInput("pattern", `is not a valid RE2 regular expression: ${(error as Error).message}`);
    }
    patterns.set(source, compiled);
  }
  return compiled;
}

// ---- JSON Schema -------------------------------------------------------------------------------

// A CommonJS module whose `module.exports` also carries itself as `default`.
const addFormats = addFormatsModule.default;

/** ajv's RegExp engine interface, on RE2 (`code` names it in generated standalone code, unused here). */
const re2Engine = Object.assign(
  (source: string) => {
    const compiled = RE2JS.compile(source);
    // ajv tells compiled patterns apart by their toString().
    return { test: (text: string) => compiled.matcher(text).find(), toString: () => `re2js:${source}` };
  },
  { code: "re2js" },
);

// Compiled once per schema text. One ajv instance per schema: an `$id` in one schema cannot clash
// with another's, and an evicted validator is garbage with its instance.
const schemas = new LRUCache<string, ValidateFunction>({ max: 1000 });

function compileSchema(schema: unknown): ValidateFunction {
  const text = JSON.stringify(schema);
  let validate = schemas.get(text);
  if (!validate) {
    if (typeof schema !== "object" && typeof schema !== "boolean") {
      throw new InvalidInput("jsonSchema", "must be a JSON Schema (an object or a boolean)");
    }
    const ajv = new Ajv2020({
      // Unknown keywords and formats are refused: a typo would otherwise validate nothing.
      strictSchema: true,
      strictNumbers: true,
      strictTypes: false,
      strictTuples: false,
      strictRequired: false,
      logger: false,
      code: { regExp: re2Engine },
    });
    addFormats(ajv);
    try {
      validate = ajv.compile(schema as object);
    } catch (error) {
      throw new InvalidInput("jsonSchema", `is not a valid JSON Schema: ${(error as Error).message}`);
    }
    schemas.set(text, validate);
  }
  return validate;
}

function checkSchema(validate: ValidateFunction, value: string): void {
  // The type check ran first: the value is JSON.
  const parsed = parseJsonText(value)?.value;
  if (validate(parsed)) return;
  const error = validate.errors?.[0];
  throw new InvalidValue(`does not match the JSON Schema: ${error?.message ?? "invalid"}`, error ? pathOf(error) : "");
}

/** A JSON pointer to what failed: for a missing property, the property itself. */
function pathOf(error: ErrorObject): string {
  const missing = (error.params as { missingProperty?: unknown }).missingProperty;
  if (error.keyword === "required" && typeof missing === "string") {
    return `${error.instancePath}/${missing.replaceAll("~", "~0").replaceAll("/", "~1")}`;
  }
  return error.instancePath;
}
