import { APP_NAMESPACE, LINKED_OBJECT_TYPES, type LinkedObjectType } from "../../auth/policy.js";
import { DomainError, InvalidInput } from "../../errors.js";
import { assertExpectedVersion, assertKey, assertNamespace } from "../metadata/index.js";
import { compileValueCheck, VALUE_TYPES, type ValueRule, type ValueType } from "./definitions.values.js";

/** What makes a definition valid: checked before any authorization or storage. */

export interface DefinitionInput {
  namespace?: string | null;
  key: string;
  linkedObjectTypes: readonly LinkedObjectType[];
  title?: unknown;
  description?: string | null;
  type: ValueType;
  maxLength?: number | null;
  pattern?: string | null;
  allowedValues?: readonly string[] | null;
  jsonSchema?: unknown;
  expectedVersion?: number | null;
}

export const MAX_TITLE_LANGUAGES = 50;
export const MAX_TITLE_LENGTH = 255;
export const MAX_DESCRIPTION_LENGTH = 2000;
export const MAX_ALLOWED_VALUES = 100;
export const MAX_JSON_SCHEMA_LENGTH = 65_536;

// BCP 47's shape (language, then subtags): "en", "de-CH", "zh-Hant-TW".
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;
const CONTROL = /\p{Cc}/u;

/**
 * The stored namespace a definition names: "" for the default one. `$app` is refused: it is each
 * OAuth client's private namespace, whose shape is that client's business, not the tenant staff's.
 */
export function storedNamespace(namespace: string | null | undefined): string {
  if (namespace == null) return "";
  assertNamespace(namespace);
  if (namespace === APP_NAMESPACE) {
    throw new InvalidInput("namespace", "$app is each client's private namespace: it cannot be defined");
  }
  return namespace;
}

/** Validates the input and returns its rule, normalized (types deduplicated in the enum's order). */
export function assertDefinitionInput(
  input: DefinitionInput,
  maxValueLength: number,
): { rule: ValueRule; linkedObjectTypes: LinkedObjectType[]; title: Record<string, string> } {
  assertKey(input.key);
  storedNamespace(input.namespace);
  assertExpectedVersion(input.expectedVersion);
  const linkedObjectTypes = LINKED_OBJECT_TYPES.filter((type) => input.linkedObjectTypes.includes(type));
  if (input.linkedObjectTypes.length === 0) {
    throw new InvalidInput("linkedObjectTypes", "must name at least one linked object type");
  }
  const unknown = input.linkedObjectTypes.find((type) => !LINKED_OBJECT_TYPES.includes(type));
  if (unknown !== undefined) throw new InvalidInput("linkedObjectTypes", `unknown linked object type '${unknown}'`);
  const title = assertTitle(input.title);
  if (input.description != null) assertText("description", input.description, MAX_DESCRIPTION_LENGTH);
  if (!Object.hasOwn(VALUE_TYPES, input.type)) throw new InvalidInput("type", `unknown type '${input.type}'`);
  if (input.maxLength != null && (input.maxLength < 1 || input.maxLength > maxValueLength)) {
    throw new InvalidInput("maxLength", `must be between 1 and ${maxValueLength} (METADATA_MAX_VALUE_LENGTH)`);
  }
  const jsonSchema = input.jsonSchema ?? null;
  if (jsonSchema !== null) {
    if (input.type !== "JSON") throw new InvalidInput("jsonSchema", "is only for type JSON");
    if (JSON.stringify(jsonSchema).length > MAX_JSON_SCHEMA_LENGTH) {
      throw new InvalidInput("jsonSchema", `must be at most ${MAX_JSON_SCHEMA_LENGTH} characters as JSON`);
    }
  }
  const allowedValues = input.allowedValues ?? [];
  if (input.allowedValues && (allowedValues.length < 1 || allowedValues.length > MAX_ALLOWED_VALUES)) {
    throw new InvalidInput("allowedValues", `must hold 1-${MAX_ALLOWED_VALUES} values when given`);
  }
  if (new Set(allowedValues).size !== allowedValues.length) {
    throw new InvalidInput("allowedValues", "must not hold a value twice");
  }
  const rule: ValueRule = {
    type: input.type,
    maxLength: input.maxLength ?? null,
    pattern: input.pattern ?? null,
    allowedValues,
    jsonSchema,
  };
  // Compiles the pattern and the schema (refusing invalid ones), then holds each allowed value to
  // the rest of the rule: a value the definition could never accept is a mistake in it.
  const check = compileValueCheck({ ...rule, allowedValues: [] });
  for (const [index, value] of allowedValues.entries()) {
    try {
      if (value.length > maxValueLength)
        throw new InvalidInput("value", `must be at most ${maxValueLength} characters`);
      check(value);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      throw new InvalidInput("allowedValues", `value ${index} breaks the definition: ${error.message}`);
    }
  }
  return { rule, linkedObjectTypes, title };
}

/** An i18n map: 1-MAX_TITLE_LANGUAGES language tags, each to a text. */
function assertTitle(title: unknown): Record<string, string> {
  if (typeof title !== "object" || title === null || Array.isArray(title)) {
    throw new InvalidInput("title", 'must be an object of language to text, e.g. {"en": "OAuth Providers"}');
  }
  const entries = Object.entries(title);
  if (entries.length < 1 || entries.length > MAX_TITLE_LANGUAGES) {
    throw new InvalidInput("title", `must hold 1-${MAX_TITLE_LANGUAGES} languages`);
  }
  for (const [language, text] of entries) {
    if (!LANGUAGE_TAG.test(language)) throw new InvalidInput("title", `'${language}' is not a language tag`);
    if (typeof text !== "string") throw new InvalidInput("title", `the '${language}' title must be text`);
    assertText("title", text, MAX_TITLE_LENGTH);
    if (text.trim() === "") throw new InvalidInput("title", `the '${language}' title must not be blank`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function assertText(field: string, text: string, max: number): void {
  if ([...text].length > max) throw new InvalidInput(field, `must be at most ${max} characters`);
  if (CONTROL.test(text.replaceAll(/[\n\t]/g, "")))
    throw new InvalidInput(field, "must not contain control characters");
  if (!text.isWellFormed()) throw new InvalidInput(field, "must be well-formed Unicode");
}
