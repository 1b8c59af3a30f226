/**
 * The seeded data set, defined once for the SQL that writes it and the load that reads it back:
 * row i (0 ≤ i < rows) is tenant `t<i % 3>`, identifier `A-<⌊i/3⌋ mod identifiers>` (default 10,000), key
 * `pref.theme.<i>`, linked object type ACCOUNT, default namespace, a JSON value of about 100 bytes.
 * Each object (tenant, identifier) holds about rows / (3 × identifiers) keys.
 */
export const TENANTS = ["t0", "t1", "t2"] as const;
export const IDENTIFIERS = 10_000;
export const LINKED_OBJECT_TYPE = "ACCOUNT";
export const KEY_PREFIX = "pref.theme.";

export interface EntryRef {
  tenant: string;
  identifier: string;
  key: string;
}

export function seededEntry(i: number, identifiers: number): EntryRef {
  return {
    tenant: `t${i % TENANTS.length}`,
    identifier: `A-${Math.floor(i / TENANTS.length) % identifiers}`,
    key: `${KEY_PREFIX}${i}`,
  };
}

export function randomInt(below: number): number {
  return Math.floor(Math.random() * below);
}

export function randomSeededEntry(rows: number, identifiers: number): EntryRef {
  return seededEntry(randomInt(rows), identifiers);
}

/**
 * `INSERT … SELECT … FROM generate_series` of the whole data set into `table` (PostgreSQL and
 * PGlite alike). `rows` is an integer we computed, never user text.
 */
export function seedSql(table: string, rows: number, identifiers: number): string {
  if (!Number.isSafeInteger(rows) || rows < 0) throw new Error(`bad row count ${rows}`);
  if (!Number.isSafeInteger(identifiers) || identifiers < 1) throw new Error(`bad identifier count ${identifiers}`);
  const n = TENANTS.length;
  return `INSERT INTO ${table} (tenant, linked_object_type, identifier, namespace, key, value)
SELECT 't' || (i % ${n}), '${LINKED_OBJECT_TYPE}', 'A-' || ((i / ${n}) % ${identifiers}), '', '${KEY_PREFIX}' || i,
  format('{"theme":"%s","size":%s,"id":"%s","note":"%s"}', (ARRAY['dark','light','auto'])[1 + i % 3], i % 17,
    md5(i::text), md5((i * 7)::text))
FROM generate_series(0, ${rows - 1}) AS i`;
}

const THEMES = ["dark", "light", "auto"];
const hex = (length: number) => Array.from({ length }, () => randomInt(16).toString(16)).join("");
/** A pool of values shaped like the seeded ones (about 100 bytes), so writes cost no CPU to invent. */
const VALUES = Array.from(
  { length: 512 },
  (_, i) => `{"theme":"${THEMES[i % 3]}","size":${i % 17},"id":"${hex(32)}","note":"${hex(32)}"}`,
);

export function randomValue(): string {
  return VALUES[randomInt(VALUES.length)] ?? "{}";
}

let newKeyCounter = 0;
const runTag = hex(6);
/** A key no row has yet: distinct within this process, and across runs with near certainty. */
export function newKey(): string {
  newKeyCounter += 1;
  return `bench.new.${runTag}${newKeyCounter.toString(36)}`;
}
