import { AsyncLocalStorage } from "node:async_hooks";
import { describe, expect, it } from "vitest";
import type { UpsertRow, Written } from "../src/features/metadata/metadata.repository.js";
import { createUpsertQueue } from "../src/features/metadata/metadata.upsert-queue.js";

/** A statement under the test's control: each call waits until the test settles it. */
function controlledStatement() {
  const calls: { rows: readonly UpsertRow[]; settle: (answer?: Error) => void }[] = [];
  const statement = (rows: readonly UpsertRow[]) =>
    new Promise<(Written | null)[]>((resolve, reject) => {
      calls.push({
        rows,
        settle: (error) => (error ? reject(error) : resolve(rows.map(writtenOf))),
      });
    });
  return { calls, statement };
}

function row(identifier: string, key: string): UpsertRow {
  return {
    scope: { tenant: "t", linkedObjectType: "ACCOUNT", identifier, namespace: "" },
    values: { key, value: "v", expiresAt: null, expectedVersion: undefined },
    maxKeysPerObject: 10,
    now: new Date(0),
    actor: "a",
  };
}

/** What the fake statement "wrote" for a row: enough to tell the answers apart. */
function writtenOf(r: UpsertRow): Written {
  return { row: { key: `${r.scope.identifier}/${r.values.key}` } } as unknown as Written;
}

const keysOf = (rows: readonly UpsertRow[]) => rows.map((r) => `${r.scope.identifier}/${r.values.key}`);
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("UpsertQueue", () => {
  it("sends a row at once, alone, while fewer than maxInFlight statements run", async () => {
    const { calls, statement } = controlledStatement();
    const queue = createUpsertQueue(statement, 2);
    const first = queue.upsert(row("A", "k"));
    const second = queue.upsert(row("B", "k"));
    expect(calls.map((c) => keysOf(c.rows))).toEqual([["A/k"], ["B/k"]]);
    for (const c of calls) c.settle();
    expect((await first)?.row.key).toBe("A/k");
    expect((await second)?.row.key).toBe("B/k");
  });

  it("queues rows while the statements run and sends them together, each answered on its own", async () => {
    const { calls, statement } = controlledStatement();
    const queue = createUpsertQueue(statement, 1);
    const first = queue.upsert(row("A", "k"));
    const queued = ["B", "C", "D"].map((id) => queue.upsert(row(id, "k")));
    expect(calls).toHaveLength(1);
    calls[0]?.settle();
    await first;
    expect(calls.map((c) => keysOf(c.rows))).toEqual([["A/k"], ["B/k", "C/k", "D/k"]]);
    calls[1]?.settle();
    expect((await Promise.all(queued)).map((w) => w?.row.key)).toEqual(["B/k", "C/k", "D/k"]);
  });

  it("puts one row per object in a statement, later rows of an object in later ones, in arrival order", async () => {
    const { calls, statement } = controlledStatement();
    const queue = createUpsertQueue(statement, 1);
    const all = [row("A", "0"), row("A", "1"), row("B", "1"), row("A", "2"), row("B", "2")].map((r) => queue.upsert(r));
    for (let i = 0; i < 4 && calls[i]; i++) {
      calls[i]?.settle();
      await tick();
    }
    await Promise.all(all);
    expect(calls.map((c) => keysOf(c.rows))).toEqual([["A/0"], ["A/1", "B/1"], ["A/2", "B/2"]]);
  });

  it("sends at most 64 rows in one statement", async () => {
    const { calls, statement } = controlledStatement();
    const queue = createUpsertQueue(statement, 1);
    const all = Array.from({ length: 66 }, (_, i) => queue.upsert(row(`O${i}`, "k")));
    calls[0]?.settle();
    await tick();
    calls[1]?.settle();
    await tick();
    calls[2]?.settle();
    await Promise.all(all);
    expect(calls.map((c) => c.rows.length)).toEqual([1, 64, 1]);
  });

  it("retries each row of a failed statement alone: only the bad row's request gets the error", async () => {
    const calls: string[][] = [];
    const queue = createUpsertQueue(async (rows) => {
      calls.push(keysOf(rows));
      if (rows.some((r) => r.values.key === "bad")) throw new Error("bad row");
      return rows.map(writtenOf);
    }, 1);
    const first = queue.upsert(row("A", "k"));
    const batch = [queue.upsert(row("B", "k")), queue.upsert(row("C", "bad")), queue.upsert(row("D", "k"))];
    await first;
    const settled = await Promise.allSettled(batch);
    expect(settled.map((s) => (s.status === "fulfilled" ? s.value?.row.key : (s.reason as Error).message))).toEqual([
      "B/k",
      "bad row",
      "D/k",
    ]);
    expect(calls).toEqual([["A/k"], ["B/k", "C/bad", "D/k"], ["B/k"], ["C/bad"], ["D/k"]]);
  });

  it("sends a queued batch in the asynchronous context of its first request (where its trace is)", async () => {
    const request = new AsyncLocalStorage<string>();
    const sentFrom: (string | undefined)[] = [];
    const { calls, statement } = controlledStatement();
    const queue = createUpsertQueue((rows) => {
      sentFrom.push(request.getStore());
      return statement(rows);
    }, 1);
    const first = request.run("first", () => queue.upsert(row("A", "k")));
    const second = request.run("second", () => queue.upsert(row("B", "k")));
    calls[0]?.settle();
    await first;
    calls[1]?.settle();
    await second;
    // Without the binding, the second statement would go out from the first one's continuation.
    expect(sentFrom).toEqual(["first", "second"]);
  });

  it("answers null for a row the statement did not write", async () => {
    const queue = createUpsertQueue(async (rows) => rows.map(() => null), 1);
    expect(await queue.upsert(row("A", "k"))).toBeNull();
  });
});
