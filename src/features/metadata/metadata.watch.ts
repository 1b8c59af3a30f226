import { Repeater } from "graphql-yoga";
import { type DomainError, LimitExceeded, Unauthenticated } from "../../errors.js";
import { FeedOverflow, type MetadataChange } from "./metadata.changes.js";
import { MAX_PENDING_CHANGES } from "./metadata.feed.js";

/** setTimeout's longest delay (~24.8 days); a dev token lives 30 days. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A subscription's changes, ending with a coded error as its last item when the token expires
 * (UNAUTHENTICATED: subscribe again with a fresh token) or the consumer fell behind
 * (LIMIT_EXCEEDED). Items are pulled from the feed only as the consumer takes them, so the feed's
 * bound on pending changes is what a slow consumer may hold.
 */
export function endingAtExpiry(
  source: AsyncIterableIterator<MetadataChange | FeedOverflow>,
  expiresAt: Date | undefined,
): AsyncIterableIterator<MetadataChange | DomainError> {
  return new Repeater<MetadataChange | DomainError>(async (push, stop) => {
    let timer: NodeJS.Timeout | undefined;
    const expire = () => {
      const left = (expiresAt?.getTime() ?? 0) - Date.now();
      if (left > 0) {
        timer = setTimeout(expire, Math.min(left, MAX_TIMER_MS));
        return;
      }
      void push(new Unauthenticated("Token expired: the subscription ended; subscribe again with a new token"));
      stop();
    };
    if (expiresAt) expire();
    const forward = async () => {
      for await (const item of source) {
        if (item instanceof FeedOverflow) {
          await push(
            new LimitExceeded(
              `The subscription fell more than ${MAX_PENDING_CHANGES} changes behind and ended; subscribe again`,
              { limit: MAX_PENDING_CHANGES },
            ),
          );
          break;
        }
        await push(item);
      }
      stop();
    };
    forward().catch((error: unknown) => stop(error));
    await stop;
    clearTimeout(timer);
    await source.return?.();
  });
}
