import { errors as joseErrors, jwtVerify } from "jose";
import { LRUCache } from "lru-cache";
import { ZodError } from "zod";
import type { Config } from "../config.js";
import { Unauthenticated } from "../errors.js";
import { loadVerificationKey } from "./keys.js";
import { type Principal, principalFromClaims } from "./principal.js";

export type TokenVerifier = (authorizationHeader: string | null) => Promise<Principal | null>;

/** `Bearer <jwt>`, or `JWT <jwt>` as Kraken's examples send it. */
const AUTHORIZATION = /^(?:Bearer|JWT)[ ]+([A-Za-z0-9_\-.=]+)$/i;

/** Verified tokens are remembered at most this long, so a key withdrawn from a JWKS stops working soon. */
const CACHE_TTL_MS = 5 * 60_000;
const CACHE_MAX_TOKENS = 10_000;

/**
 * Builds the one verifier of the process: key material imported once, algorithms pinned to the
 * key type, issuer and audience checked when configured, `exp` required.
 * No header: null (anonymous). A bad header or token: Unauthenticated, with the reason.
 * A token that verified is remembered (bounded LRU) until its `exp` or for CACHE_TTL_MS,
 * whichever comes first: clients send the same token many times, and a signature check costs
 * more than the rest of a point read. Failures are never cached.
 */
export async function createTokenVerifier(config: Config): Promise<TokenVerifier> {
  const { key, algorithms } = await loadVerificationKey(config);
  const options = {
    algorithms,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    requiredClaims: ["exp"],
  };
  const verified = new LRUCache<string, Principal>({ max: CACHE_MAX_TOKENS, ttl: CACHE_TTL_MS });
  return async (header) => {
    if (header === null || header.trim() === "") return null;
    const token = AUTHORIZATION.exec(header.trim())?.[1];
    if (!token) throw new Unauthenticated("Authorization header must be 'Bearer <token>' or 'JWT <token>'");
    const cached = verified.get(token);
    if (cached) return cached;
    try {
      // Overloads differ for a key and a key resolver; both are valid here.
      const { payload } =
        key instanceof Uint8Array ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      const principal = principalFromClaims(payload);
      // `exp` is required, so it is a number here; the entry dies with the token.
      const ttl = Math.min(CACHE_TTL_MS, (payload.exp as number) * 1000 - Date.now());
      if (ttl > 0) verified.set(token, principal, { ttl });
      return principal;
    } catch (error) {
      throw new Unauthenticated(`Invalid token: ${describe(error)}`);
    }
  };
}

function describe(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim '${error.claim}' ${error.reason}`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "algorithm not allowed";
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "signature verification failed";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "no matching key in the JWKS";
  if (error instanceof joseErrors.JOSEError) return error.code.replace(/^ERR_/, "").toLowerCase();
  if (error instanceof ZodError) return `malformed claims (${error.issues.map((i) => i.path.join(".")).join(", ")})`;
  return "could not be verified";
}
