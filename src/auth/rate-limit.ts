import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { Config } from "../config.js";
import { RateLimited } from "../errors.js";
import type { Principal } from "./principal.js";

/** Counts one operation against its caller's allowance; throws RateLimited once it is used up. */
export type RateLimit = (caller: Principal | null, remoteAddress: string | undefined) => Promise<void>;

export interface RateLimiter {
  consume: RateLimit;
  close(): Promise<void>;
}

const WINDOW_SECONDS = 60;

/**
 * RATE_LIMIT_PER_MINUTE operations per principal (tenant and user, or tenant and client), in a
 * fixed one-minute window (rate-limiter-flexible). Each principal has its own counter, so one
 * tenant's flood is refused on its own key, before any database work, and costs others nothing.
 * Callers without a token are counted per remote address. With REDIS_URL the counters are shared
 * by every instance; if Redis is unreachable each instance falls back to counting in memory
 * (never failing requests because the limiter's store is down).
 */
export async function createRateLimiter(config: Pick<Config, "rateLimitPerMinute" | "redisUrl">): Promise<RateLimiter> {
  if (config.rateLimitPerMinute === 0) return { consume: async () => {}, close: async () => {} };
  const options = { points: config.rateLimitPerMinute, duration: WINDOW_SECONDS };
  const memory = new RateLimiterMemory(options);
  let limiter: RateLimiterMemory | RateLimiterRedis = memory;
  let close = async () => {};
  if (config.redisUrl) {
    // Loaded only when used: most deployments run without Redis.
    const { Redis } = await import("ioredis");
    const redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
    redis.on("error", () => {}); // reconnects by itself; the insurance limiter covers the gap
    await redis.connect().catch(() => {});
    limiter = new RateLimiterRedis({ ...options, storeClient: redis, keyPrefix: "mg_rate", insuranceLimiter: memory });
    close = async () => {
      redis.disconnect();
    };
  }
  return {
    async consume(caller, remoteAddress) {
      try {
        await limiter.consume(keyOf(caller, remoteAddress));
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          throw new RateLimited(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)));
        }
        throw rejection;
      }
    },
    close,
  };
}

function keyOf(caller: Principal | null, remoteAddress: string | undefined): string {
  if (!caller) return `anonymous:${remoteAddress ?? "unknown"}`;
  // JSON keeps the parts apart whatever characters the claims hold.
  return JSON.stringify([caller.tenant, caller.subject ?? null, caller.subject ? null : (caller.clientId ?? null)]);
}
