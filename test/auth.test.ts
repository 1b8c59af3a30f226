import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type CryptoKey,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  importPKCS8,
  type JWK,
  type JWTPayload,
  type KeyObject,
  SignJWT,
} from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../src/config.js";
import { createApp } from "../src/server.js";
import {
  createTestApp,
  errorCodes,
  executorFor,
  type OperationResult,
  TEST_SECRET,
  type TestApp,
} from "./support/app.js";
import { backends } from "./support/backends.js";
import { GetMetadata, GetMetadataForKey, UpdateMetadata } from "./support/operations.js";

// Token verification needs no second database: PGlite, in memory.
const backend = backends[0] as (typeof backends)[number];

/** What the cases use of an app: the handler and its database. */
type Client = Pick<TestApp, "execute" | "db">;

/** The app every describe below shares the database of (one PGlite start and migration per file). */
let shared: TestApp;

beforeAll(async () => {
  shared = await createTestApp(backend);
});
afterAll(() => shared.close());

/**
 * Another real app (same handler as createTestApp's) configured with `env` on top of
 * `{ NODE_ENV: "test" }`, over the shared database: starting PGlite for each key type would
 * cost seconds per app. Such an app neither listens nor runs the purge job; the shared app closes
 * the database.
 */
async function appWith(env: Record<string, string>): Promise<Client> {
  const app = await createApp({ config: loadConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", ...env }), db: shared.db });
  return {
    db: shared.db,
    execute: executorFor(app),
  };
}

const STAFF = { sub: "u1", scope: "metadata.write", permissions: ["CAN_MUTATE_METADATA"] };
const SECRET = new TextEncoder().encode(TEST_SECRET);

type SigningKey = CryptoKey | KeyObject | Uint8Array;

interface SignOptions {
  alg?: string;
  kid?: string;
  /** `null`: no `exp` claim at all. */
  exp?: string | number | null;
  nbf?: string | number;
  iss?: string;
  aud?: string | string[];
}

/** Signs any payload (shapes the test helper's claims type would refuse included). */
function sign(payload: JWTPayload, key: SigningKey = SECRET, options: SignOptions = {}): Promise<string> {
  const { alg = "HS256", kid, exp = "1h", nbf, iss, aud } = options;
  let jwt = new SignJWT(payload).setProtectedHeader(kid ? { alg, typ: "JWT", kid } : { alg, typ: "JWT" }).setIssuedAt();
  if (exp !== null) jwt = jwt.setExpirationTime(exp);
  if (nbf !== undefined) jwt = jwt.setNotBefore(nbf);
  if (iss !== undefined) jwt = jwt.setIssuer(iss);
  if (aud !== undefined) jwt = jwt.setAudience(aud);
  return jwt.sign(key);
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

interface Credentials {
  token?: string;
  authorization?: string;
}

let written = 0;

/** Writes a fresh key (so an accepted write adds exactly one row). */
function write(t: Client, credentials: Credentials) {
  written += 1;
  return t.execute({
    document: UpdateMetadata,
    variables: {
      input: {
        linkedObjectType: "ACCOUNT",
        identifier: "A-1",
        key: `k${written}`,
        value: `v${written}`,
      },
    },
    ...credentials,
  });
}

/** A bad Authorization header fails the whole request: one UNAUTHENTICATED error, no data, no row. */
async function expectRejectedWrite(t: Client, credentials: Credentials, message: RegExp = /^Invalid token: /) {
  const before = await t.db.prisma.metadata.count();
  const result = await write(t, credentials);
  expectRequestRejected(result, message);
  expect(await t.db.prisma.metadata.count()).toBe(before);
}

function expectRequestRejected(result: OperationResult<unknown>, message: RegExp) {
  expect(result.body.data).toBeUndefined();
  expect(errorCodes(result)).toEqual(["UNAUTHENTICATED"]);
  expect(result.body.errors?.[0]?.message).toMatch(message);
}

/** An accepted token writes exactly one row and gets the entry back. */
async function expectAcceptedWrite(t: Client, credentials: Credentials) {
  const before = await t.db.prisma.metadata.count();
  const result = await write(t, credentials);
  expect(result.body.errors).toBeUndefined();
  expect(result.body.data?.updateMetadata.metadata).toMatchObject({ key: `k${written}`, value: `v${written}` });
  expect(await t.db.prisma.metadata.count()).toBe(before + 1);
}

/** A read that needs a verified caller: `metadata` of an object nobody wrote. */
function read(t: Client, token: string) {
  return t.execute({ document: GetMetadata, variables: { identifier: "A-unwritten" }, token });
}

async function expectAcceptedRead(t: Client, token: string) {
  const result = await read(t, token);
  expect(result.status).toBe(200);
  expect(result.body).toEqual({ data: { metadata: [] } });
}

async function expectRejectedRead(t: Client, token: string, message: RegExp = /^Invalid token: /) {
  expectRequestRejected(await read(t, token), message);
}

describe("Authorization header and HMAC tokens (JWT_SECRET)", () => {
  let t: Client;
  let staff: string;

  beforeAll(async () => {
    t = shared;
    staff = await sign(STAFF);
  });

  it("no Authorization header: the operation fails with UNAUTHENTICATED and writes nothing", async () => {
    const before = await t.db.prisma.metadata.count();
    const result = await write(t, {});
    expect(errorCodes(result)).toEqual(["UNAUTHENTICATED"]);
    expect(result.body.errors?.[0]?.path).toEqual(["updateMetadata"]);
    expect(result.body.data).toBeNull();
    expect(await t.db.prisma.metadata.count()).toBe(before);
    const query = await t.execute({ document: GetMetadata, variables: { identifier: "A-1" } });
    expect(errorCodes(query)).toEqual(["UNAUTHENTICATED"]);
    expect(query.body.data).toBeNull();
  });

  it("the invalid-token answer is exactly one coded error and no data", async () => {
    const result = await write(t, { authorization: "Bearer garbage" });
    expect(result.body).toEqual({
      errors: [
        {
          message: expect.stringMatching(/^Invalid token: /),
          extensions: { code: "UNAUTHENTICATED" },
        },
      ],
    });
  });

  it.each([
    ["Bearer with garbage", "Bearer garbage", /^Invalid token: /],
    ["Bearer with three garbage segments", "Bearer aaa.bbb.ccc", /^Invalid token: /],
    ["Bearer with nothing after it", "Bearer ", /^Authorization header must be/],
    ["Basic credentials", "Basic dXNlcjpwYXNz", /^Authorization header must be/],
    ["a bare token without a scheme", "eyJhbGciOiJIUzI1NiJ9.e30.sig", /^Authorization header must be/],
  ])("rejects %s", async (_name, authorization, message) => {
    await expectRejectedWrite(t, { authorization }, message);
  });

  it("rejects a valid token behind the wrong scheme", async () => {
    await expectRejectedWrite(t, { authorization: `Basic ${staff}` }, /^Authorization header must be/);
    await expectRejectedWrite(t, { authorization: `Token ${staff}` }, /^Authorization header must be/);
  });

  it("accepts `Bearer <jwt>` and Kraken's `JWT <jwt>`", async () => {
    await expectAcceptedWrite(t, { authorization: `Bearer ${staff}` });
    await expectAcceptedWrite(t, { authorization: `JWT ${staff}` });
  });

  it.each(["bearer", "BEARER", "jwt", "Jwt"])("the scheme is case-insensitive: %s", async (scheme) => {
    await expectAcceptedWrite(t, { authorization: `${scheme} ${staff}` });
  });

  it("rejects a token signed with another secret", async () => {
    const forged = await sign(STAFF, new TextEncoder().encode("another-secret-with-at-least-32-characters"));
    await expectRejectedWrite(t, { token: forged }, /^Invalid token: signature verification failed$/);
  });

  it("rejects an unsecured token (alg: none)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsecured = `${base64url({ alg: "none", typ: "JWT" })}.${base64url({ ...STAFF, iat: now, exp: now + 3600 })}.`;
    await expectRejectedWrite(t, { token: unsecured });
    await expectRejectedWrite(t, { authorization: `JWT ${unsecured}` });
  });

  it("rejects a token whose signature was stripped or whose payload was altered", async () => {
    const [header, , signature] = staff.split(".");
    const user = await sign({ sub: "u2", scope: "metadata.write" });
    const [, weakPayload] = user.split(".");
    // The staff signature over a lesser user's payload.
    await expectRejectedWrite(t, { token: `${header}.${weakPayload}.${signature}` }, /signature verification failed/);
    await expectRejectedWrite(t, { token: `${header}.${weakPayload}.` });
  });

  it.each(["HS384", "HS512"])("accepts %s with the right secret", async (alg) => {
    await expectAcceptedWrite(t, { token: await sign(STAFF, SECRET, { alg }) });
  });

  it("rejects an expired token", async () => {
    const expired = await sign(STAFF, SECRET, { exp: Math.floor(Date.now() / 1000) - 60 });
    await expectRejectedWrite(t, { token: expired }, /^Invalid token: expired$/);
  });

  it("stops accepting a verified (and remembered) token the moment it expires", async () => {
    const shortLived = await sign(STAFF, SECRET, { exp: Math.floor(Date.now() / 1000) + 2 });
    await expectAcceptedWrite(t, { token: shortLived });
    await expectAcceptedWrite(t, { token: shortLived });
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await expectRejectedWrite(t, { token: shortLived }, /^Invalid token: expired$/);
  });

  it("never remembers a failure: a token rejected once stays rejected, a good one after it passes", async () => {
    const forged = await sign(STAFF, new TextEncoder().encode("another-secret-another-secret-12345"));
    await expectRejectedWrite(t, { token: forged });
    await expectRejectedWrite(t, { token: forged });
    await expectAcceptedWrite(t, { token: await sign(STAFF) });
  });

  it("rejects a token without exp", async () => {
    await expectRejectedWrite(t, { token: await sign(STAFF, SECRET, { exp: null }) }, /^Invalid token: claim 'exp'/);
  });

  it("rejects a token that is not valid yet (nbf in the future)", async () => {
    const early = await sign(STAFF, SECRET, { nbf: Math.floor(Date.now() / 1000) + 600 });
    await expectRejectedWrite(t, { token: early }, /^Invalid token: claim 'nbf'/);
  });

  it.each([
    ["tenant: 42", { ...STAFF, tenant: 42 }, /tenant/],
    ["scope: 7", { ...STAFF, scope: 7 }, /scope/],
    ["permissions as a string", { ...STAFF, permissions: "CAN_MUTATE_METADATA" }, /permissions/],
    ["scp as a string", { sub: "u1", scp: "metadata.write", permissions: ["CAN_MUTATE_METADATA"] }, /scp/],
    ["accounts as a string", { ...STAFF, accounts: "A-1" }, /accounts/],
    ["an empty tenant", { ...STAFF, tenant: "" }, /tenant/],
  ])("rejects malformed claims: %s", async (_name, claims, claim) => {
    const token = await sign(claims);
    await expectRejectedWrite(t, { token }, /^Invalid token: malformed claims/);
    const result = await write(t, { token });
    expect(result.body.errors?.[0]?.message).toMatch(claim);
  });

  it("takes scopes from an scp array like from a scope string", async () => {
    const user = { sub: "u1", accounts: ["A-1"] };
    // Without any scope the same user may do nothing: the scopes below are what grants access.
    expect(errorCodes(await write(t, { token: await sign(user) }))).toEqual(["FORBIDDEN"]);
    await expectAcceptedWrite(t, { token: await sign({ ...user, scp: ["metadata.write"] }) });
    await expectAcceptedWrite(t, { token: await sign({ ...user, scope: "openid metadata.write" }) });
    await expectAcceptedWrite(t, { token: await sign({ ...user, scope: "openid", scp: ["metadata.write"] }) });

    const reader = await sign({ ...user, scp: ["openid", "metadata.read"] });
    const listed = await t.execute({ document: GetMetadata, variables: { identifier: "A-1" }, token: reader });
    expect(listed.body.errors).toBeUndefined();
    expect(listed.body.data?.metadata.length).toBeGreaterThan(0);
    const before = await t.db.prisma.metadata.count();
    expect(errorCodes(await write(t, { token: reader }))).toEqual(["FORBIDDEN"]);
    expect(await t.db.prisma.metadata.count()).toBe(before);
  });

  it("takes the client from azp like from client_id (the $app namespace)", async () => {
    const input = {
      linkedObjectType: "ACCOUNT" as const,
      identifier: "A-app",
      namespace: "$app",
      key: "k",
      value: "v",
    };
    const viaAzp = await sign({ azp: "client-7", scope: "metadata.write" });
    const created = await t.execute({ document: UpdateMetadata, variables: { input }, token: viaAzp });
    expect(created.body.errors).toBeUndefined();
    expect(created.body.data?.updateMetadata.metadata).toMatchObject({ key: "k", value: "v", namespace: "$app" });

    const readAs = async (client: string) =>
      t.execute({
        document: GetMetadataForKey,
        variables: { identifier: "A-app", key: "k", namespace: "$app" },
        token: await sign({ client_id: client, scope: "metadata.read" }),
      });
    const same = await readAs("client-7");
    expect(same.body.errors).toBeUndefined();
    expect(same.body.data?.metadataForKey).toMatchObject({ key: "k", value: "v", namespace: "$app" });
    // Another client's $app is another namespace.
    expect(errorCodes(await readAs("client-8"))).toEqual(["NOT_FOUND"]);
  });
});

describe("JWT_ISSUER and JWT_AUDIENCE", () => {
  const ISSUER = "https://issuer.example.com/";
  let t: Client;

  beforeAll(async () => {
    t = await appWith({ JWT_SECRET: TEST_SECRET, JWT_ISSUER: ISSUER, JWT_AUDIENCE: "a,b" });
  });

  it("accepts the configured issuer with either audience", async () => {
    await expectAcceptedWrite(t, { token: await sign(STAFF, SECRET, { iss: ISSUER, aud: "b" }) });
    await expectAcceptedWrite(t, { token: await sign(STAFF, SECRET, { iss: ISSUER, aud: "a" }) });
    await expectAcceptedWrite(t, { token: await sign(STAFF, SECRET, { iss: ISSUER, aud: ["c", "b"] }) });
  });

  it("rejects a wrong or missing issuer", async () => {
    const wrong = await sign(STAFF, SECRET, { iss: "https://evil.example.com/", aud: "a" });
    await expectRejectedWrite(t, { token: wrong }, /^Invalid token: claim 'iss'/);
    await expectRejectedWrite(t, { token: await sign(STAFF, SECRET, { aud: "a" }) }, /^Invalid token: claim 'iss'/);
  });

  it("rejects a wrong or missing audience", async () => {
    const wrong = await sign(STAFF, SECRET, { iss: ISSUER, aud: "c" });
    await expectRejectedWrite(t, { token: wrong }, /^Invalid token: claim 'aud'/);
    await expectRejectedWrite(t, { token: await sign(STAFF, SECRET, { iss: ISSUER }) }, /^Invalid token: claim 'aud'/);
  });
});

describe("JWT_PUBLIC_KEY: RSA (PEM SPKI)", () => {
  let t: Client;
  let pkcs8: string;
  let pem: string;

  beforeAll(async () => {
    const pair = await generateKeyPair("RS256", { extractable: true });
    pkcs8 = await exportPKCS8(pair.privateKey);
    pem = await exportSPKI(pair.publicKey);
    t = await appWith({ JWT_SECRET: "", JWT_PUBLIC_KEY: pem });
  });

  // The same key material, imported once per algorithm (Web Crypto keys are bound to one).
  it.each(["RS256", "PS256", "RS512", "PS384"])("accepts %s signed by the key", async (alg) => {
    await expectAcceptedWrite(t, { token: await sign(STAFF, await importPKCS8(pkcs8, alg), { alg }) });
  });

  it("rejects a token signed by another RSA key", async () => {
    const other = await generateKeyPair("RS256");
    const token = await sign(STAFF, other.privateKey, { alg: "RS256" });
    await expectRejectedWrite(t, { token }, /^Invalid token: signature verification failed$/);
  });

  it("rejects algorithm confusion: HS256 with the public key PEM as the HMAC secret", async () => {
    const confused = await sign(STAFF, new TextEncoder().encode(pem), { alg: "HS256" });
    await expectRejectedWrite(t, { token: confused }, /^Invalid token: algorithm not allowed$/);
  });

  it("rejects tokens signed with the test secret", async () => {
    await expectRejectedWrite(t, { token: await sign(STAFF) }, /^Invalid token: algorithm not allowed$/);
  });

  it("still requires exp with a public key", async () => {
    const token = await sign(STAFF, await importPKCS8(pkcs8, "RS256"), { alg: "RS256", exp: null });
    await expectRejectedWrite(t, { token }, /^Invalid token: claim 'exp'/);
  });
});

describe("JWT_PUBLIC_KEY: EC P-256 (PEM SPKI)", () => {
  let t: Client;
  let ec: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair("ES256");
    ec = pair.privateKey;
    t = await appWith({ JWT_SECRET: "", JWT_PUBLIC_KEY: await exportSPKI(pair.publicKey) });
  });

  it("accepts ES256 signed by the key", async () => {
    await expectAcceptedWrite(t, { token: await sign(STAFF, ec, { alg: "ES256" }) });
  });

  it("rejects an RS256 token when the configured key is EC", async () => {
    const rsa = await generateKeyPair("RS256");
    const token = await sign(STAFF, rsa.privateKey, { alg: "RS256" });
    await expectRejectedWrite(t, { token }, /^Invalid token: algorithm not allowed$/);
  });

  it("rejects ES384 (the algorithm is pinned to the curve) and another P-256 key", async () => {
    const p384 = await generateKeyPair("ES384");
    await expectRejectedWrite(
      t,
      { token: await sign(STAFF, p384.privateKey, { alg: "ES384" }) },
      /^Invalid token: algorithm not allowed$/,
    );
    const other = await generateKeyPair("ES256");
    await expectRejectedWrite(
      t,
      { token: await sign(STAFF, other.privateKey, { alg: "ES256" }) },
      /^Invalid token: signature verification failed$/,
    );
  });
});

describe("JWT_PUBLIC_KEY: Ed25519 (JWK JSON)", () => {
  let t: Client;
  let ed: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    ed = pair.privateKey;
    const jwk = await exportJWK(pair.publicKey);
    expect(jwk).toMatchObject({ kty: "OKP", crv: "Ed25519" });
    t = await appWith({ JWT_SECRET: "", JWT_PUBLIC_KEY: JSON.stringify(jwk) });
  });

  it("accepts EdDSA signed by the key", async () => {
    await expectAcceptedWrite(t, { token: await sign(STAFF, ed, { alg: "EdDSA" }) });
  });

  it("rejects another Ed25519 key and HS256", async () => {
    const other = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    await expectRejectedWrite(
      t,
      { token: await sign(STAFF, other.privateKey, { alg: "EdDSA" }) },
      /^Invalid token: signature verification failed$/,
    );
    await expectRejectedWrite(t, { token: await sign(STAFF) }, /^Invalid token: algorithm not allowed$/);
  });
});

describe("JWKS_URL", () => {
  let t: Client;
  let server: Server;
  /** What the JWKS endpoint serves now. */
  let served: JWK[] = [];
  let fetches = 0;
  let first: { privateKey: CryptoKey; jwk: JWK };
  let second: { privateKey: CryptoKey; jwk: JWK };

  const keyPair = async (kid: string) => {
    const pair = await generateKeyPair("ES256");
    return {
      privateKey: pair.privateKey,
      jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: "ES256", use: "sig" },
    };
  };

  beforeAll(async () => {
    first = await keyPair("key-1");
    second = await keyPair("key-2");
    served = [first.jwk];
    server = createServer((request, response) => {
      if (request.url !== "/.well-known/jwks.json") {
        response.writeHead(404).end();
        return;
      }
      fetches += 1;
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    t = await appWith({ JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json` });
  });
  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("verifies a token whose kid is in the set, fetching the set once", async () => {
    const token = await sign(STAFF, first.privateKey, { alg: "ES256", kid: "key-1" });
    await expectAcceptedRead(t, token);
    await expectAcceptedRead(t, token);
    await expectAcceptedWrite(t, { token });
    expect(fetches).toBe(1);
  });

  it("follows a key rotation without a restart", async () => {
    expect(fetches).toBe(1);
    served = [first.jwk, second.jwk];
    // jose refetches for an unknown kid only once its 30 s cooldown since the last fetch has passed;
    // move its clock (Date.now only) past the cooldown instead of sleeping.
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + 31_000);
    const rotated = await sign(STAFF, second.privateKey, { alg: "ES256", kid: "key-2" });
    await expectAcceptedRead(t, rotated);
    await expectAcceptedWrite(t, { token: rotated });
    expect(fetches).toBe(2);
    // The old key is still served, and still verifies.
    await expectAcceptedRead(t, await sign(STAFF, first.privateKey, { alg: "ES256", kid: "key-1" }));
    expect(fetches).toBe(2);
  });

  it("rejects an unknown kid, and a known kid with another key's signature", async () => {
    const stranger = await keyPair("key-9");
    await expectRejectedWrite(
      t,
      { token: await sign(STAFF, stranger.privateKey, { alg: "ES256", kid: "key-9" }) },
      /^Invalid token: no matching key in the JWKS$/,
    );
    await expectRejectedWrite(
      t,
      { token: await sign(STAFF, stranger.privateKey, { alg: "ES256", kid: "key-1" }) },
      /^Invalid token: signature verification failed$/,
    );
  });

  it("rejects HS256 tokens (the JWKS allows asymmetric algorithms only)", async () => {
    await expectRejectedRead(t, await sign(STAFF, SECRET, { kid: "key-1" }), /^Invalid token: algorithm not allowed$/);
  });
});
