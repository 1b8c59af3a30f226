import { AsyncResource } from "node:async_hooks";
import type { UpsertRow, Written } from "./metadata.repository.js";

/** Sends rows as one statement; answers in their order, null for a row not written. */
export type UpsertStatement = (rows: readonly UpsertRow[]) => Promise<(Written | null)[]>;

interface Waiting {
  row: UpsertRow;
  resolve: (written: Written | null) => void;
  reject: (error: unknown) => void;
  /** Sends a batch; for a row left waiting, in the asynchronous context of its request (its trace). */
  sendHere: (batch: Waiting[]) => Promise<void>;
}

/** Most rows one statement carries. */
const MAX_BATCH = 64;

/**
 * Single-entry upserts from concurrent requests, coalesced into one statement each time the
 * database is busy: PostgreSQL's cost per statement (protocol, executor start, commit and its WAL
 * flush) is then paid once for the batch, not per request. While fewer than `maxInFlight`
 * statements run, a request's row goes out at once, alone: no timer, so an idle service adds no
 * latency. Otherwise it waits for a statement to finish, and the rows queued meanwhile go out
 * together. Each row keeps its own compare-and-set, key limit and clock, and its request gets its
 * own answer (null: not written). A batch carries at most one row per object: a row's key limit is
 * counted against the object without the statement's own rows, so two new keys of one object in
 * one statement could both pass it (a later row of the same object goes in a later statement, in
 * arrival order; statements running at once take the object's lock and count one after the other:
 * metadata.repository.ts, upsertStatement). If a batch's statement fails, each of its rows is
 * retried alone, so one bad row cannot fail the others: its own request gets the error.
 */
export function createUpsertQueue(statement: UpsertStatement, maxInFlight: number) {
  let waiting: Waiting[] = [];
  let inFlight = 0;

  /** The next batch, in arrival order: up to MAX_BATCH rows, at most one per object. */
  function takeBatch(): Waiting[] {
    const batch: Waiting[] = [];
    const later: Waiting[] = [];
    const objects = new Set<string>();
    for (const w of waiting) {
      const { tenant, linkedObjectType, identifier } = w.row.scope;
      const object = JSON.stringify([tenant, linkedObjectType, identifier]);
      if (batch.length < MAX_BATCH && !objects.has(object)) {
        objects.add(object);
        batch.push(w);
      } else {
        later.push(w);
      }
    }
    waiting = later;
    return batch;
  }

  async function send(batch: Waiting[]): Promise<void> {
    inFlight++;
    try {
      const written = await statement(batch.map((w) => w.row));
      for (const [i, w] of batch.entries()) w.resolve(written[i] ?? null);
    } catch (error) {
      if (batch.length === 1) batch[0]?.reject(error);
      else await Promise.all(batch.map((w) => statement([w.row]).then(([one]) => w.resolve(one ?? null), w.reject)));
    } finally {
      inFlight--;
      const next = takeBatch();
      void next[0]?.sendHere(next);
    }
  }

  return {
    upsert(row: UpsertRow): Promise<Written | null> {
      return new Promise((resolve, reject) => {
        const queued: Waiting = { row, resolve, reject, sendHere: send };
        waiting.push(queued);
        if (inFlight < maxInFlight) void send(takeBatch());
        // Still waiting (rows stay in arrival order): the batch it leads will be sent from the
        // continuation of another request's statement; bound here, it runs in this request's context.
        if (waiting.at(-1) === queued) queued.sendHere = AsyncResource.bind(send);
      });
    },
  };
}
