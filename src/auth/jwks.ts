import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import { ServiceUnavailable } from "../errors.js";

export interface RemoteKeySetOptions {
  url: URL;
  /** After a fetch, an unknown `kid` is refused without fetching again for this long. */
  cooldownMs: number;
  /** One fetch, body included, may take this long. */
  timeoutMs: number;
  /** Where the lines announcing an outage and its end go; default: stderr. */
  warn?: (message: string) => void;
}

const JsonWebKeySet = z.object({ keys: z.array(z.looseObject({})) });

/**
 * The identity provider's keys, fetched from JWKS_URL only: header parameters naming other keys
 * (`jku`, `x5u`, `jwk`, `x5c`) are never followed, or an attacker would pick the key that checks
 * their own signature. jose caches the set (10 min) and refetches it for an unknown `kid` (key
 * rotation), at most once per cooldown, so forged kids cannot make us hammer the provider.
 * A fetch that fails (unreachable, timeout, not 200, not a JWK set) fails the request closed with
 * ServiceUnavailable: a valid token cannot be told from a forged one, and the client should retry.
 */
export function remoteKeySet({
  url,
  cooldownMs,
  timeoutMs,
  warn = console.warn,
}: RemoteKeySetOptions): JWTVerifyGetKey {
  // Domain errors stay out of Yoga's log (src/graphql/errors.ts): one line when fetching starts
  // failing and one when it works again tell operators about the outage (like src/db/unavailable.ts).
  let failingSince: number | undefined;
  const fetchKeySet = async (href: string, init: RequestInit): Promise<Response> => {
    try {
      // jose asks for `redirect: "manual"`: a redirect is not 200 and fails like any other status.
      const response = await fetch(href, init);
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      const text = await response.text();
      if (!JsonWebKeySet.safeParse(JSON.parse(text)).success) throw new Error("not a JSON Web Key Set");
      if (failingSince !== undefined) {
        warn(`JWKS available again after ${((Date.now() - failingSince) / 1000).toFixed(1)} s`);
        failingSince = undefined;
      }
      return new Response(text, { status: 200, headers: { "content-type": "application/json" } });
    } catch (error) {
      if (failingSince === undefined) {
        failingSince = Date.now();
        const why = describeFailure(error, timeoutMs);
        warn(`JWKS unavailable (${href}: ${why}): requests needing a key answer SERVICE_UNAVAILABLE until it is back`);
      }
      throw new ServiceUnavailable(
        "Cannot verify tokens right now: the signing keys (JWKS) are unavailable; retry later",
        error,
      );
    }
  };
  return createRemoteJWKSet(url, {
    cooldownDuration: cooldownMs,
    timeoutDuration: timeoutMs,
    [customFetch]: fetchKeySet,
  });
}

/** For the log: a refused connection hides its cause behind "fetch failed". */
function describeFailure(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError") return `no answer within ${timeoutMs} ms`;
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}
