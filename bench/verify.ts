/**
 * What the writes acknowledged, and the check that the table holds it: every acknowledged key at
 * a version ≥ the highest one returned for it, and as many rows as were seeded plus new keys.
 */
import type { EntryRef } from "./dataset.js";

/** Runs one parameterized statement (pg Pool or PGlite) and returns its rows. */
export type Query = <R>(text: string, params: unknown[]) => Promise<R[]>;

const id = (e: EntryRef) => `${e.tenant}\u0000${e.identifier}\u0000${e.key}`;

export class WriteLedger {
  /** tenant/identifier/key → highest version an upsert response returned. */
  readonly acknowledged = new Map<string, { entry: EntryRef; version: number }>();
  /** New keys sent (acknowledged or cut off in flight when a round ended). */
  readonly newSent = new Set<string>();
  readonly newAcknowledged = new Set<string>();

  constructor(
    readonly table: string,
    readonly seededRows: number,
  ) {}

  sent(entry: EntryRef, isNew: boolean): void {
    if (isNew) this.newSent.add(id(entry));
  }

  acknowledge(entry: EntryRef, isNew: boolean, version: number): void {
    const k = id(entry);
    if (isNew) this.newAcknowledged.add(k);
    const known = this.acknowledged.get(k);
    if (!known || known.version < version) this.acknowledged.set(k, { entry, version });
  }
}

export interface Verification {
  table: string;
  ok: boolean;
  acknowledgedKeys: number;
  rows: number;
  seededRows: number;
  newKeysAcknowledged: number;
  /** New keys whose request was still in flight when a round stopped: they may or may not exist. */
  newKeysInFlight: number;
  problems: string[];
}

const CHUNK = 20_000;

export async function verifyLedger(query: Query, ledger: WriteLedger): Promise<Verification> {
  const problems: string[] = [];
  const entries = [...ledger.acknowledged.values()];
  for (let start = 0; start < entries.length && problems.length < 10; start += CHUNK) {
    const chunk = entries.slice(start, start + CHUNK);
    const stale = await query<{
      tenant: string;
      identifier: string;
      key: string;
      acked: number;
      version: number | null;
    }>(
      `SELECT x.tenant, x.identifier, x.key, x.acked, m.version
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS x(tenant, identifier, key, acked)
       LEFT JOIN ${ledger.table} m ON m.tenant = x.tenant AND m.linked_object_type = 'ACCOUNT'
         AND m.identifier = x.identifier AND m.namespace = '' AND m.key = x.key
       WHERE m.version IS NULL OR m.version < x.acked
       LIMIT 10`,
      [
        chunk.map((e) => e.entry.tenant),
        chunk.map((e) => e.entry.identifier),
        chunk.map((e) => e.entry.key),
        chunk.map((e) => e.version),
      ],
    );
    for (const s of stale) {
      problems.push(
        `${s.tenant} ${s.identifier} ${s.key}: acknowledged version ${s.acked}, table has ${s.version ?? "no row"}`,
      );
    }
  }
  const [countRow] = await query<{ n: number | string }>(`SELECT count(*) AS n FROM ${ledger.table}`, []);
  const rows = Number(countRow?.n ?? -1);
  const low = ledger.seededRows + ledger.newAcknowledged.size;
  const high = ledger.seededRows + ledger.newSent.size;
  if (rows < low || rows > high) {
    problems.push(
      low === high
        ? `${rows} rows, expected ${low} (${ledger.seededRows} seeded + ${ledger.newAcknowledged.size} new keys)`
        : `${rows} rows, expected ${low}…${high} (${ledger.seededRows} seeded + ${ledger.newAcknowledged.size} new keys acknowledged, ${high - low} more in flight at a round's end)`,
    );
  }
  return {
    table: ledger.table,
    ok: problems.length === 0,
    acknowledgedKeys: entries.length,
    rows,
    seededRows: ledger.seededRows,
    newKeysAcknowledged: ledger.newAcknowledged.size,
    newKeysInFlight: ledger.newSent.size - ledger.newAcknowledged.size,
    problems,
  };
}
