import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Logger } from "../src/observability/logger.js";
import { createTestApp, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";
import { claims, ecKeyPair, es256, forge, publicJwk } from "./support/forge.js";
import { type KeyServer, type KeyServerMode, refusedUrl, startKeyServer } from "./support/key-server.js";
import { captureLog } from "./support/log.js";
import { appOver, type Client, expectReadAccepted, expectWriteRefused } from "./support/verdicts.js";

/**
 * JWKS_URL against a local identity provider: what is fetched when (counted by the server), and
 * what a client sees when the provider cannot be reached. Key rotation itself: auth.test.ts.
 */

const key1 = ecKeyPair();
const key2 = ecKeyPair();
const stranger = ecKeyPair();
const KEY1 = publicJwk(key1.publicKey, "key-1", "ES256");
const KEY2 = publicJwk(key2.publicKey, "key-2", "ES256");
const JWKS_PATH = "/.well-known/jwks.json";

/** A fresh token (never in the verified-token cache) with this kid, signed by `signer`. */
const token = (kid: string, pair = kid === "key-2" ? key2 : key1) => forge({ kid }, claims(), es256(pair.privateKey));

const NO_KEY = /^Invalid token: no matching key in the JWKS$/;
const UNAVAILABLE = /^Cannot verify tokens right now: the signing keys \(JWKS\) are unavailable; retry later$/;

describe.each(backends)("JWKS_URL on $name", (backend) => {
  let main: TestApp;
  const servers: KeyServer[] = [];

  beforeAll(async () => {
    main = await createTestApp(backend);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await main.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  async function provider(keys: object[] = [KEY1]): Promise<KeyServer> {
    const server = await startKeyServer(keys);
    servers.push(server);
    return server;
  }
  const appFor = (url: string, env: Record<string, string> = {}, logger?: Logger): Promise<Client> =>
    appOver(main.db, { JWKS_URL: url, ...env }, { logger });

  it("caches the keys: 20 requests with 20 different tokens, concurrent and sequential, cost one fetch", async () => {
    const idp = await provider();
    const t = await appFor(idp.url);
    await Promise.all(Array.from({ length: 10 }, () => expectReadAccepted(t, token("key-1"))));
    for (let i = 0; i < 10; i++) await expectReadAccepted(t, token("key-1"));
    expect(idp.requests).toEqual([JWKS_PATH]);
  });

  it("a new kid after the cooldown triggers exactly one refetch (JWKS_COOLDOWN_SECONDS=1)", async () => {
    const idp = await provider();
    const t = await appFor(idp.url, { JWKS_COOLDOWN_SECONDS: "1" });
    await expectReadAccepted(t, token("key-1"));
    idp.keys = [KEY1, KEY2]; // the provider rotates
    await sleep(1100);
    await Promise.all(Array.from({ length: 5 }, () => expectReadAccepted(t, token("key-2"))));
    for (let i = 0; i < 5; i++) await expectReadAccepted(t, token("key-2"));
    await expectReadAccepted(t, token("key-1"));
    expect(idp.requests).toEqual([JWKS_PATH, JWKS_PATH]);
  });

  it("unknown kids within the cooldown (30 s by default) fetch nothing, even a kid the provider now has", async () => {
    const idp = await provider();
    const t = await appFor(idp.url);
    await expectReadAccepted(t, token("key-1"));
    idp.keys = [KEY1, KEY2];
    for (const kid of ["key-2", "key-9", "../x", "key-1 "]) {
      await expectWriteRefused(t, token(kid, stranger), "UNAUTHENTICATED", NO_KEY);
    }
    await expectWriteRefused(t, token("key-2"), "UNAUTHENTICATED", NO_KEY);
    expect(idp.requests).toEqual([JWKS_PATH]);
  });

  it("a burst of forged kids costs at most one fetch per cooldown", async () => {
    const idp = await provider();
    const t = await appFor(idp.url, { JWKS_COOLDOWN_SECONDS: "1" });
    await expectWriteRefused(t, token("forged-0", stranger), "UNAUTHENTICATED", NO_KEY);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        expectWriteRefused(t, token(`forged-${i}`, stranger), "UNAUTHENTICATED", NO_KEY),
      ),
    );
    expect(idp.requests).toHaveLength(1);
    await sleep(1100);
    for (let i = 0; i < 10; i++) {
      await expectWriteRefused(t, token(`forged-again-${i}`, stranger), "UNAUTHENTICATED", NO_KEY);
    }
    expect(idp.requests).toHaveLength(2);
  });

  const outages: [string, KeyServerMode | "refused"][] = [
    ["the connection is refused", "refused"],
    ["it answers HTTP 500", "status-500"],
    ["it answers invalid JSON", "invalid-json"],
    ["it answers JSON that is not a JWK set", "not-a-key-set"],
    ["it redirects", "redirect"],
    ["it does not answer (JWKS_TIMEOUT_SECONDS=1)", "hang"],
  ];

  it.each(outages)("fails closed with SERVICE_UNAVAILABLE when %s, and recovers", async (_name, mode) => {
    const log = await captureLog("warn");
    const logged = () => log.lines().map(({ level, msg }) => [level, msg]);
    const idp = mode === "refused" ? undefined : await provider();
    if (idp && mode !== "refused") idp.mode = mode;
    const url = idp?.url ?? (await refusedUrl());
    const t = await appFor(url, { JWKS_TIMEOUT_SECONDS: "1" }, log.logger);

    const started = Date.now();
    // A valid token and a forged one get the same answer: neither can be checked.
    await expectWriteRefused(t, token("key-1"), "SERVICE_UNAVAILABLE", UNAVAILABLE);
    await expectWriteRefused(t, token("key-1", stranger), "SERVICE_UNAVAILABLE", UNAVAILABLE);
    // Two waits of the 1 s timeout, not of jose's 5 s default.
    if (mode === "hang") expect(Date.now() - started).toBeLessThan(4000);
    // Each request asked again (a failure is not cached), and a redirect was not followed.
    if (idp) expect(idp.requests).toEqual([JWKS_PATH, JWKS_PATH]);
    // Operators see the outage once, with where and why; clients never see either.
    expect(logged()).toEqual([["warn", expect.stringMatching(`^JWKS unavailable \\(${url}: .+\\): requests`)]]);

    if (!idp) return;
    idp.mode = "ok";
    await expectReadAccepted(t, token("key-1"));
    expect(logged()).toHaveLength(2);
    expect(logged()[1]).toEqual(["warn", expect.stringMatching(/^JWKS available again after \d+\.\d s$/)]);
  });

  it("during an outage, known kids keep verifying from the cache; a new kid fails closed", async () => {
    const idp = await provider([KEY1, KEY2]);
    const t = await appFor(idp.url, { JWKS_COOLDOWN_SECONDS: "1" });
    await expectReadAccepted(t, token("key-1"));
    idp.mode = "status-500";
    await expectReadAccepted(t, token("key-2"));
    await sleep(1100);
    await expectWriteRefused(t, token("key-3", stranger), "SERVICE_UNAVAILABLE", UNAVAILABLE);
    expect(idp.requests).toEqual([JWKS_PATH, JWKS_PATH]);
  });
});
