import { errors as joseErrors, jwtVerify } from "jose";
import { ZodError } from "zod";
import type { Config } from "../config.js";
import { Unauthenticated } from "../errors.js";
import { loadVerificationKey } from "./keys.js";
import { type Principal, principalFromClaims } from "./principal.js";

export type TokenVerifier = (authorizationHeader: string | null) => Promise<Principal | null>;

/** `Bearer <jwt>`, or `JWT <jwt>` as Kraken's examples send it. */
const AUTHORIZATION = /^(?:Bearer|JWT)[ ]+([A-Za-z0-9_\-.=]+)$/i;

/**
 * Builds the one verifier of the process: key material imported once, algorithms pinned to the
 * key type, issuer and audience checked when configured, `exp` required.
 * No header: null (anonymous). A bad header or token: Unauthenticated, with the reason.
 */
export async function createTokenVerifier(config: Config): Promise<TokenVerifier> {
  const { key, algorithms } = await loadVerificationKey(config);
  const options = {
    algorithms,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    requiredClaims: ["exp"],
  };
  return async (header) => {
    if (header === null || header.trim() === "") return null;
    const token = AUTHORIZATION.exec(header.trim())?.[1];
    if (!token) throw new Unauthenticated("Authorization header must be 'Bearer <token>' or 'JWT <token>'");
    try {
      // Overloads differ for a key and a key resolver; both are valid here.
      const { payload } =
        key instanceof Uint8Array ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      return principalFromClaims(payload);
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
