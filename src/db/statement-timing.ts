// Not the global: `performance` on globalThis is an accessor, looked up again on every call.
import { performance } from "node:perf_hooks";

/** Sees the duration of one statement, in seconds (the metrics' histogram). */
export type StatementObserver = (seconds: number) => void;

/**
 * Who hears how long each statement a runner sends took, failed ones too (a timeout is the slowest
 * statement of all). The runners (sql.ts, pglite-sql.ts) call `done` where they already await the
 * driver: no promise, closure or frame of its own per statement. A wrapper around the runner that
 * did this (timed-sql.ts, until 2026-12-07) took 0.3–0.5 % of a point read's main-thread CPU in
 * profiles of the bench's read, most of it in the promise reaction it added to every statement.
 */
export class StatementTiming {
  // Replaced, never changed in place: a statement finishing during `add` sees one list or the other.
  private observers: readonly StatementObserver[] = [];

  /** Adds `observer`; the function returned removes it. */
  add(observer: StatementObserver): () => void {
    this.observers = [...this.observers, observer];
    return () => {
      this.observers = this.observers.filter((o) => o !== observer);
    };
  }

  /** A statement that started at `started` (performance.now()) has finished or failed. */
  done(started: number): void {
    const observers = this.observers;
    if (observers.length === 0) return;
    const seconds = (performance.now() - started) / 1000;
    for (const observe of observers) observe(seconds);
  }
}
