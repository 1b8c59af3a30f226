import { type JWTPayload, errors as joseErrors, jwtVerify } from "jose";
import { LRUCache } from "lru-cache";
import { ZodError } from "zod";
import type { Config } from "../config.js";
import { DomainError, ServiceUnavailable, Unauthenticated } from "../errors.js";
import { loadVerificationKey } from "./keys.js";
import { type Principal, principalFromClaims } from "./principal.js";

export type TokenVerifier = (authorizationHeader: string | null) => Promise<Principal | null>;

/** `Bearer <jwt>`, or `JWT <jwt>` as Kraken's examples send it. */
const AUTHORIZATION = /^(?:Bearer|JWT)[ ]+([A-Za-z0-9_\-.=]+)$/i;

/**
 * Longer tokens are refused before any decoding, cache lookup or crypto: an access token is a few
 * hundred bytes to a few KB, and each oversized one would otherwise cost a decode, a JSON parse
 * and, with JWKS_URL, possibly a fetch. 8 KB is also what common proxies allow per header.
 * A token is ASCII (the pattern above), so characters are bytes.
 */
export const MAX_TOKEN_BYTES = 8192;

/**
 * The JWS compact form: three unpadded base64url segments (RFC 7515 §2, §7.1). jose decodes
 * leniently (padding, unused trailing bits), so one signature could be spelled many ways.
 */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)$/;

/**
 * How far ahead of our clock `iat` may be: issuers' clocks differ from ours by seconds. A token
 * issued further in the future is forged or minted by a broken clock, and would outlive its
 * intended lifetime. (`exp` and `nbf` stay exact: jose checks them without tolerance.)
 */
export const MAX_CLOCK_SKEW_SECONDS = 60;

/**
 * Why a request was refused as unauthenticated, for the metrics: a fixed set, so a label. `missing`:
 * no token where an operation needs a caller; `jwks_unavailable`: the token could not be checked.
 */
export const AUTH_FAILURE_REASONS = [
  "missing",
  "malformed",
  "expired",
  "signature",
  "algorithm",
  "claims",
  "unknown_key",
  "unsupported",
  "jwks_unavailable",
  "other",
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

/** A refused token; `reason` stays on the server (metrics), the message goes to the client. */
export class InvalidToken extends Unauthenticated {
  constructor(
    message: string,
    readonly reason: AuthFailureReason,
  ) {
    super(message);
  }
}

/** The reason behind an error the verifier threw. */
export function authFailureReason(error: unknown): AuthFailureReason {
  if (error instanceof InvalidToken) return error.reason;
  // The only dependency verification has: the JWKS endpoint.
  if (error instanceof ServiceUnavailable) return "jwks_unavailable";
  return "other";
}

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
export async function createTokenVerifier(
  config: Config,
  { warn }: { warn?: (message: string) => void } = {},
): Promise<TokenVerifier> {
  const { key, algorithms } = await loadVerificationKey(config, warn);
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
    if (!token) throw new InvalidToken("Authorization header must be 'Bearer <token>' or 'JWT <token>'", "malformed");
    assertCompactJws(token);
    const cached = verified.get(token);
    if (cached) return cached;
    try {
      // Overloads differ for a key and a key resolver; both are valid here.
      const { payload } =
        key instanceof Uint8Array ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      assertIssuedInThePast(payload);
      const principal = principalFromClaims(payload);
      // `exp` is required, so it is a number here; the entry dies with the token.
      const ttl = Math.min(CACHE_TTL_MS, (payload.exp as number) * 1000 - Date.now());
      if (ttl > 0) verified.set(token, principal, { ttl });
      return principal;
    } catch (error) {
      // Ours already say why (iat), or are not about the token at all (the JWKS is down).
      if (error instanceof DomainError) throw error;
      throw new InvalidToken(`Invalid token: ${describe(error)}`, reasonOf(error));
    }
  };
}

function assertCompactJws(token: string): void {
  if (token.length > MAX_TOKEN_BYTES) {
    throw new InvalidToken(`Invalid token: longer than ${MAX_TOKEN_BYTES} bytes`, "malformed");
  }
  const signature = COMPACT_JWS.exec(token)?.[1];
  // Only the canonical spelling of the signature: one token, one text (the verified-token cache
  // and any deny-list are keyed by it).
  if (signature === undefined || Buffer.from(signature, "base64url").toString("base64url") !== signature) {
    throw new InvalidToken("Invalid token: not a compact JWS (three base64url segments without padding)", "malformed");
  }
}

/** jose checks `iat` only with maxTokenAge, which would also make `iat` required. */
function assertIssuedInThePast({ iat }: JWTPayload): void {
  if (iat !== undefined && iat > Date.now() / 1000 + MAX_CLOCK_SKEW_SECONDS) {
    throw new InvalidToken(
      `Invalid token: claim 'iat' is more than ${MAX_CLOCK_SKEW_SECONDS} s in the future`,
      "claims",
    );
  }
}

function reasonOf(error: unknown): AuthFailureReason {
  if (error instanceof joseErrors.JWTExpired) return "expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed || error instanceof ZodError) return "claims";
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "algorithm";
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "signature";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "unknown_key";
  if (error instanceof joseErrors.JOSENotSupported) return "unsupported";
  // JWSInvalid, JWTInvalid: not a JWT (a header or payload that does not decode).
  if (error instanceof joseErrors.JOSEError) return "malformed";
  return "other";
}

function describe(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim '${error.claim}' ${error.reason}`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "algorithm not allowed";
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "signature verification failed";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "no matching key in the JWKS";
  // An unrecognized `crit` extension (RFC 7515 §4.1.11); its name is not echoed back.
  if (error instanceof joseErrors.JOSENotSupported) return "unsupported critical header or algorithm";
  if (error instanceof joseErrors.JOSEError) return error.code.replace(/^ERR_/, "").toLowerCase();
  if (error instanceof ZodError) return `malformed claims (${error.issues.map((i) => i.path.join(".")).join(", ")})`;
  return "could not be verified";
}
