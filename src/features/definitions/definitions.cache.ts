import { randomUUID } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { Listener } from "../../db/notifications.js";
import { DEFINITIONS_CHANGED } from "./definitions.repository.js";

/** Tenants whose definitions stay in memory; the least recently used go first. */
const MAX_CACHED_TENANTS = 10_000;

/**
 * Each tenant's definitions in memory, so that a write to a key nobody defined costs no statement:
 * the hot path (updateMetadata) looks its key up in a Map.
 *
 * Coherent across instances through LISTEN/NOTIFY: every change notifies DEFINITIONS_CHANGED with
 * its tenant in the transaction that makes it, and every instance drops that tenant when it hears
 * it; this one drops it at once, after its own commit (`invalidate`), and ignores its own notices
 * (they come later, and would only drop what was loaded since). Only while the
 * subscription is live is anything kept: before the listening connection is up, while it is lost,
 * a load serves the requests that wait for it and is dropped (a notification could be missed).
 * Losing or regaining the connection drops everything. A load that a change overtook is not kept
 * (one generation counter: conservative, never stale).
 */
export function createDefinitionsCache<T extends object>(deps: {
  load: (tenant: string) => Promise<T>;
  listener: Listener;
}) {
  const tenants = new LRUCache<string, T | Promise<T>>({ max: MAX_CACHED_TENANTS });
  let generation = 0;
  const dropAll = () => {
    generation++;
    tenants.clear();
  };
  const invalidate = (tenant: string) => {
    generation++;
    tenants.delete(tenant);
  };
  /** Tells this instance's notices from others'. */
  const origin = randomUUID();
  const onMessage = (payload: string) => {
    const notice = parseNotice(payload);
    if (!notice) dropAll();
    else if (notice.origin !== origin) invalidate(notice.tenant);
  };
  const subscription = deps.listener.listen(DEFINITIONS_CHANGED, { onMessage, onReset: dropAll });

  return {
    /** The tenant's definitions: at once when cached, else one load shared by every caller meanwhile. */
    get(tenant: string): T | Promise<T> {
      const cached = tenants.get(tenant);
      if (cached) return cached;
      const started = generation;
      const loading = deps.load(tenant).then(
        (loaded) => {
          if (tenants.get(tenant) === loading) {
            if (generation === started && subscription.live) tenants.set(tenant, loaded);
            else tenants.delete(tenant);
          }
          return loaded;
        },
        (error: unknown) => {
          if (tenants.get(tenant) === loading) tenants.delete(tenant);
          throw error;
        },
      );
      tenants.set(tenant, loading);
      return loading;
    },
    /** After a change of the tenant's definitions committed here: the next `get` loads again. */
    invalidate,
    /** Resolves once changes made elsewhere reach this instance (until then nothing is kept). */
    ready: subscription.ready,
    /** The payload that tells every instance the tenant's definitions changed. */
    notice: (tenant: string): string => JSON.stringify({ tenant, origin }),
  };
}

function parseNotice(payload: string): { tenant: string; origin: string } | undefined {
  try {
    const notice = JSON.parse(payload) as { tenant?: unknown; origin?: unknown };
    if (typeof notice.tenant === "string" && typeof notice.origin === "string") {
      return { tenant: notice.tenant, origin: notice.origin };
    }
  } catch {}
  // Not ours to read (another version's format?): dropping everything is always safe.
  return undefined;
}
