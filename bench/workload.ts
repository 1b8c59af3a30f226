/** The requests of each scenario, and what a correct answer to each looks like. */
import { type EntryRef, KEY_PREFIX, newKey, randomInt, randomSeededEntry, randomValue, TENANTS } from "./dataset.js";
import type { Planned, Workload } from "./load.js";
import type { Authorizations } from "./tokens.js";
import type { WriteLedger } from "./verify.js";

const READ = `query Read($id: String!, $key: String!) { metadataForKey(identifier: $id, key: $key, linkedObjectType: ACCOUNT) { key value version } }`;
const WRITE = `mutation Write($input: MetadataInput!) { updateMetadata(input: $input) { metadata { key value version } } }`;
const LIST = `query List($id: String!, $prefix: String) { metadataList(linkedObjectType: ACCOUNT, identifier: $id, keyPrefix: $prefix, first: 50) { totalCount edges { node { key value } } } }`;

export interface Meta {
  op: "read" | "upsert" | "list";
  entry: EntryRef;
  isNew: boolean;
}

/** What a workload needs to know about the server it loads. */
export interface Target {
  rows: number;
  /** Identifiers the rows are spread over (dataset.ts). */
  identifiers: number;
  authorizations: Authorizations;
  ledger: WriteLedger;
}

export type WorkloadName = "read" | "upsert" | "list" | "mixed";

export function workload(name: WorkloadName, target: Target): Workload<Meta> {
  const auth = (tenant: string) => target.authorizations.get(tenant) ?? "";
  const read = (): Planned<Meta> => {
    const entry = randomSeededEntry(target.rows, target.identifiers);
    return {
      body: JSON.stringify({ query: READ, variables: { id: entry.identifier, key: entry.key } }),
      authorization: auth(entry.tenant),
      meta: { op: "read", entry, isNew: false },
    };
  };
  const upsert = (): Planned<Meta> => {
    const isNew = Math.random() < 0.5;
    const entry = isNew ? freshEntry(target) : randomSeededEntry(target.rows, target.identifiers);
    target.ledger.sent(entry, isNew);
    const input = { linkedObjectType: "ACCOUNT", identifier: entry.identifier, key: entry.key, value: randomValue() };
    return {
      body: JSON.stringify({ query: WRITE, variables: { input } }),
      authorization: auth(entry.tenant),
      meta: { op: "upsert", entry, isNew },
    };
  };
  const list = (): Planned<Meta> => {
    const entry = randomSeededEntry(target.rows, target.identifiers);
    return {
      body: JSON.stringify({ query: LIST, variables: { id: entry.identifier, prefix: KEY_PREFIX } }),
      authorization: auth(entry.tenant),
      meta: { op: "list", entry, isNew: false },
    };
  };
  const next = { read, upsert, list, mixed: () => (Math.random() < 0.9 ? read() : upsert()) }[name];
  return { next, accept: (meta, data) => accept(meta, data, target.ledger) };
}

/** A new key on an object that exists (seeded identifiers only: the per-object key limit stays far). */
function freshEntry({ rows, identifiers: spread }: Target): EntryRef {
  const identifiers = Math.min(spread, Math.ceil(rows / TENANTS.length));
  return {
    tenant: TENANTS[randomInt(TENANTS.length)] ?? "t0",
    identifier: `A-${randomInt(identifiers)}`,
    key: newKey(),
  };
}

interface EntryShape {
  key?: unknown;
  value?: unknown;
  version?: unknown;
}

function accept(meta: Meta, data: Record<string, unknown>, ledger: WriteLedger): string | undefined {
  switch (meta.op) {
    case "read": {
      const found = data.metadataForKey as EntryShape | null | undefined;
      if (found?.key !== meta.entry.key) return `metadataForKey(${meta.entry.identifier}, ${meta.entry.key}) missing`;
      if (typeof found.value !== "string" || typeof found.version !== "number") return "entry without value/version";
      return undefined;
    }
    case "upsert": {
      const written = (data.updateMetadata as { metadata?: EntryShape } | null | undefined)?.metadata;
      if (written?.key !== meta.entry.key || typeof written.version !== "number")
        return "updateMetadata answer malformed";
      if (meta.isNew && written.version !== 1) return `new key ${meta.entry.key} answered version ${written.version}`;
      ledger.acknowledge(meta.entry, meta.isNew, written.version);
      return undefined;
    }
    case "list": {
      const page = data.metadataList as { totalCount?: unknown; edges?: unknown } | null | undefined;
      if (typeof page?.totalCount !== "number" || !Array.isArray(page.edges)) return "metadataList answer malformed";
      if (page.totalCount < 1 || page.edges.length < 1) return `metadataList(${meta.entry.identifier}) empty`;
      return undefined;
    }
  }
}
