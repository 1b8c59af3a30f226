import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  MAX_WAITING_SUMMARIES,
  OBSERVATION_DELAY_MS,
  observationQueue,
} from "../src/observability/observation-queue.js";
import { emptySummary, type RequestSummary } from "../src/observability/request-summary.js";

/**
 * Finished requests reach the observers in batches: within OBSERVATION_DELAY_MS, at once when the
 * queue is full or flushed, each observer through the whole batch in order.
 */

const summaryNumbered = (n: number): RequestSummary => ({ ...emptySummary(0), requestId: `r-${n}`, processed: true });

describe("observation queue", () => {
  let seen: string[];
  let errors: unknown[];
  const observer =
    (name: string) =>
    ({ requestId }: RequestSummary) =>
      seen.push(`${name}:${requestId}`);

  beforeEach(() => {
    vi.useFakeTimers();
    seen = [];
    errors = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("observes nothing at once; everything waiting, together, once the delay is over", () => {
    const queue = observationQueue([observer("log"), observer("metrics")], (e) => errors.push(e));
    queue.add(summaryNumbered(1));
    vi.advanceTimersByTime(OBSERVATION_DELAY_MS / 2);
    queue.add(summaryNumbered(2));
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(OBSERVATION_DELAY_MS / 2 - 1);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(1);
    // Each observer through the batch in turn, in the order the responses went out.
    expect(seen).toEqual(["log:r-1", "log:r-2", "metrics:r-1", "metrics:r-2"]);
    // Nothing observed twice; the next summary starts a new delay.
    queue.add(summaryNumbered(3));
    vi.advanceTimersByTime(OBSERVATION_DELAY_MS);
    expect(seen.slice(4)).toEqual(["log:r-3", "metrics:r-3"]);
    expect(vi.getTimerCount()).toBe(0);
    expect(errors).toEqual([]);
  });

  it("a flush observes what waits now, and leaves no timer behind", () => {
    const queue = observationQueue([observer("log")], (e) => errors.push(e));
    queue.flush();
    expect(seen).toEqual([]);
    queue.add(summaryNumbered(1));
    queue.flush();
    expect(seen).toEqual(["log:r-1"]);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(OBSERVATION_DELAY_MS);
    expect(seen).toEqual(["log:r-1"]);
  });

  it("a full queue is observed at once, without waiting for the delay", () => {
    const queue = observationQueue([observer("log")], (e) => errors.push(e));
    for (let n = 1; n < MAX_WAITING_SUMMARIES; n++) queue.add(summaryNumbered(n));
    expect(seen).toEqual([]);
    queue.add(summaryNumbered(MAX_WAITING_SUMMARIES));
    expect(seen).toHaveLength(MAX_WAITING_SUMMARIES);
    expect(seen.at(-1)).toBe(`log:r-${MAX_WAITING_SUMMARIES}`);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("an observer that throws is reported; the other observers and the rest of the batch are still observed", () => {
    const failure = new Error("observer bug");
    const failing = ({ requestId }: RequestSummary) => {
      if (requestId === "r-1") throw failure;
      seen.push(`failing:${requestId}`);
    };
    const queue = observationQueue([failing, observer("metrics")], (e) => errors.push(e));
    queue.add(summaryNumbered(1));
    queue.add(summaryNumbered(2));
    vi.advanceTimersByTime(OBSERVATION_DELAY_MS);
    expect(seen).toEqual(["failing:r-2", "metrics:r-1", "metrics:r-2"]);
    expect(errors).toEqual([failure]);
  });

  it("its timer does not hold the process open", () => {
    const timeouts = vi.spyOn(globalThis, "setTimeout");
    const queue = observationQueue([observer("log")], (e) => errors.push(e));
    queue.add(summaryNumbered(1));
    const timer = timeouts.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    queue.flush();
  });
});
