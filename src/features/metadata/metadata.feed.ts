import { Repeater } from "graphql-yoga";
import { type ChangeFeed, type ChangeFilter, FeedOverflow, type MetadataChange, matches } from "./metadata.changes.js";

/**
 * Changes a subscriber may have delivered to it but not yet consumed (sent on its connection).
 * Past this, its stream ends with a FeedOverflow instead of holding ever more memory for a
 * consumer that does not read: ~1,000 entries of at most METADATA_MAX_VALUE_LENGTH each.
 */
export const MAX_PENDING_CHANGES = 1000;

/**
 * The in-process feed: every subscriber of this process sees every change published here that
 * matches its filter, in publication order. Embedded mode uses it alone (one process owns the
 * data); with PostgreSQL it is the local half of metadata.feed-postgres.ts.
 */
export function createLocalChangeFeed({
  maxPending = MAX_PENDING_CHANGES,
  onSubscribers,
}: {
  maxPending?: number;
  /** Told how many subscriptions this process serves, each time the number changes. */
  onSubscribers?: (count: number) => void;
} = {}): ChangeFeed {
  interface Subscriber {
    filter: ChangeFilter;
    deliver(change: MetadataChange): void;
  }
  const subscribers = new Set<Subscriber>();
  const stops = new Set<() => void>();
  let closed = false;
  const forget = (subscriber: Subscriber) => {
    if (subscribers.delete(subscriber)) onSubscribers?.(subscribers.size);
  };
  const endSubscriptions = () => {
    closed = true;
    for (const stop of [...stops]) stop();
  };

  return {
    publish(changes) {
      for (const change of changes) {
        for (const subscriber of subscribers) if (matches(subscriber.filter, change)) subscriber.deliver(change);
      }
    },

    subscribe(filter, signal) {
      return new Repeater<MetadataChange | FeedOverflow>(async (push, stop) => {
        if (closed || signal?.aborted) return stop();
        let pending = 0;
        const subscriber: Subscriber = {
          filter,
          deliver(change) {
            if (++pending > maxPending) {
              forget(subscriber);
              void push(new FeedOverflow(pending - 1));
              stop();
              return;
            }
            // Resolves once the consumer has taken it.
            void push(change).then(() => pending--);
          },
        };
        const end = () => stop();
        subscribers.add(subscriber);
        onSubscribers?.(subscribers.size);
        stops.add(end);
        signal?.addEventListener("abort", end, { once: true });
        await stop;
        forget(subscriber);
        stops.delete(end);
        signal?.removeEventListener("abort", end);
      });
    },

    endSubscriptions,
    async close() {
      endSubscriptions();
    },
  };
}
