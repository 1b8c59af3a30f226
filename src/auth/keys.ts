import { randomBytes } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { importJWK, importSPKI, type JWK, type JWTVerifyGetKey, type KeyObject } from "jose";
import { type Config, ConfigError } from "../config.js";
import { remoteKeySet } from "./jwks.js";

/** What jwtVerify needs: the key (or a resolver) and the algorithms pinned to its type. */
export interface VerificationKey {
  key: Uint8Array | JWTVerifyGetKey;
  algorithms: string[];
}

const HMAC = ["HS256", "HS384", "HS512"];
const RSA = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
const EC_BY_CURVE: Record<string, string> = { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" };
const OKP = ["EdDSA", "Ed25519"];
const ASYMMETRIC = [...RSA, ...Object.values(EC_BY_CURVE), ...OKP];

const DEV_KEY_FILE = "dev-jwt-secret";

export async function loadVerificationKey(config: Config, warn?: (message: string) => void): Promise<VerificationKey> {
  const source = config.jwt.source;
  switch (source.kind) {
    case "secret":
      return { key: new TextEncoder().encode(source.secret), algorithms: HMAC };
    case "devKey":
      return { key: loadOrCreateDevSecret(config.dataDir), algorithms: ["HS256"] };
    case "jwks":
      return { key: remoteKeySet({ ...source, warn }), algorithms: ASYMMETRIC };
    case "publicKey":
      return importPublicKey(source.key);
  }
}

/** The secret that signs tokens, where this process has one (JWT_SECRET or the dev key). */
export function signingSecret(config: Config): Uint8Array | undefined {
  const source = config.jwt.source;
  if (source.kind === "secret") return new TextEncoder().encode(source.secret);
  if (source.kind === "devKey") return loadOrCreateDevSecret(config.dataDir);
  return undefined;
}

/** Dev mode only: a random HS256 secret kept in DATA_DIR so tokens survive restarts. */
function loadOrCreateDevSecret(dataDir: string): Uint8Array {
  const file = join(dataDir, DEV_KEY_FILE);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    // Written whole to a temporary file, then linked into place: link fails if another process
    // starting at the same time got there first, and nobody ever reads a half-written key.
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, randomBytes(32).toString("base64url"), { mode: 0o600 });
    try {
      linkSync(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    } finally {
      unlinkSync(temporary);
    }
  }
  return new TextEncoder().encode(readFileSync(file, "utf8").trim());
}

/**
 * JWT_PUBLIC_KEY is a PEM SPKI or a JWK. Web Crypto keys are bound to one algorithm, so the key
 * is imported once per algorithm its type allows, on first use of that algorithm.
 */
async function importPublicKey(text: string): Promise<VerificationKey> {
  const jwk = text.startsWith("{") ? parseJwk(text) : undefined;
  const importFor = (alg: string) => (jwk ? importJWK(jwk, alg) : importSPKI(text, alg));
  const algorithms = jwk ? algorithmsForJwk(jwk) : await algorithmsForSpki(importFor);
  const imported = new Map<string, Promise<CryptoKey | KeyObject | Uint8Array>>();
  const key: JWTVerifyGetKey = (header) => {
    // jwtVerify has already rejected algorithms outside `algorithms`.
    let k = imported.get(header.alg);
    if (!k) {
      k = importFor(header.alg);
      imported.set(header.alg, k);
    }
    return k;
  };
  return { key, algorithms };
}

function parseJwk(text: string): JWK {
  try {
    const jwk = JSON.parse(text) as JWK;
    if ("d" in jwk) throw new ConfigError("JWT_PUBLIC_KEY: a private JWK was given; give the public part only");
    return jwk;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError("JWT_PUBLIC_KEY: not valid JSON for a JWK, nor a PEM public key");
  }
}

function algorithmsForJwk(jwk: JWK): string[] {
  if (jwk.kty === "RSA") return RSA;
  if (jwk.kty === "EC" && jwk.crv && EC_BY_CURVE[jwk.crv]) return [EC_BY_CURVE[jwk.crv] as string];
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return OKP;
  throw new ConfigError(`JWT_PUBLIC_KEY: unsupported JWK (kty ${jwk.kty}, crv ${jwk.crv ?? "none"})`);
}

/** A PEM does not say its type; the first algorithm family whose import succeeds does. */
async function algorithmsForSpki(importFor: (alg: string) => Promise<unknown>): Promise<string[]> {
  const families: [probe: string, algorithms: string[]][] = [
    ["RS256", RSA],
    ["ES256", ["ES256"]],
    ["ES384", ["ES384"]],
    ["ES512", ["ES512"]],
    ["EdDSA", OKP],
  ];
  for (const [probe, algorithms] of families) {
    if (
      await importFor(probe).then(
        () => true,
        () => false,
      )
    )
      return algorithms;
  }
  throw new ConfigError("JWT_PUBLIC_KEY: not a PEM SPKI public key of type RSA, EC (P-256/384/521) or Ed25519");
}
