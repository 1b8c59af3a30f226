import type { RequestSummary, SummaryObserver } from "./request-summary.js";

/** Longest a finished request's summary waits for its observers (its log line, its metrics). */
export const OBSERVATION_DELAY_MS = 10;
/** The summaries a queue holds at most: the one that fills it is observed with them at once, whatever the delay. */
export const MAX_WAITING_SUMMARIES = 256;

export interface ObservationQueue {
  /** A finished request's summary, observed within OBSERVATION_DELAY_MS. */
  add(summary: RequestSummary): void;
  /** Observes every waiting summary now: before a scrape, at shutdown. */
  flush(): void;
}

/**
 * Hands finished requests to the observers in batches, each observer going through the whole batch
 * in turn, instead of one request at a time as its response goes out. Between two responses a read
 * runs through the whole server, so the observers' code (the request line's building, the
 * histograms' lookups) ran cold each time: in callgrind's cache simulation of the bench's reads it
 * missed the L1 instruction cache and its branch predictor far more often than its instruction count
 * suggests (README, Performance). An observer that throws is reported to `onError` and the others,
 * and the rest of the batch, are still observed.
 */
export function observationQueue(
  observers: readonly SummaryObserver[],
  onError: (error: unknown) => void,
): ObservationQueue {
  let waiting: RequestSummary[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = waiting;
    if (batch.length === 0) return;
    waiting = [];
    for (const observe of observers) {
      for (const summary of batch) {
        try {
          observe(summary);
        } catch (error) {
          onError(error);
        }
      }
    }
  };
  return {
    add(summary) {
      waiting.push(summary);
      if (waiting.length >= MAX_WAITING_SUMMARIES) flush();
      else if (timer === undefined) {
        // Not holding the process open: shutdown flushes what is left (src/server.ts).
        timer = setTimeout(flush, OBSERVATION_DELAY_MS).unref();
      }
    },
    flush,
  };
}
