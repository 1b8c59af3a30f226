import fc from "fast-check";
import { print } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LINKED_OBJECT_TYPES } from "../src/auth/policy.js";
import type { ErrorCode } from "../src/errors.js";
import { encodeCursor } from "../src/features/metadata/metadata.cursor.js";
import { MAX_JSON_DEPTH } from "../src/features/metadata/metadata.service.js";
import { createTestApp, type TestApp, type TestClaims } from "./support/app.js";
import { backends } from "./support/backends.js";
import { DeleteMetadata, GetMetadata, GetMetadataForKey, ListMetadata, UpdateMetadata } from "./support/operations.js";

/*
 * The bad-input corpus: thousands of generated requests (hostile strings, wrong JSON types, lying
 * versions, odd dates, unknown enum values, extra variables, malformed HTTP bodies) through the
 * real HTTP handler. Every answer must be a well-formed GraphQL result whose errors all carry a
 * known code, with no stack trace, and the table must hold exactly the writes that were answered
 * with success. A model of those writes also checks each success and each refusal against the
 * README's rules (versions, compare-and-set, input rules, access rules, paging).
 *
 * Deterministic: a failure prints fast-check's seed and path; CORPUS_SEED replays another seed.
 */

const SEED = Number(process.env.CORPUS_SEED ?? 20261127);
/** Small, so that over-long values cost nothing to generate and send. */
const MAX_VALUE_LENGTH = 16;
const MAX_KEYS_PER_OBJECT = 5;
/** fast-check runs per backend: each run sends 1-8 requests (about 4.5 on average). */
const OPERATION_RUNS = 600;
const RAW_RUNS = 600;

/** Every code the service may answer with; `satisfies` breaks the build when src/errors.ts changes. */
const DOMAIN_CODES = {
  UNAUTHENTICATED: true,
  FORBIDDEN: true,
  BAD_USER_INPUT: true,
  NOT_FOUND: true,
  VERSION_CONFLICT: true,
  LIMIT_EXCEEDED: true,
  SERVICE_UNAVAILABLE: true,
  RATE_LIMITED: true,
} satisfies Record<ErrorCode, true>;
/** Yoga's own, for a request that is not valid GraphQL over HTTP (README, Error codes). */
const PROTOCOL_CODES = [
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_REQUEST",
  "REQUEST_ENTITY_TOO_LARGE",
  // GRAPHQL_MAX_DEPTH, _ALIASES, _DIRECTIVES, _TOKENS, _COST (src/graphql/limits.ts).
  "QUERY_TOO_COMPLEX",
  // An operationName that names no operation, or several operations and none named.
  "OPERATION_RESOLUTION_FAILURE",
] as const;
/** INTERNAL_SERVER_ERROR is deliberately absent: no generated input may reach an unexpected failure. */
const KNOWN_CODES = new Set<string>([...Object.keys(DOMAIN_CODES), ...PROTOCOL_CODES]);
/** Domain codes no generated input should cause: the database stays up, the rate limit far away. */
const UNREACHED = new Set(["SERVICE_UNAVAILABLE", "RATE_LIMITED"]);

// ---------------------------------------------------------------------------------------------
// Callers, and the README's access rules for them

const CALLERS = {
  staff: { sub: "staff-1", scope: "metadata.write", permissions: ["CAN_MUTATE_METADATA"], client_id: "corpus-app" },
  user: {
    sub: "u1",
    email: "u1@example.com",
    accounts: ["A-1"],
    orgs: ["ORG-1"],
    scope: "metadata.read metadata.write",
    client_id: "web",
  },
  reader: { sub: "r1", accounts: ["A-1"], scope: "metadata.read" },
  otherTenant: {
    tenant: "other",
    sub: "staff-2",
    scope: "metadata.write",
    permissions: ["CAN_MUTATE_METADATA"],
    client_id: "corpus-app",
  },
  anonymous: undefined,
} satisfies Record<string, TestClaims | undefined>;
type CallerName = keyof typeof CALLERS;
const claimsOf = (caller: CallerName): TestClaims | undefined => CALLERS[caller];

/** What the README's access rules allow these callers (all staff ones carry a client_id). */
function allowed(caller: CallerName, access: "read" | "write", type: string, identifier: string, ns: unknown): boolean {
  const claims = claimsOf(caller);
  if (!claims) return false;
  if (claims.permissions?.includes("CAN_MUTATE_METADATA")) return true;
  const scopes = claims.scope?.split(" ") ?? [];
  if (!scopes.includes("metadata.write") && !(access === "read" && scopes.includes("metadata.read"))) return false;
  const reaches =
    (type === "USER" && identifier === claims.sub) ||
    (type === "ACCOUNT_USER" && (identifier === claims.sub || identifier === claims.email)) ||
    (type === "ACCOUNT" && (claims.accounts ?? []).includes(identifier)) ||
    (type === "ORGANIZATION" && (claims.orgs ?? []).includes(identifier));
  if (!reaches) return false;
  if (ns === "$app") return claims.client_id !== undefined;
  return ns == null || access === "read";
}

// ---------------------------------------------------------------------------------------------
// The README's input rules, as an oracle: a success must have had valid input

const KEY = /^[a-zA-Z0-9._-]{1,255}$/;
const KEY_PREFIX = /^[a-zA-Z0-9._-]{0,255}$/;
const NAMESPACE = /^(?:\$app|[a-zA-Z0-9._-]{1,64})$/;
const codePoints = (s: string) => [...s].length;
const INT_MAX = 2 ** 31 - 1;

const isType = (v: unknown): v is string =>
  typeof v === "string" && (LINKED_OBJECT_TYPES as readonly string[]).includes(v);
const isIdentifier = (v: unknown): v is string =>
  typeof v === "string" && codePoints(v) >= 1 && codePoints(v) <= 255 && !/\p{Cc}/u.test(v) && v.isWellFormed();
const isKey = (v: unknown): v is string => typeof v === "string" && KEY.test(v);
const isNamespace = (v: unknown): v is string | null | undefined =>
  v == null || (typeof v === "string" && NAMESPACE.test(v));
const isValue = (v: unknown): v is string =>
  typeof v === "string" && codePoints(v) <= MAX_VALUE_LENGTH && !v.includes("\u0000") && v.isWellFormed();
const isVersion = (v: unknown) => v == null || (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= INT_MAX);
const isFutureDate = (v: unknown) =>
  v == null || (typeof v === "string" && Date.parse(v) > Date.now() && Date.parse(v) < Date.UTC(10000, 0, 1));
const isPageSize = (v: unknown) => v == null || (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 500);

// ---------------------------------------------------------------------------------------------
// The model: every write answered with success, by stored scope and key

interface ModelEntry {
  value: string;
  version: number;
  expiresAt: string | null;
}

/** The stored namespace, as src/auth/policy.ts names it: "" default, the name, "$app:<client>". */
function storedNamespace(caller: CallerName, ns: string | null | undefined): string {
  if (ns == null) return "";
  return ns === "$app" ? `$app:${claimsOf(caller)?.client_id}` : ns;
}

class Model {
  readonly entries = new Map<string, ModelEntry>();

  static id(tenant: string, type: string, identifier: string, namespace: string, key: string): string {
    return JSON.stringify([tenant, type, identifier, namespace, key]);
  }

  idFor(caller: CallerName, type: string, identifier: string, ns: string | null | undefined, key: string): string {
    return Model.id(claimsOf(caller)?.tenant ?? "default", type, identifier, storedNamespace(caller, ns), key);
  }

  /** The entries of one object's namespace, ordered by key (ASCII keys: byte order). */
  scope(
    caller: CallerName,
    type: string,
    identifier: string,
    ns: string | null | undefined,
  ): { key: string; entry: ModelEntry }[] {
    const tenant = claimsOf(caller)?.tenant ?? "default";
    const namespace = storedNamespace(caller, ns);
    const entries: { key: string; entry: ModelEntry }[] = [];
    for (const [id, entry] of this.entries) {
      const [t, ty, i, n, key = ""] = JSON.parse(id) as string[];
      if (t === tenant && ty === type && i === identifier && n === namespace) entries.push({ key, entry });
    }
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Live keys of one object, every namespace together (METADATA_MAX_KEYS_PER_OBJECT counts these). */
  keysOfObject(caller: CallerName, type: string, identifier: string): number {
    const tenant = claimsOf(caller)?.tenant ?? "default";
    return [...this.entries.keys()].filter((id) => {
      const [t, ty, i] = JSON.parse(id) as string[];
      return t === tenant && ty === type && i === identifier;
    }).length;
  }

  fingerprint(): { rows: number; versions: number } {
    let versions = 0;
    for (const e of this.entries.values()) versions += e.version;
    return { rows: this.entries.size, versions };
  }
}

// ---------------------------------------------------------------------------------------------
// Generated requests

type Op = "update" | "delete" | "forKey" | "list" | "page";
/** A variable (or `input` field) of one of the operations. */
type Field = keyof typeof GOOD;
const DOCUMENTS: Record<Op, string> = {
  update: print(UpdateMetadata),
  delete: print(DeleteMetadata),
  forKey: print(GetMetadataForKey),
  list: print(GetMetadata),
  page: print(ListMetadata),
};
const FIELDS: Record<Op, readonly Field[]> = {
  update: ["linkedObjectType", "identifier", "key", "value", "namespace", "expiresAt", "expectedVersion"],
  delete: ["linkedObjectType", "identifier", "key", "namespace", "expectedVersion"],
  forKey: ["identifier", "key", "linkedObjectType", "namespace"],
  list: ["identifier", "linkedObjectType", "namespace"],
  page: ["linkedObjectType", "identifier", "namespace", "keyPrefix", "first", "after", "last", "before"],
};
/** Mutations take their fields in `input`; queries as variables. */
const takesInput = (op: Op) => op === "update" || op === "delete";

/** Resolved against the model when sent: the current version, one behind (stale), one ahead. */
const CURRENT = Symbol("current version");
const STALE = Symbol("stale version");
const AHEAD = Symbol("version ahead");
const VERSION_OFFSETS = new Map<unknown, number>([
  [CURRENT, 0],
  [STALE, -1],
  [AHEAD, 1],
]);

const IDENTIFIERS = ["A-1", "A-2", "u1", "u1@example.com", "ORG-1", "ｉｄ-ünï 😀", "P-1"];
const KEYS = ["k0", "k1", "k2", "k3", "a.b-c_D", "Z", "x".repeat(255)];

const controlChar = fc
  .oneof(fc.integer({ min: 0, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f }))
  .map((c) => String.fromCharCode(c));
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const anyChar = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: controlChar },
  { weight: 1, arbitrary: loneSurrogate },
  { weight: 1, arbitrary: fc.constantFrom("\u0000", "\u202e", "\ufeff", "\uffff", "'", '"', "\\", "$", "{", "\n") },
);
const nastyString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: anyChar, maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "",
      " ",
      "\u0000",
      "x".repeat(MAX_VALUE_LENGTH + 1),
      "😀".repeat(MAX_VALUE_LENGTH + 1),
      "é".repeat(256),
      "x".repeat(100_000),
      "k".repeat(256),
      "__proto__",
      "constructor",
      "$app",
      "$other",
      "' OR 1=1 --",
      "%s%n%x",
      "../../etc/passwd",
    ),
  },
);
/** Nested arrays or objects, deeper than anyone would send (built iteratively: no recursion). */
const deepJson = fc
  .record({ depth: fc.integer({ min: 50, max: 3000 }), arrays: fc.boolean() })
  .map(({ depth, arrays }) => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = arrays ? [value] : { a: value };
    return value;
  });
const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  deepJson,
);
// Far enough ahead not to expire while the corpus runs: the model never has to expire anything.
const futureIso = fc
  .date({ min: new Date(Date.now() + 86_400_000), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true })
  .map((d) => d.toISOString());
const pad = (n: number) => String(n).padStart(2, "0");
/** RFC 3339 with a UTC offset: the same instant written in another zone. */
const futureWithOffset = fc
  .record({ at: futureIso, minutes: fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }) })
  .map(({ at, minutes }) => {
    const local = new Date(Date.parse(at) + minutes * 60_000).toISOString().slice(0, 19);
    const sign = minutes < 0 ? "-" : "+";
    return `${local}${sign}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
  })
  // An offset can carry the last instants of 9999 past the four-digit years.
  .filter((text) => /^\d{4}-/.test(text));
/** The last day of year 9999 in every zone: some of these instants are in year 10000. */
const endOf9999 = fc
  .record({
    hour: fc.integer({ min: 0, max: 23 }),
    offset: fc.constantFrom("Z", "+00:00", "+23:59", "-01:00", "-23:59"),
  })
  .map(({ hour, offset }) => `9999-12-31T${pad(hour)}:59:59${offset}`);
const ODD_DATES = fc.constantFrom(
  "tomorrow",
  "",
  "2000-01-01T00:00:00Z",
  "1970-01-01T00:00:00Z",
  "0000-01-01T00:00:00Z",
  "2030-02-30T00:00:00Z",
  "2030-13-01T00:00:00Z",
  "2030-01-01T24:00:00Z",
  "2030-12-31T23:59:60Z",
  "2030-01-01",
  "2030-01-01T00:00:00",
  "2030-01-01t00:00:00z",
  "2030-01-01T00:00:00.123456789123Z",
  "2030-01-01T00:00:00+24:00",
  "2030-01-01T00:00:00+23:59",
  "9999-12-31T23:59:59Z",
  // Valid RFC 3339, but the offset carries the instant into year 10000.
  "9999-12-31T23:59:59-23:59",
  "+275760-09-13T00:00:00Z",
  "2030-01-01T00:00:00Z\u0000",
);

const GOOD = {
  // Most writes land on a few objects: keys collide, versions grow, objects fill up.
  linkedObjectType: fc.oneof(
    { weight: 6, arbitrary: fc.constant("ACCOUNT") },
    { weight: 1, arbitrary: fc.constantFrom(...LINKED_OBJECT_TYPES) },
  ),
  identifier: fc.oneof({ weight: 4, arbitrary: fc.constant("A-1") }, fc.constantFrom(...IDENTIFIERS)),
  key: fc.constantFrom(...KEYS),
  value: fc.oneof(
    fc.string({ unit: "binary", maxLength: MAX_VALUE_LENGTH }),
    fc.constantFrom('{"a":[1]}', "dark", "", "😀".repeat(MAX_VALUE_LENGTH), "[[[[[[[[]]]]]]]]"),
  ),
  namespace: fc.constantFrom(undefined, null, "billing", "$app"),
  expiresAt: fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: futureIso },
    { weight: 1, arbitrary: futureWithOffset },
    { weight: 1, arbitrary: endOf9999 },
  ),
  expectedVersion: fc.constantFrom(undefined, undefined, null, 0, CURRENT, CURRENT, STALE, AHEAD),
  keyPrefix: fc.constantFrom(undefined, null, "", "k", "a.", "x", "zz"),
  first: fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, fc.integer({ min: 0, max: 4 })),
  last: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, fc.integer({ min: 0, max: 4 })),
  after: fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    fc.constantFrom(...KEYS, "a", "k").map(encodeCursor),
  ),
  before: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, fc.constantFrom(...KEYS, "l").map(encodeCursor)),
} satisfies Record<string, fc.Arbitrary<unknown>>;
/** Queries default linkedObjectType to ACCOUNT (as Kraken does). */
const GOOD_OPTIONAL_TYPE = fc.oneof(fc.constant(undefined), GOOD.linkedObjectType);

const pageSizeBad = fc.oneof(fc.constantFrom(-1, 501, 500, 2 ** 31, 1.5, 1e10, "2"), fc.integer());
const cursorBad = fc.oneof(
  nastyString.map(encodeCursor),
  nastyString,
  fc.constantFrom("k1:", "azE6", "=", "####", encodeCursor("k\u0000"), encodeCursor("")),
);
const BAD_SPECIFIC: Partial<Record<Field, fc.Arbitrary<unknown>>> = {
  linkedObjectType: fc.constantFrom("FOO", "account", "ACCOUNT ", "", "__proto__"),
  namespace: fc.constantFrom("$app:web", "$APP", "billing ", "n".repeat(65), "$other", ""),
  expiresAt: fc.oneof(
    ODD_DATES,
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  ),
  expectedVersion: fc.oneof(
    fc.constantFrom(-1, -(2 ** 31), INT_MAX, 2 ** 31, 1e20, 1.5, 0.1, "1", AHEAD, STALE, CURRENT),
    fc.integer(),
  ),
  keyPrefix: fc.oneof(nastyString, fc.constant("k".repeat(256))),
  first: pageSizeBad,
  last: pageSizeBad,
  after: cursorBad,
  before: cursorBad,
};
const badValueFor = (field: Field): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 3, arbitrary: BAD_SPECIFIC[field] ?? nastyString },
    { weight: 2, arbitrary: nastyString },
    { weight: 2, arbitrary: wrongType },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

type Mutation =
  | { kind: "field"; field: Field; value: unknown }
  | { kind: "extraField"; name: string; value: unknown }
  | { kind: "extraVariable"; name: string; value: unknown }
  | { kind: "replaceInput"; value: unknown };

const extraName = fc.constantFrom("extra", "__proto__", "constructor", "input", "identifier", "bogus");
const mutationFor = (op: Op): fc.Arbitrary<Mutation> =>
  fc.oneof(
    {
      weight: 8,
      arbitrary: fc
        .constantFrom(...FIELDS[op])
        .chain((field) => badValueFor(field).map((value): Mutation => ({ kind: "field", field, value }))),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ name: extraName, value: fc.jsonValue({ maxDepth: 2 }) })
        .map(({ name, value }): Mutation => ({ kind: "extraField", name, value })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ name: extraName, value: fc.oneof(wrongType, nastyString) })
        .map(({ name, value }): Mutation => ({ kind: "extraVariable", name, value })),
    },
    { weight: 1, arbitrary: wrongType.map((value): Mutation => ({ kind: "replaceInput", value })) },
  );

interface GeneratedRequest {
  op: Op;
  caller: CallerName;
  /** The operation's fields, valid or not; `undefined` = left out. */
  fields: Record<string, unknown>;
  mutations: Mutation[];
}

const callerArb = fc.oneof(
  { weight: 5, arbitrary: fc.constant<CallerName>("staff") },
  { weight: 3, arbitrary: fc.constant<CallerName>("user") },
  { weight: 1, arbitrary: fc.constant<CallerName>("reader") },
  { weight: 1, arbitrary: fc.constant<CallerName>("otherTenant") },
  { weight: 1, arbitrary: fc.constant<CallerName>("anonymous") },
);

const requestFor = (op: Op): fc.Arbitrary<GeneratedRequest> => {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of FIELDS[op]) {
    fields[field] =
      field === "linkedObjectType" && (op === "forKey" || op === "list") ? GOOD_OPTIONAL_TYPE : GOOD[field];
  }
  return fc.record({
    op: fc.constant(op),
    caller: callerArb,
    fields: fc.record(fields),
    // Two in five requests keep their generated fields (mostly valid): successes keep the model busy.
    mutations: fc.oneof(
      { weight: 2, arbitrary: fc.constant<Mutation[]>([]) },
      { weight: 3, arbitrary: fc.array(mutationFor(op), { minLength: 1, maxLength: 3 }) },
    ),
  });
};
const requestArb = fc.oneof(
  { weight: 5, arbitrary: requestFor("update") },
  { weight: 2, arbitrary: requestFor("delete") },
  { weight: 2, arbitrary: requestFor("forKey") },
  { weight: 1, arbitrary: requestFor("list") },
  { weight: 2, arbitrary: requestFor("page") },
);

/** Defines even `__proto__` as a plain own property, as JSON.parse on the server will. */
function define(target: Record<string, unknown>, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, enumerable: true, configurable: true, writable: true });
}

// ---------------------------------------------------------------------------------------------
// Responses

interface GraphQLErrorBody {
  message: string;
  extensions: Record<string, unknown> & { code: string };
}
interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: GraphQLErrorBody[];
}
interface Entry {
  key: string;
  value: string;
  jsonValue?: unknown;
  namespace?: string | null;
  linkedObjectType?: string;
  identifier?: string;
  version: number;
  expiresAt?: string | null;
}

// A V8 stack frame ("at fn (file.ts:1:2)"), or the SQL and driver words a masked error must not show.
const STACK_FRAME = /\bat [^\n]*\.(?:[cm]?[jt]s|wasm):\d+:\d+/;
const LEAKS = /INSERT INTO|ON CONFLICT|duplicate key|deadlock detected|violates|node_modules|PrismaClient/;

function violation(what: string, status: number, text: string, request: unknown): never {
  const shown = (() => {
    try {
      return JSON.stringify(request, (_k, v: unknown) =>
        typeof v === "symbol" ? String(v) : typeof v === "string" && v.length > 300 ? `${v.slice(0, 300)}…` : v,
      ).slice(0, 2000);
    } catch {
      return "(request too deep to print)";
    }
  })();
  throw new Error(`${what}\n  request: ${shown}\n  response ${status}: ${text.slice(0, 2000)}`);
}

/** Finds a `stack` property or a stack-frame line anywhere in a parsed body (iteratively). */
function findStack(body: unknown): string | undefined {
  const pending: unknown[] = [body];
  while (pending.length) {
    const value = pending.pop();
    if (typeof value === "string") {
      if (STACK_FRAME.test(value)) return value;
    } else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) {
        if (k === "stack") return `property 'stack': ${typeof v === "string" ? v.slice(0, 200) : typeof v}`;
        pending.push(v);
      }
    }
  }
  return undefined;
}

/**
 * The per-response invariants: status < 500, JSON, a GraphQL result (a list of them for a batch:
 * a JSON array body), known codes only, no stack trace, no SQL or driver detail.
 */
function checkResponse(status: number, text: string, request: unknown, { batch = false } = {}): GraphQLBody {
  const fail = (what: string) => violation(what, status, text, request);
  if (status >= 500) fail(`HTTP ${status}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    fail("the body is not JSON");
  }
  // A batch answers one result per operation: none for an empty batch.
  const results = batch && Array.isArray(body) ? body : [body];
  for (const item of results) {
    if (!item || typeof item !== "object" || Array.isArray(item)) fail("not a GraphQL result");
    const result = item as Record<string, unknown>;
    if (!("data" in result) && !("errors" in result)) fail("neither data nor errors");
    if ("data" in result && result.data !== null && (typeof result.data !== "object" || Array.isArray(result.data))) {
      fail("data is not an object");
    }
    if ("errors" in result) {
      if (!Array.isArray(result.errors) || result.errors.length === 0) fail("errors is not a list");
      for (const error of result.errors as unknown[]) {
        const e = error as Partial<GraphQLErrorBody> | null;
        if (typeof e?.message !== "string") fail("an error without a message");
        const code = e?.extensions?.code;
        if (typeof code !== "string" || !KNOWN_CODES.has(code))
          fail(`an error with code ${typeof code === "string" ? code : typeof code}`);
      }
    }
  }
  const stack = findStack(body);
  if (stack) fail(`a stack trace: ${stack.slice(0, 300)}`);
  if (LEAKS.test(text)) fail("SQL or driver details");
  return results[0] as GraphQLBody;
}

function asEntry(value: unknown, status: number, text: string, request: unknown): Entry {
  const e = value as Partial<Entry> | null;
  if (typeof e?.key !== "string" || typeof e.value !== "string" || typeof e.version !== "number") {
    violation("a success without a well-formed entry", status, text, request);
  }
  return e as Entry;
}

// ---------------------------------------------------------------------------------------------

describe.each(backends)("bad input corpus on $name", (backend) => {
  let t: TestApp;
  const tokens = new Map<CallerName, string | undefined>();
  const model = new Model();
  let sent = 0;
  /** How the generated operations were answered: "OK" or the first error's code. */
  const answers = new Map<string, number>();

  beforeAll(async () => {
    t = await createTestApp(backend, {
      METADATA_MAX_VALUE_LENGTH: String(MAX_VALUE_LENGTH),
      METADATA_MAX_KEYS_PER_OBJECT: String(MAX_KEYS_PER_OBJECT),
    });
    for (const caller of Object.keys(CALLERS) as CallerName[]) {
      const claims = claimsOf(caller);
      tokens.set(caller, claims ? await t.token(claims) : undefined);
    }
  });
  afterAll(() => t?.close());

  async function send(
    body: RequestInit["body"],
    {
      method = "POST",
      headers = {},
      path = "/graphql",
    }: { method?: string; headers?: Record<string, string>; path?: string },
  ) {
    sent++;
    const response = await t.app.yoga.fetch(`http://yoga${path}`, { method, headers, body });
    return { status: response.status, text: await response.text() };
  }

  /** Rows and the sum of versions in the table: any unexpected write changes one of them. */
  async function fingerprint() {
    const [row] = await t.db.sql.query<{ rows: number; versions: number }>(
      "SELECT count(*)::int AS rows, coalesce(sum(version), 0)::int AS versions FROM metadata",
      [],
    );
    return row;
  }

  /** The variables as sent: mutations applied, symbolic versions resolved against the model. */
  function variablesOf(request: GeneratedRequest): Record<string, unknown> {
    const fields: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(request.fields)) define(fields, name, value);
    let replacedInput: { value: unknown } | undefined;
    const extras: [string, unknown][] = [];
    for (const m of request.mutations) {
      if (m.kind === "field" || m.kind === "extraField") define(fields, m.kind === "field" ? m.field : m.name, m.value);
      else if (m.kind === "extraVariable") extras.push([m.name, m.value]);
      else replacedInput = { value: m.value };
    }
    const offset = VERSION_OFFSETS.get(fields.expectedVersion);
    if (offset !== undefined) {
      const { linkedObjectType: type, identifier, namespace, key } = fields;
      const id =
        isType(type) && isIdentifier(identifier) && isNamespace(namespace) && isKey(key)
          ? model.idFor(request.caller, type, identifier, namespace, key)
          : undefined;
      define(fields, "expectedVersion", (id ? (model.entries.get(id)?.version ?? 0) : 0) + offset);
    }
    const variables: Record<string, unknown> = {};
    if (takesInput(request.op)) define(variables, "input", replacedInput ? replacedInput.value : fields);
    else for (const [name, value] of Object.entries(fields)) define(variables, name, value);
    for (const [name, value] of extras) define(variables, name, value);
    return variables;
  }

  async function run(request: GeneratedRequest): Promise<void> {
    const variables = variablesOf(request);
    const token = tokens.get(request.caller);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const shown = { op: request.op, caller: request.caller, variables };
    const { status, text } = await send(JSON.stringify({ query: DOCUMENTS[request.op], variables }), { headers });
    const body = checkResponse(status, text, shown);
    const fail: (what: string) => never = (what) => violation(what, status, text, shown);
    const input = (takesInput(request.op) ? variables.input : variables) as Record<string, unknown>;
    const error = body.errors?.[0];

    // Well-typed enough to name a stored entry: the only requests the model can judge further.
    const readType =
      input?.linkedObjectType ?? (request.op === "forKey" || request.op === "list" ? "ACCOUNT" : undefined);
    const named = typeof input === "object" && input !== null && isType(readType) && isIdentifier(input.identifier);
    // Generated values include objects without a prototype: String() would throw on them.
    const type = typeof readType === "string" ? readType : "";
    const identifier = typeof input?.identifier === "string" ? input.identifier : "";
    const id =
      named && isKey(input.key) && isNamespace(input.namespace)
        ? model.idFor(request.caller, type, identifier, input.namespace, input.key)
        : undefined;
    const previous = id ? model.entries.get(id) : undefined;
    const code = error?.extensions.code;
    answers.set(code ?? "OK", (answers.get(code ?? "OK") ?? 0) + 1);

    switch (request.op) {
      case "update": {
        const result = body.data?.updateMetadata as { metadata: unknown } | undefined;
        if (result && !error) {
          const entry = asEntry(result.metadata, status, text, shown);
          // Recorded first: the model must follow the table even when a check below fails.
          if (!id) fail("a write succeeded with input the model cannot name");
          model.entries.set(id, { value: entry.value, version: entry.version, expiresAt: entry.expiresAt ?? null });
          if (
            !isValue(input.value) ||
            !isNamespace(input.namespace) ||
            !isFutureDate(input.expiresAt) ||
            !isVersion(input.expectedVersion)
          ) {
            fail("a write succeeded with input the README's rules refuse");
          }
          if (!allowed(request.caller, "write", type, identifier, input.namespace))
            fail("a write the access rules refuse");
          if (entry.value !== input.value || entry.key !== input.key || entry.identifier !== identifier) {
            fail("the entry is not what was sent");
          }
          if (entry.version !== (previous?.version ?? 0) + 1) fail("the version is not the previous one + 1");
          if (typeof input.expectedVersion === "number" && input.expectedVersion !== (previous?.version ?? 0)) {
            fail("a compare-and-set succeeded at the wrong version");
          }
          if (!previous && model.keysOfObject(request.caller, type, identifier) > MAX_KEYS_PER_OBJECT) {
            fail("a new key passed METADATA_MAX_KEYS_PER_OBJECT");
          }
          const sentExpiry = typeof input.expiresAt === "string" ? new Date(input.expiresAt).toISOString() : null;
          if ((entry.expiresAt ?? null) !== sentExpiry) fail("expiresAt is not what was sent");
        } else if (code === "VERSION_CONFLICT" && id) {
          if (error?.extensions.currentVersion !== (previous?.version ?? 0))
            fail("currentVersion is not the current one");
          if (input.expectedVersion === (previous?.version ?? 0)) fail("a conflict at the current version");
        } else if (code === "LIMIT_EXCEEDED" && id) {
          if (previous) fail("LIMIT_EXCEEDED on an update of an existing key");
          if (model.keysOfObject(request.caller, type, identifier) < MAX_KEYS_PER_OBJECT)
            fail("LIMIT_EXCEEDED below the limit");
        }
        break;
      }
      case "delete": {
        const result = body.data?.deleteMetadata as { metadata: unknown } | undefined;
        if (result && !error) {
          const entry = asEntry(result.metadata, status, text, shown);
          if (id) model.entries.delete(id);
          if (!id || !previous) fail("deleted an entry the model does not have");
          if (!allowed(request.caller, "write", type, identifier, input.namespace))
            fail("a delete the access rules refuse");
          if (entry.value !== previous.value || entry.version !== previous.version) fail("not the entry as it was");
          if (typeof input.expectedVersion === "number" && input.expectedVersion !== previous.version) {
            fail("a conditional delete at the wrong version");
          }
        } else if (code === "NOT_FOUND" && id && previous) {
          fail("NOT_FOUND for an entry the model has");
        } else if (code === "VERSION_CONFLICT" && id) {
          if (!previous || error?.extensions.currentVersion !== previous.version)
            fail("currentVersion is not the current one");
        }
        break;
      }
      case "forKey": {
        const found = body.data?.metadataForKey;
        if (found && !error) {
          const entry = asEntry(found, status, text, shown);
          if (!allowed(request.caller, "read", type, identifier, input.namespace))
            fail("a read the access rules refuse");
          if (!previous || entry.value !== previous.value || entry.version !== previous.version) {
            fail("metadataForKey does not answer the last successful write");
          }
        } else if (code === "NOT_FOUND" && id && previous) {
          fail("NOT_FOUND for an entry the model has");
        }
        break;
      }
      case "list": {
        const list = body.data?.metadata;
        if (Array.isArray(list) && !error) {
          if (
            !named ||
            !isNamespace(input.namespace) ||
            !allowed(request.caller, "read", type, identifier, input.namespace)
          )
            fail("a list the rules refuse");
          const expected = model.scope(request.caller, type, identifier, input.namespace);
          const actual = list.map((e) => asEntry(e, status, text, shown));
          expect(actual.map((e) => [e.key, e.value, e.version])).toEqual(
            expected.map((e) => [e.key, e.entry.value, e.entry.version]),
          );
        }
        break;
      }
      case "page": {
        const page = body.data?.metadataList as
          | { totalCount: number; edges: { node: { key: string; value: string; version: number } }[] }
          | undefined;
        if (page && !error) {
          if (
            !named ||
            !isNamespace(input.namespace) ||
            !allowed(request.caller, "read", type, identifier, input.namespace)
          )
            fail("a page the rules refuse");
          if (!isPageSize(input.first) || !isPageSize(input.last) || (input.first != null && input.last != null)) {
            fail("a page with a page size the README refuses");
          }
          const prefix = input.keyPrefix;
          if (prefix != null && (typeof prefix !== "string" || !KEY_PREFIX.test(prefix)))
            fail("a page with a bad keyPrefix");
          const cursorKey = (cursor: unknown) =>
            typeof cursor === "string" ? Buffer.from(cursor, "base64url").toString("utf8").slice(3) : undefined;
          const after = cursorKey(input.after);
          const before = cursorKey(input.before);
          for (const key of [after, before]) if (key !== undefined && !isKey(key)) fail("a forged cursor was accepted");
          const matching = model
            .scope(request.caller, type, identifier, input.namespace)
            .filter((e) => e.key.startsWith(typeof prefix === "string" ? prefix : ""));
          const bounded = matching.filter(
            (e) => (after === undefined || e.key > after) && (before === undefined || e.key < before),
          );
          const size = (input.first ?? input.last ?? 50) as number;
          const expected =
            input.last != null ? bounded.slice(Math.max(0, bounded.length - size)) : bounded.slice(0, size);
          if (page.totalCount !== matching.length) fail("totalCount differs from the model");
          expect(page.edges.map((e) => [e.node.key, e.node.value, e.node.version])).toEqual(
            expected.map((e) => [e.key, e.entry.value, e.entry.version]),
          );
        }
        break;
      }
    }

    // A refused request, or any read, writes nothing; a success changes exactly the model's entry.
    if (request.op === "update" || request.op === "delete") {
      expect(await fingerprint(), "the table after this request").toEqual(model.fingerprint());
    }
  }

  it("answers every generated operation with a coded GraphQL result; successes follow the README's rules", async () => {
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(fc.array(requestArb, { minLength: 1, maxLength: 8 }), async (requests) => {
        for (const request of requests) await run(request);
      }),
      { seed: SEED, numRuns: OPERATION_RUNS },
    );
    const tally = JSON.stringify(Object.fromEntries([...answers].sort(([, a], [, b]) => b - a)));
    console.info(
      `[${backend.name}] operation corpus: ${sent} requests in ${Date.now() - started} ms (seed ${SEED}) ${tally}`,
    );
    expect(sent).toBeGreaterThan(2000);
    // The corpus reached every kind of answer: a generator that drifted into trivia would not.
    for (const answer of ["OK", ...Object.keys(DOMAIN_CODES).filter((c) => !UNREACHED.has(c))]) {
      expect(answers.get(answer), answer).toBeGreaterThan(0);
    }
    // The table holds exactly the writes answered with success: no more, no less, no other value.
    const rows = await t.db.prisma.metadata.findMany();
    const table = new Map(
      rows.map((r) => [
        Model.id(r.tenant, r.linkedObjectType, r.identifier, r.namespace, r.key),
        { value: r.value, version: r.version, expiresAt: r.expiresAt?.toISOString() ?? null },
      ]),
    );
    expect(table.size).toBe(rows.length);
    expect(Object.fromEntries(table)).toEqual(Object.fromEntries(model.entries));
    expect(model.entries.size).toBeGreaterThan(20);
  }, 120_000);

  // Bodies that are not a GraphQL request at all, or barely.
  const validUpdate = print(UpdateMetadata);
  const RAW_BODIES = [
    "",
    "not json",
    "{",
    '{"query":',
    "null",
    "true",
    "42",
    '"query"',
    "[]",
    "[1,2,3]",
    `[{"query":${JSON.stringify(validUpdate)}}]`,
    "{}",
    '{"query":null}',
    '{"query":5}',
    '{"query":["{ __typename }"]}',
    '{"query":{"kind":"Document"}}',
    '{"query":true}',
    '{"query":""}',
    '{"query":"{ __typename }","variables":"x"}',
    '{"query":"{ __typename }","variables":[1]}',
    '{"query":"{ __typename }","operationName":5}',
    '{"query":"{ __typename }","operationName":"Nope"}',
    '{"query":"{ __typename }","extensions":"x"}',
    '{"query":"query A { __typename } query B { __typename }"}',
    '{"query":"subscription { x }"}',
    '{"query":"{ metadataForKey(identifier: \\"A-1\\", key: \\"k\\", linkedObjectType: FOO) { key } }"}',
    '{"query":"{ metadataForKey(identifier: 5, key: \\"k\\") { key } }"}',
    '{"query":"mutation { updateMetadata(input: {linkedObjectType: ACCOUNT, identifier: \\"A-1\\", key: \\"k\\", value: \\"v\\", expiresAt: \\"tomorrow\\"}) { metadata { key } } }"}',
    '{"query":"{ metadata(identifier: \\"A-1\\") { nope } }"}',
    '{"query":"{ __schema { types { name } } }"}',
    '{"query":"\\u0000"}',
    '{"query":"{ metadata(identifier: \\"\\ud800\\") { key } }"}',
    `{"query":${JSON.stringify(`{${"a{".repeat(20_000)}${"}".repeat(20_000)}}`)}}`,
    `{"query":"{ __typename }","variables":${"[".repeat(100_000)}${"]".repeat(100_000)}}`,
    `{"query":"{ __typename }","variables":{"deep":${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}}}`,
    `{"query":${JSON.stringify(`{ metadata(identifier: ${"[".repeat(5_000)}"A-1"${"]".repeat(5_000)}) { key } }`)}}`,
    `{"query":${JSON.stringify(`{ ${Array.from({ length: 3_000 }, (_, i) => `a${i}: __typename`).join(" ")} }`)}}`,
  ];
  const GARBAGE_BYTES = [
    new Uint8Array([0xff, 0xfe, 0xfd]),
    new Uint8Array([0x7b, 0x22, 0x71, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]),
    new Uint8Array([0x00, 0x00, 0x00]),
  ];
  const CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-16",
    "application/graphql-response+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/graphql",
    "",
  ];
  const rawBody = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...RAW_BODIES) },
    { weight: 2, arbitrary: fc.string({ unit: anyChar, maxLength: 200 }) },
    { weight: 2, arbitrary: fc.json({ maxDepth: 3 }) },
    {
      weight: 3,
      arbitrary: fc
        .record(
          {
            query: fc.oneof(fc.string({ unit: anyChar, maxLength: 80 }), wrongType, fc.constantFrom(validUpdate)),
            variables: fc.oneof(wrongType, nastyString, fc.dictionary(nastyString, fc.jsonValue(), { maxKeys: 3 })),
            operationName: fc.oneof(nastyString, wrongType),
            extensions: fc.oneof(wrongType, nastyString),
          },
          { requiredKeys: [] },
        )
        .map((r) => JSON.stringify(r)),
    },
    { weight: 1, arbitrary: fc.constantFrom(...GARBAGE_BYTES) },
  );
  const rawRequest = fc.record({
    method: fc.constantFrom("POST", "POST", "POST", "GET", "PUT", "PATCH", "DELETE"),
    contentType: fc.constantFrom(...CONTENT_TYPES),
    body: rawBody,
    caller: callerArb,
    search: fc.oneof(
      fc.constant(""),
      // Byte by byte: encodeURIComponent throws on a lone surrogate.
      fc
        .string({ unit: anyChar, maxLength: 40 })
        .map((q) => `?query=${[...Buffer.from(q)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")}`),
      fc.constantFrom(
        `?query=${encodeURIComponent(validUpdate)}`,
        "?query={__typename}&variables=not-json",
        "?query={__typename}&variables=[1]",
        "?query=%ZZ",
        "?query=&query=",
      ),
    ),
  });

  it("answers malformed HTTP requests with a coded 4xx (or a result), and they write nothing", async () => {
    const before = await fingerprint();
    const started = Date.now();
    const sentBefore = sent;
    await fc.assert(
      fc.asyncProperty(rawRequest, async ({ method, contentType, body, caller, search }) => {
        const headers: Record<string, string> = { accept: "application/json" };
        if (contentType) headers["content-type"] = contentType;
        const token = tokens.get(caller);
        if (token) headers.authorization = `Bearer ${token}`;
        const hasBody = method !== "GET";
        const { status, text } = await send(hasBody ? body : undefined, {
          method,
          headers,
          path: `/graphql${hasBody ? "" : search}`,
        });
        const shown = { method, contentType, search, body: typeof body === "string" ? body.slice(0, 500) : [...body] };
        // A JSON array is a batch (GRAPHQL_MAX_BATCH): one result per operation.
        const batch = hasBody && typeof body === "string" && body.trimStart().startsWith("[");
        checkResponse(status, text, shown, { batch });
      }),
      { seed: SEED, numRuns: RAW_RUNS },
    );
    console.info(`[${backend.name}] raw corpus: ${sent - sentBefore} requests in ${Date.now() - started} ms`);
    expect(await fingerprint()).toEqual(before);
  }, 120_000);
});

// One request each for what the corpus found failing (5xx, uncoded errors, bare answers).
describe.each(backends)("requests the corpus found failing, on $name", (backend) => {
  let t: TestApp;
  let staff: string;

  beforeAll(async () => {
    // The default value length, so that deeply nested JSON fits; a token limit the parser's stack cannot reach.
    t = await createTestApp(backend, { GRAPHQL_MAX_TOKENS: "1000000" });
    staff = await t.token(CALLERS.staff);
  });
  afterAll(() => t?.close());

  async function request(init: { method?: string; search?: string; contentType?: string; body?: string }) {
    const headers: Record<string, string> = { accept: "application/json", authorization: `Bearer ${staff}` };
    if (init.contentType) headers["content-type"] = init.contentType;
    const { method = "POST", search = "", body } = init;
    const response = await t.app.yoga.fetch(`http://yoga/graphql${search}`, { method, headers, body });
    const text = await response.text();
    const result = checkResponse(response.status, text, init, { batch: body?.startsWith("[") });
    const results = (body?.startsWith("[") ? JSON.parse(text) : [result]) as GraphQLBody[];
    return {
      status: response.status,
      result,
      codes: results.flatMap((r) => r.errors ?? []).map((e) => e.extensions.code),
    };
  }
  const json = (query: string, variables?: unknown) =>
    request({ contentType: "application/json", body: JSON.stringify({ query, variables }) });

  it("answers a value of JSON nested past MAX_JSON_DEPTH with jsonValue null, on write and on every read", async () => {
    const object = { linkedObjectType: "ACCOUNT", identifier: "A-deep" };
    const deep = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
    const limit = `${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)}`;
    const update =
      "mutation($input: MetadataInput!) { updateMetadata(input: $input) { metadata { value jsonValue } } }";
    const written = await json(update, { input: { ...object, key: "deep", value: deep } });
    expect(written.codes).toEqual([]);
    expect(written.result.data?.updateMetadata).toEqual({ metadata: { value: deep, jsonValue: null } });
    const atLimit = await json(update, { input: { ...object, key: "limit", value: limit } });
    expect(atLimit.codes).toEqual([]);
    const atLimitEntry = atLimit.result.data?.updateMetadata as { metadata: Entry } | undefined;
    expect(Array.isArray(atLimitEntry?.metadata.jsonValue)).toBe(true);

    const list = await json('{ metadata(identifier: "A-deep") { key value jsonValue } }');
    expect(list.codes).toEqual([]);
    const entries = list.result.data?.metadata as Entry[];
    expect(entries.map((e) => [e.key, e.value === deep || e.value === limit, e.jsonValue === null])).toEqual([
      ["deep", true, true],
      ["limit", true, false],
    ]);
  });

  it.each([
    [
      "GET, variables not JSON",
      { method: "GET", search: "?query={__typename}&variables=not-json" },
      400,
      "BAD_REQUEST",
    ],
    ["GET, extensions not JSON", { method: "GET", search: "?query={__typename}&extensions=x" }, 400, "BAD_REQUEST"],
    [
      "form post, variables not JSON",
      { contentType: "application/x-www-form-urlencoded", body: "query={__typename}&variables=bad" },
      400,
      "BAD_REQUEST",
    ],
    [
      "multipart post without operations",
      {
        contentType: "multipart/form-data; boundary=x",
        body: '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
      },
      400,
      "BAD_REQUEST",
    ],
    ["unsupported content type", { contentType: "text/plain", body: "{ __typename }" }, 415, "BAD_REQUEST"],
    ["no content type", { body: "{ __typename }" }, 415, "BAD_REQUEST"],
    [
      "a list literal nested past the parser's stack",
      {
        contentType: "application/json",
        body: JSON.stringify({
          query: `{ metadata(identifier: ${"[".repeat(20_000)}"A"${"]".repeat(20_000)}) { key } }`,
        }),
      },
      200,
      "GRAPHQL_PARSE_FAILED",
    ],
    [
      "a batch with a missing variable",
      { contentType: "application/json", body: JSON.stringify([{ query: print(UpdateMetadata) }]) },
      200,
      "BAD_USER_INPUT",
    ],
  ])("%s: status %s, code %s", async (_what, init, status, code) => {
    const answer = await request(init);
    expect([answer.status, answer.codes]).toEqual([status, [code]]);
  });
});
