import { createHmac, sign as cryptoSign, generateKeyPairSync, type KeyObject, randomUUID } from "node:crypto";

/**
 * Hand-built JWTs: exactly the header and payload given, signed or not, with no library check
 * between a test and the bytes (jose's own signer refuses e.g. an unknown `crit`).
 */

export interface Signer {
  alg: string;
  sign(input: Buffer): Buffer;
}

export const hs256 = (secret: string | Uint8Array): Signer => ({
  alg: "HS256",
  sign: (input) => createHmac("sha256", secret).update(input).digest(),
});

export const es256 = (key: KeyObject): Signer => ({
  alg: "ES256",
  // JWS wants r || s, not DER (RFC 7518 §3.4).
  sign: (input) => cryptoSign("sha256", input, { key, dsaEncoding: "ieee-p1363" }),
});

export const rs256 = (key: KeyObject): Signer => ({
  alg: "RS256",
  sign: (input) => cryptoSign("sha256", input, key),
});

/** base64url of a string as is, or of anything else as JSON. */
export const b64 = (value: unknown): string =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** `<header>.<payload>.<signature>`; the header's `alg` is the signer's unless `header` says otherwise. */
export function forge(header: Record<string, unknown>, payload: unknown, signer: Signer): string {
  const input = `${b64({ alg: signer.alg, typ: "JWT", ...header })}.${b64(payload)}`;
  return `${input}.${signer.sign(Buffer.from(input)).toString("base64url")}`;
}

export const ISSUER = "https://issuer.example.com/";
export const AUDIENCE = "metadata-graph";

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Staff claims, valid for an hour, with the issuer and audience the apps expect: a token carrying
 * them that verifies may write anything, so a rejection is the token's doing. `undefined` drops a claim.
 */
export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = nowSeconds();
  return {
    sub: "u1",
    scope: "metadata.write",
    permissions: ["CAN_MUTATE_METADATA"],
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now,
    exp: now + 3600,
    // Every token differs, so none is answered from the verified-token cache.
    jti: randomUUID(),
    ...overrides,
  };
}

export function ecKeyPair() {
  return generateKeyPairSync("ec", { namedCurve: "P-256" });
}

export function rsaKeyPair() {
  return generateKeyPairSync("rsa", { modulusLength: 2048 });
}

/** The public half as a JWKS member. */
export function publicJwk(key: KeyObject, kid: string, alg: string): Record<string, unknown> {
  return { ...key.export({ format: "jwk" }), kid, alg, use: "sig" };
}
