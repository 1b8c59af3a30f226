import type { KeyObject } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { MAX_CLOCK_SKEW_SECONDS, MAX_TOKEN_BYTES } from "../src/auth/tokens.js";
import { createTestApp, TEST_SECRET, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";
import {
  AUDIENCE,
  b64,
  claims,
  ecKeyPair,
  es256,
  forge,
  hs256,
  ISSUER,
  nowSeconds,
  publicJwk,
  rs256,
  rsaKeyPair,
} from "./support/forge.js";
import { type KeyServer, startKeyServer } from "./support/key-server.js";
import { appOver, attemptWrite, type Client, expectReadAccepted, expectWriteRefused } from "./support/verdicts.js";

/**
 * One case per attack on the token: each is sent as updateMetadata through the real HTTP handler
 * and must be refused whole (one UNAUTHENTICATED error, no data, nothing written) for the reason
 * named, so that a case cannot pass by failing for another one. The last test checks the
 * untampered tokens are accepted and may write: every refusal is the attack's doing.
 */

const rsa = rsaKeyPair();
const ec = ecKeyPair();
const idp = ecKeyPair();
const attackerEc = ecKeyPair();
const attackerRsa = rsaKeyPair();
const pem = (key: KeyObject) => key.export({ type: "spki", format: "pem" }).toString();
const EC_JWK_TEXT = JSON.stringify(ec.publicKey.export({ format: "jwk" }));
const IDP_JWK = publicJwk(idp.publicKey, "key-1", "ES256");
const ATTACKER_JWK = publicJwk(attackerEc.publicKey, "attacker-1", "ES256");
const ATTACKER_SECRET = "attacker-secret-with-at-least-32-characters";

/** The configured apps: HS256 secret, RSA PEM, EC JWK, remote JWKS (all with issuer and audience). */
type AppName = "secret" | "rsa" | "ec" | "jwks";
const APPS: AppName[] = ["secret", "rsa", "ec", "jwks"];
type Header = Record<string, unknown>;

/** Each app's legitimate issuer: a token these sign with `claims()` is accepted and may write. */
const by: Record<AppName, (header?: Header, payload?: unknown) => string> = {
  secret: (header = {}, payload = claims()) => forge(header, payload, hs256(TEST_SECRET)),
  rsa: (header = {}, payload = claims()) => forge(header, payload, rs256(rsa.privateKey)),
  ec: (header = {}, payload = claims()) => forge(header, payload, es256(ec.privateKey)),
  jwks: (header = {}, payload = claims()) => forge({ kid: "key-1", ...header }, payload, es256(idp.privateKey)),
};
/** Signed by the attacker's EC key. */
const evil = (header: Header = {}) => forge(header, claims(), es256(attackerEc.privateKey));
const evilRsa = (header: Header = {}) => forge(header, claims(), rs256(attackerRsa.privateKey));
/** Keyed with text the attacker knows (public key material). */
const hmacWith = (secret: string, header: Header = {}) => forge(header, claims(), hs256(secret));
const at = (overrides: Record<string, unknown>) => claims(overrides);
const now = nowSeconds;

/** Rebuilds a token from its three segments. */
function tamper(token: string, rebuild: (header: string, payload: string, signature: string) => string): string {
  const [header = "", payload = "", signature = ""] = token.split(".");
  return rebuild(header, payload, signature);
}

/** Signed exactly as given by the real secret: segments that are not base64url JSON included. */
function signSegments(header: string, payload: string): string {
  const signature = hs256(TEST_SECRET).sign(Buffer.from(`${header}.${payload}`));
  return `${header}.${payload}.${signature.toString("base64url")}`;
}

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/** The same signature bytes spelled otherwise: the last character's unused low bit set. */
function respellSignature(token: string): string {
  const last = token.at(-1) ?? "";
  return token.slice(0, -1) + (BASE64URL[BASE64URL.indexOf(last) ^ 1] ?? "");
}

/** A correctly signed HS256 token of exactly `length` characters (a filler claim takes the room). */
function secretTokenOfLength(length: number): string {
  const fixed = claims({ filler: "" });
  for (let kid = 1; kid <= 4; kid++) {
    const header = { alg: "HS256", typ: "JWT", kid: "k".repeat(kid) };
    const payloadChars = length - b64(header).length - 43 - 2;
    const bytes = Math.floor((payloadChars * 3) / 4);
    if (Math.ceil((bytes * 4) / 3) !== payloadChars) continue; // unpadded base64url never has 4n+1 characters
    const token = by.secret(header, { ...fixed, filler: "x".repeat(bytes - Buffer.byteLength(JSON.stringify(fixed))) });
    if (token.length === length) return token;
  }
  throw new Error(`no token of exactly ${length} characters`);
}

const NOT_ALLOWED = /^Invalid token: algorithm not allowed$/;
const BAD_SIGNATURE = /^Invalid token: signature verification failed$/;
const NO_KEY = /^Invalid token: no matching key in the JWKS$/;
const NOT_JWS = /^Invalid token: not a compact JWS /;
const BAD_HEADER = /^Authorization header must be 'Bearer <token>' or 'JWT <token>'$/;
const UNSUPPORTED = /^Invalid token: unsupported critical header or algorithm$/;
const JWS_INVALID = /^Invalid token: jws_invalid$/;
const JWT_INVALID = /^Invalid token: jwt_invalid$/;
const EXPIRED = /^Invalid token: expired$/;
const FUTURE_IAT = /^Invalid token: claim 'iat' is more than 60 s in the future$/;
const TOO_LONG = /^Invalid token: longer than 8192 bytes$/;
const claim = (name: string) => new RegExp(`^Invalid token: claim '${name}' `);

/** Set once the servers run; the cases read them when they build their token. */
let attacker: KeyServer;
let idpServer: KeyServer;
const cert = () => `${attacker.origin}/cert.pem`;
const X5C = [Buffer.from("not a certificate").toString("base64")];

type Attack = [name: string, app: AppName, token: () => string, reason: RegExp];

const ATTACKS: Attack[] = [
  // alg: none, or no alg at all
  ["alg none, empty signature", "secret", () => `${b64({ alg: "none" })}.${b64(claims())}.`, NOT_JWS],
  ["alg none with a signature", "secret", () => by.secret({ alg: "none" }), NOT_ALLOWED],
  ["alg None (case variant)", "secret", () => by.secret({ alg: "None" }), NOT_ALLOWED],
  ["alg none against an RSA key", "rsa", () => by.rsa({ alg: "none" }), NOT_ALLOWED],
  ["alg none against the JWKS", "jwks", () => by.jwks({ alg: "none" }), NOT_ALLOWED],
  ["no alg", "secret", () => by.secret({ alg: undefined }), JWS_INVALID],
  // Algorithm confusion: HMAC keyed with public key material
  ["HS256 keyed with the RSA public PEM", "rsa", () => hmacWith(pem(rsa.publicKey)), NOT_ALLOWED],
  ["HS256 keyed with the EC public PEM", "ec", () => hmacWith(pem(ec.publicKey)), NOT_ALLOWED],
  ["HS256 keyed with the configured JWK text", "ec", () => hmacWith(EC_JWK_TEXT), NOT_ALLOWED],
  ["HS256 keyed with the JWKS member", "jwks", () => hmacWith(JSON.stringify(IDP_JWK), { kid: "key-1" }), NOT_ALLOWED],
  ["HS256 keyed with the whole JWKS", "jwks", () => hmacWith(JSON.stringify({ keys: [IDP_JWK] })), NOT_ALLOWED],
  ["RS256 against the EC key", "ec", () => evilRsa(), NOT_ALLOWED],
  // kid: unknown, injected, or the real one over a forged signature
  ["unknown kid", "jwks", () => evil({ kid: "key-9" }), NO_KEY],
  [
    "kid path traversal, empty HMAC key",
    "secret",
    () => forge({ kid: "../../../../dev/null" }, claims(), hs256("")),
    BAD_SIGNATURE,
  ],
  ["kid path traversal", "jwks", () => evil({ kid: "../../../../dev/null" }), NO_KEY],
  ["kid SQL injection", "jwks", () => evil({ kid: "key-1' OR '1'='1" }), NO_KEY],
  ["kid as an array", "jwks", () => evil({ kid: ["key-1"] }), NO_KEY],
  ["kid as a number", "jwks", () => evil({ kid: 1 }), NO_KEY],
  ["kid with a NUL appended", "jwks", () => evil({ kid: "key-1\u0000" }), NO_KEY],
  ["the real kid over an attacker's signature", "jwks", () => evil({ kid: "key-1" }), BAD_SIGNATURE],
  ["a kid on a single-key app", "rsa", () => evilRsa({ kid: "attacker-1" }), BAD_SIGNATURE],
  // Header parameters naming the key to check with: never followed
  ["jwk: the attacker's EC key embedded", "ec", () => evil({ jwk: ATTACKER_JWK }), BAD_SIGNATURE],
  ["jwk: the attacker's EC key embedded", "jwks", () => evil({ jwk: ATTACKER_JWK }), BAD_SIGNATURE],
  [
    "jwk: the attacker's RSA key embedded",
    "rsa",
    () => evilRsa({ jwk: publicJwk(attackerRsa.publicKey, "a", "RS256") }),
    BAD_SIGNATURE,
  ],
  [
    "jwk: an embedded symmetric key",
    "secret",
    () => hmacWith(ATTACKER_SECRET, { jwk: { kty: "oct", k: b64(ATTACKER_SECRET) } }),
    BAD_SIGNATURE,
  ],
  ["jku: the attacker's JWKS and kid", "jwks", () => evil({ jku: attacker.url, kid: "attacker-1" }), NO_KEY],
  ["jku: the attacker's JWKS, the real kid", "jwks", () => evil({ jku: attacker.url, kid: "key-1" }), BAD_SIGNATURE],
  ["jku: the attacker's JWKS", "ec", () => evil({ jku: attacker.url }), BAD_SIGNATURE],
  ["x5u: the attacker's certificate", "ec", () => evil({ x5u: cert() }), BAD_SIGNATURE],
  ["x5u: the attacker's certificate and kid", "jwks", () => evil({ x5u: cert(), kid: "attacker-1" }), NO_KEY],
  ["x5c: an attacker's chain", "ec", () => evil({ x5c: X5C }), BAD_SIGNATURE],
  // crit (RFC 7515 §4.1.11): an extension we do not understand fails the token
  ["crit: an unknown extension", "secret", () => by.secret({ crit: ["x-attacker"], "x-attacker": true }), UNSUPPORTED],
  ["crit: an unknown extension", "jwks", () => by.jwks({ crit: ["x-attacker"], "x-attacker": 1 }), UNSUPPORTED],
  ["crit: an absent extension", "secret", () => by.secret({ crit: ["x-absent"] }), UNSUPPORTED],
  ["crit: empty", "secret", () => by.secret({ crit: [] }), JWS_INVALID],
  ["crit: not an array", "secret", () => by.secret({ crit: "x-attacker" }), JWS_INVALID],
  ["crit: b64 false (unencoded payload)", "secret", () => by.secret({ crit: ["b64"], b64: false }), JWT_INVALID],
  // Time
  ["expired an hour ago", "secret", () => by.secret({}, at({ exp: now() - 3600 })), EXPIRED],
  ["expired this second", "secret", () => by.secret({}, at({ exp: now() })), EXPIRED],
  ["expired a minute ago", "jwks", () => by.jwks({}, at({ exp: now() - 60 })), EXPIRED],
  ["no exp", "secret", () => by.secret({}, at({ exp: undefined })), claim("exp")],
  ["exp a string", "secret", () => by.secret({}, at({ exp: "99999999999" })), claim("exp")],
  ["nbf in 10 minutes", "secret", () => by.secret({}, at({ nbf: now() + 600 })), claim("nbf")],
  ["nbf a string", "secret", () => by.secret({}, at({ nbf: "later" })), claim("nbf")],
  ["iat an hour ahead", "secret", () => by.secret({}, at({ iat: now() + 3600 })), FUTURE_IAT],
  [
    "iat just past the clock skew",
    "secret",
    () => by.secret({}, at({ iat: now() + MAX_CLOCK_SKEW_SECONDS + 2 })),
    FUTURE_IAT,
  ],
  [
    "iat a year ahead, exp after it",
    "jwks",
    () => by.jwks({}, at({ iat: now() + 3e7, exp: now() + 3e7 + 3600 })),
    FUTURE_IAT,
  ],
  ["iat a string", "secret", () => by.secret({}, at({ iat: "now" })), claim("iat")],
  // Issuer and audience
  ["wrong iss", "secret", () => by.secret({}, at({ iss: "https://evil.example.com/" })), claim("iss")],
  ["wrong iss", "jwks", () => by.jwks({}, at({ iss: "https://evil.example.com/" })), claim("iss")],
  ["no iss", "secret", () => by.secret({}, at({ iss: undefined })), claim("iss")],
  ["iss in other case", "secret", () => by.secret({}, at({ iss: ISSUER.toUpperCase() })), claim("iss")],
  ["iss as an array", "secret", () => by.secret({}, at({ iss: [ISSUER] })), claim("iss")],
  ["wrong aud", "secret", () => by.secret({}, at({ aud: "another-service" })), claim("aud")],
  ["no aud", "secret", () => by.secret({}, at({ aud: undefined })), claim("aud")],
  ["aud list without ours", "secret", () => by.secret({}, at({ aud: ["a", "b"] })), claim("aud")],
  ["aud in other case", "rsa", () => by.rsa({}, at({ aud: AUDIENCE.toUpperCase() })), claim("aud")],
  // Truncated
  ["header only", "secret", () => tamper(by.secret(), (h) => h), NOT_JWS],
  ["signature dropped", "secret", () => tamper(by.secret(), (h, p) => `${h}.${p}`), NOT_JWS],
  ["signature emptied", "rsa", () => tamper(by.rsa(), (h, p) => `${h}.${p}.`), NOT_JWS],
  ["signature cut by 3 characters", "secret", () => by.secret().slice(0, -3), BAD_SIGNATURE],
  [
    "payload cut by 5 characters",
    "ec",
    () => tamper(by.ec(), (h, p, s) => `${h}.${p.slice(0, -5)}.${s}`),
    BAD_SIGNATURE,
  ],
  ["cut in half", "secret", () => by.secret().slice(0, 120), NOT_JWS],
  // Padded, not base64url, not canonical
  ["signature padded with =", "secret", () => `${by.secret()}=`, NOT_JWS],
  ["signature padded with ==", "ec", () => `${by.ec()}==`, NOT_JWS],
  ["payload padded", "secret", () => tamper(by.secret(), (h, p, s) => `${h}.${p}=.${s}`), NOT_JWS],
  ["header padded", "secret", () => tamper(by.secret(), (h, p, s) => `${h}=.${p}.${s}`), NOT_JWS],
  ["signature respelled (unused bits set)", "secret", () => respellSignature(by.secret()), NOT_JWS],
  ["base64 '+' in the signature", "secret", () => `${by.secret().slice(0, -1)}+`, BAD_HEADER],
  ["base64 '/' in the payload", "secret", () => tamper(by.secret(), (h, p, s) => `${h}.${p}/.${s}`), BAD_HEADER],
  ["'!' in the payload", "secret", () => by.secret().replace(".", ".!"), BAD_HEADER],
  ["a space inside", "secret", () => by.secret().replace(".", ". "), BAD_HEADER],
  ["percent-encoded dots", "secret", () => by.secret().replaceAll(".", "%2E"), BAD_HEADER],
  ["a Latin-1 letter inside", "secret", () => `${by.secret()}\u00e9`, BAD_HEADER],
  ["header not JSON (signed)", "secret", () => signSegments(b64("{not json"), b64(claims())), JWS_INVALID],
  ["header a JSON array (signed)", "secret", () => signSegments(b64([{ alg: "HS256" }]), b64(claims())), JWS_INVALID],
  ["payload not JSON (signed)", "secret", () => signSegments(b64({ alg: "HS256" }), b64("{not json")), JWT_INVALID],
  ["payload a JSON array (signed)", "secret", () => signSegments(b64({ alg: "HS256" }), b64([claims()])), JWT_INVALID],
  // Duplicate segments
  ["signature twice", "secret", () => tamper(by.secret(), (h, p, s) => `${h}.${p}.${s}.${s}`), NOT_JWS],
  ["payload twice", "secret", () => tamper(by.secret(), (h, p, s) => `${h}.${p}.${p}.${s}`), NOT_JWS],
  ["header twice", "jwks", () => tamper(by.jwks(), (h, p, s) => `${h}.${h}.${p}.${s}`), NOT_JWS],
  ["two tokens joined", "secret", () => `${by.secret()}.${by.secret()}`, NOT_JWS],
  ["trailing dot", "secret", () => `${by.secret()}.`, NOT_JWS],
  ["leading dot", "secret", () => `.${by.secret()}`, NOT_JWS],
  ["header in the payload's place", "secret", () => tamper(by.secret(), (h, _, s) => `${h}.${h}.${s}`), BAD_SIGNATURE],
  [
    "a lesser token's payload under this signature",
    "secret",
    () => tamper(by.secret(), (h, _, s) => `${h}.${by.secret({}, at({ permissions: [] })).split(".")[1]}.${s}`),
    BAD_SIGNATURE,
  ],
  // Size
  ["one byte over 8 KB, correctly signed", "secret", () => secretTokenOfLength(MAX_TOKEN_BYTES + 1), TOO_LONG],
  ["1 MB, correctly signed", "jwks", () => by.jwks({}, at({ filler: "x".repeat(1 << 20) })), TOO_LONG],
];

beforeAll(async () => {
  attacker = await startKeyServer([ATTACKER_JWK]);
  idpServer = await startKeyServer([IDP_JWK]);
});
afterAll(async () => {
  await attacker.close();
  await idpServer.close();
});

describe.each(backends)("token attacks on $name", (backend) => {
  let main: TestApp;
  let apps: Record<AppName, Client>;

  beforeAll(async () => {
    main = await createTestApp(backend, { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
    apps = {
      secret: main,
      rsa: await appOver(main.db, { JWT_PUBLIC_KEY: pem(rsa.publicKey) }),
      ec: await appOver(main.db, { JWT_PUBLIC_KEY: EC_JWK_TEXT }),
      jwks: await appOver(main.db, { JWKS_URL: idpServer.url }),
    };
  });
  afterAll(() => main.close());
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each(ATTACKS)("refuses %s (%s)", async (_name, app, token, reason) => {
    await expectWriteRefused(apps[app], token(), "UNAUTHENTICATED", reason);
    // Nothing the token named was fetched.
    expect(attacker.requests).toEqual([]);
  });

  it("ignores jwk / jku / x5u / x5c on a legitimate token: the configured key verifies it, nothing is fetched", async () => {
    const pointers = { jwk: ATTACKER_JWK, jku: attacker.url, x5u: cert(), x5c: X5C };
    for (const app of APPS) await expectReadAccepted(apps[app], by[app](pointers));
    expect(attacker.requests).toEqual([]);
    // The JWKS app asked its own URL only.
    expect(new Set(idpServer.requests)).toEqual(new Set(["/.well-known/jwks.json"]));
  });

  it("refuses a token over 8 KB before any signature check, and checks one of exactly 8 KB", async () => {
    const verify = vi.spyOn(crypto.subtle, "verify");
    const oversized = secretTokenOfLength(MAX_TOKEN_BYTES + 1);
    expect(oversized).toHaveLength(8193);
    await expectWriteRefused(apps.secret, oversized, "UNAUTHENTICATED", TOO_LONG);
    expect(verify).not.toHaveBeenCalled();
    const largest = secretTokenOfLength(MAX_TOKEN_BYTES);
    expect(largest).toHaveLength(8192);
    await expectReadAccepted(apps.secret, largest);
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it("refuses a token over 8 KB before asking the JWKS; one of normal size with an unknown kid asks once", async () => {
    const fresh = await startKeyServer([IDP_JWK]);
    try {
      const t = await appOver(main.db, { JWKS_URL: fresh.url });
      const unknownKid = (payload: Record<string, unknown>) =>
        forge({ kid: "key-new" }, payload, es256(attackerEc.privateKey));
      const oversized = unknownKid(at({ filler: "x".repeat(MAX_TOKEN_BYTES) }));
      await expectWriteRefused(t, oversized, "UNAUTHENTICATED", TOO_LONG);
      expect(fresh.requests).toEqual([]);
      await expectWriteRefused(t, unknownKid(claims()), "UNAUTHENTICATED", NO_KEY);
      expect(fresh.requests).toEqual(["/.well-known/jwks.json"]);
    } finally {
      await fresh.close();
    }
  });

  // Last: it writes. The tokens the cases tamper with are accepted untampered, and may write.
  it("control: each app accepts its untampered token, iat within the clock skew too, and it writes", async () => {
    for (const app of APPS) await expectReadAccepted(apps[app], by[app]({}, at({ iat: now() + 30 })));
    expect(await main.db.prisma.metadata.count()).toBe(0);
    const written = await attemptWrite(apps.jwks, by.jwks());
    expect(written.body.errors).toBeUndefined();
    expect(written.body.data?.updateMetadata.metadata).toMatchObject({ key: "k", value: "v" });
    expect(await main.db.prisma.metadata.count()).toBe(1);
  });
});
