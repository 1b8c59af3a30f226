import { isAbsolute, resolve } from "node:path";
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair } from "jose";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";
import type { Database } from "../src/db/database.js";
import { createApp } from "../src/server.js";

/** The ConfigError `loadConfig(env)` throws; fails the test when it throws nothing or something else. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

const SECRET = "s".repeat(32);

describe("loadConfig", () => {
  it("defaults", () => {
    const config = loadConfig({});
    expect(config.port).toBe(4000);
    expect(isAbsolute(config.dataDir)).toBe(true);
    expect(config.dataDir).toBe(resolve("./data"));
    expect(config.metadata).toEqual({ maxValueLength: 65535, maxKeysPerObject: 1000 });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.host).toBeUndefined();
    expect(config.production).toBe(false);
    expect(config.purgeIntervalMs).toBe(60_000);
    expect(config.historyRetentionMs).toBe(90 * 24 * 60 * 60 * 1000);
    expect(config.shutdownTimeoutMs).toBe(10_000);
    // No key outside production: the dev key.
    expect(config.jwt).toEqual({ source: { kind: "devKey" }, issuer: undefined, audience: undefined });
  });

  it("returns a frozen configuration", () => {
    const config = loadConfig({ JWT_SECRET: SECRET });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.jwt)).toBe(true);
    expect(Object.isFrozen(config.metadata)).toBe(true);
  });

  it("reads valid values", () => {
    const config = loadConfig({
      PORT: "8080",
      HOST: "127.0.0.1",
      DATABASE_URL: "postgresql://app:pw@db:5432/metadata",
      DATABASE_POOL_SIZE: "16",
      DATA_DIR: "/var/lib/metadata-graph",
      METADATA_MAX_VALUE_LENGTH: "1000",
      METADATA_MAX_KEYS_PER_OBJECT: "200",
      METADATA_PURGE_INTERVAL_SECONDS: "300",
      METADATA_HISTORY_DAYS: "7",
      SHUTDOWN_TIMEOUT_SECONDS: "30",
      JWT_SECRET: SECRET,
      JWT_ISSUER: "https://idp.example.com/",
    });
    expect(config).toMatchObject({
      port: 8080,
      host: "127.0.0.1",
      databaseUrl: "postgresql://app:pw@db:5432/metadata",
      databasePoolSize: 16,
      dataDir: "/var/lib/metadata-graph",
      metadata: { maxValueLength: 1000, maxKeysPerObject: 200 },
      purgeIntervalMs: 300_000,
      historyRetentionMs: 7 * 24 * 60 * 60 * 1000,
      shutdownTimeoutMs: 30_000,
      jwt: { source: { kind: "secret", secret: SECRET }, issuer: "https://idp.example.com/" },
    });
    expect(loadConfig({ DATABASE_URL: "postgres://localhost/x" }).databaseUrl).toBe("postgres://localhost/x");
    expect(loadConfig({ PORT: "0" }).port).toBe(0);
  });

  it("treats empty optional values as unset", () => {
    const config = loadConfig({ HOST: "", DATABASE_URL: "", JWT_SECRET: "  ", JWT_ISSUER: "", JWT_AUDIENCE: "" });
    expect(config.host).toBeUndefined();
    expect(config.databaseUrl).toBeUndefined();
    expect(config.jwt).toEqual({ source: { kind: "devKey" }, issuer: undefined, audience: undefined });
  });

  // README: PORT defaults to 4000 and DATA_DIR to ./data; `PORT=` (e.g. an unset variable passed
  // through docker compose) must not silently mean port 0 (any free port), nor DATA_DIR= the
  // working directory.
  it.each([
    ["PORT", "", (c: ReturnType<typeof loadConfig>) => c.port, 4000],
    ["DATA_DIR", "", (c: ReturnType<typeof loadConfig>) => c.dataDir, resolve("./data")],
  ])("an empty %s counts as unset, like the other variables", (name, value, read, expected) => {
    expect(read(loadConfig({ [name]: value }))).toBe(expected);
  });

  it.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["PORT", "-1"],
    ["PORT", "80.5"],
    ["METADATA_MAX_VALUE_LENGTH", "0"],
    ["METADATA_MAX_VALUE_LENGTH", "lots"],
    ["METADATA_MAX_KEYS_PER_OBJECT", "-1"],
    ["METADATA_PURGE_INTERVAL_SECONDS", "0"],
    ["METADATA_HISTORY_DAYS", "0"],
    ["METADATA_HISTORY_DAYS", "1.5"],
    ["METADATA_HISTORY_DAYS", "forever"],
    ["SHUTDOWN_TIMEOUT_SECONDS", "1.5"],
    ["DATABASE_POOL_SIZE", "0"],
    ["DATABASE_URL", "mysql://x"],
    ["DATABASE_URL", "db.example.com:5432"],
    ["JWKS_URL", "not-a-url"],
    ["JWKS_URL", "ftp://idp.example.com/jwks.json"],
    ["JWKS_COOLDOWN_SECONDS", "0"],
    ["JWKS_COOLDOWN_SECONDS", "soon"],
    ["JWKS_TIMEOUT_SECONDS", "-5"],
    ["JWKS_TIMEOUT_SECONDS", "0.5"],
    ["JWT_SECRET", "s".repeat(31)],
    ["JWT_SECRET", "short"],
    ["LOG_LEVEL", "verbose"],
    ["LOG_LEVEL", "INFO"],
    ["METRICS_ENABLED", "maybe"],
    ["METRICS_TOKEN", "t".repeat(15)],
  ])("%s=%s fails with a ConfigError naming the variable", (name, value) => {
    const error = configError({ [name]: value });
    expect(error.name).toBe("ConfigError");
    expect(error.message).toMatch(new RegExp(`^Invalid configuration: ${name}: `));
  });

  it("names every invalid variable at once", () => {
    const error = configError({ PORT: "abc", DATABASE_URL: "mysql://x" });
    expect(error.message).toMatch(/PORT: /);
    expect(error.message).toMatch(/DATABASE_URL: /);
  });

  it("accepts a JWT_SECRET of exactly 32 characters (trimmed)", () => {
    expect(loadConfig({ JWT_SECRET: ` ${SECRET} ` }).jwt.source).toEqual({ kind: "secret", secret: SECRET });
  });

  it("takes JWT_PUBLIC_KEY and JWKS_URL as key sources", () => {
    expect(loadConfig({ JWT_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----" }).jwt.source).toEqual({
      kind: "publicKey",
      key: "-----BEGIN PUBLIC KEY-----",
    });
    const jwks = loadConfig({ JWKS_URL: "https://idp.example.com/.well-known/jwks.json" }).jwt.source;
    expect(jwks.kind).toBe("jwks");
    expect(jwks.kind === "jwks" && jwks.url.href).toBe("https://idp.example.com/.well-known/jwks.json");
  });

  it("JWKS_URL: cooldown 30 s and fetch timeout 5 s by default; JWKS_COOLDOWN_SECONDS / JWKS_TIMEOUT_SECONDS set them", () => {
    const url = "https://idp.example.com/jwks.json";
    expect(loadConfig({ JWKS_URL: url }).jwt.source).toMatchObject({
      kind: "jwks",
      cooldownMs: 30_000,
      timeoutMs: 5_000,
    });
    expect(
      loadConfig({ JWKS_URL: url, JWKS_COOLDOWN_SECONDS: "", JWKS_TIMEOUT_SECONDS: " " }).jwt.source,
    ).toMatchObject({ cooldownMs: 30_000, timeoutMs: 5_000 });
    expect(
      loadConfig({ JWKS_URL: url, JWKS_COOLDOWN_SECONDS: "300", JWKS_TIMEOUT_SECONDS: "2" }).jwt.source,
    ).toMatchObject({ kind: "jwks", cooldownMs: 300_000, timeoutMs: 2_000 });
  });

  it("refuses two key sources, naming both", () => {
    const error = configError({ JWT_SECRET: SECRET, JWKS_URL: "https://idp.example.com/jwks.json" });
    expect(error.message).toMatch(/JWT_SECRET/);
    expect(error.message).toMatch(/JWKS_URL/);
    const three = configError({
      JWT_SECRET: SECRET,
      JWT_PUBLIC_KEY: "-----BEGIN PUBLIC KEY-----",
      JWKS_URL: "https://idp.example.com/jwks.json",
    });
    for (const name of ["JWT_SECRET", "JWT_PUBLIC_KEY", "JWKS_URL"]) expect(three.message).toContain(name);
    // An empty variable is not a second source.
    expect(loadConfig({ JWT_SECRET: "", JWKS_URL: "https://idp.example.com/jwks.json" }).jwt.source.kind).toBe("jwks");
  });

  it("NODE_ENV=production needs a key", () => {
    expect(configError({ NODE_ENV: "production" }).message).toMatch(/JWT_SECRET/);
    expect(configError({ NODE_ENV: "production", JWT_SECRET: "" }).message).toMatch(/JWT_SECRET/);
    const config = loadConfig({ NODE_ENV: "production", JWT_SECRET: SECRET });
    expect(config.production).toBe(true);
    expect(config.jwt.source.kind).toBe("secret");
  });

  it("logs at info, pretty outside production; LOG_LEVEL sets the level (silent: nothing), empty = unset", () => {
    expect(loadConfig({}).log).toEqual({ level: "info", pretty: true });
    expect(loadConfig({ NODE_ENV: "production", JWT_SECRET: SECRET }).log).toEqual({ level: "info", pretty: false });
    expect(loadConfig({ LOG_LEVEL: "" }).log.level).toBe("info");
    for (const level of ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const) {
      expect(loadConfig({ LOG_LEVEL: level }).log.level).toBe(level);
    }
    expect(Object.isFrozen(loadConfig({}).log)).toBe(true);
  });

  it("metrics: on without a token by default; METRICS_ENABLED turns them off, METRICS_TOKEN (16+ characters) guards them", () => {
    expect(loadConfig({}).metrics).toEqual({ enabled: true, token: undefined });
    expect(loadConfig({ METRICS_ENABLED: "false" }).metrics.enabled).toBe(false);
    expect(loadConfig({ METRICS_ENABLED: "", METRICS_TOKEN: " " }).metrics).toEqual({
      enabled: true,
      token: undefined,
    });
    const token = "m".repeat(16);
    expect(loadConfig({ METRICS_TOKEN: ` ${token} ` }).metrics).toEqual({ enabled: true, token });
    expect(Object.isFrozen(loadConfig({}).metrics)).toBe(true);
  });

  it("splits JWT_AUDIENCE on commas and trims", () => {
    expect(loadConfig({ JWT_AUDIENCE: "a, b" }).jwt.audience).toEqual(["a", "b"]);
    expect(loadConfig({ JWT_AUDIENCE: " a ,, b , " }).jwt.audience).toEqual(["a", "b"]);
    expect(loadConfig({ JWT_AUDIENCE: "metadata-graph" }).jwt.audience).toEqual(["metadata-graph"]);
  });

  it("tracing: off unless an OTLP endpoint is set (empty = unset); OTEL_SERVICE_NAME defaults to metadata-graph", () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: " " }).tracing,
    ).toBeUndefined();
    // A service name alone turns nothing on.
    expect(loadConfig({ OTEL_SERVICE_NAME: "billing-metadata" }).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel-collector:4318" }).tracing).toEqual({
      tracesUrl: "http://otel-collector:4318/v1/traces",
      serviceName: "metadata-graph",
    });
    expect(Object.isFrozen(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }).tracing)).toBe(true);
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://c.example.com:4318", OTEL_SERVICE_NAME: " billing " }).tracing,
    ).toEqual({ tracesUrl: "https://c.example.com:4318/v1/traces", serviceName: "billing" });
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SERVICE_NAME: "" }).tracing?.serviceName,
    ).toBe("metadata-graph");
  });

  it("tracing: the base endpoint gets v1/traces after its path; the traces endpoint is used as it is and wins", () => {
    const tracesUrl = (env: NodeJS.ProcessEnv) => loadConfig(env).tracing?.tracesUrl;
    expect(tracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://gateway/otlp" })).toBe("http://gateway/otlp/v1/traces");
    expect(tracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://gateway/otlp/" })).toBe("http://gateway/otlp/v1/traces");
    expect(tracesUrl({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/custom" })).toBe("http://c:4318/custom");
    expect(
      tracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://t:9/x" }),
    ).toBe("http://t:9/x");
  });

  it.each([
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector:4318"],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://otel-collector:4317"],
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not a url"],
  ])("%s=%s (not an http(s) URL) fails naming the variable", (name, value) => {
    expect(configError({ [name]: value }).message).toMatch(new RegExp(`^Invalid configuration: ${name}: `));
  });
});

describe("JWT_PUBLIC_KEY is checked when the app starts", () => {
  // createApp imports the key before it uses the database, so no database is started here (valid
  // keys are exercised end to end in auth.test.ts). Any use of this one fails loudly.
  const unused = () => new Error("the database was used before the key was checked");
  const db: Database = {
    kind: "pglite",
    get prisma(): never {
      throw unused();
    },
    sql: { query: () => Promise.reject(unused()) },
    transaction: () => Promise.reject(unused()),
    withConnection: () => Promise.reject(unused()),
    observeStatements: () => {
      throw unused();
    },
    get listener(): never {
      throw unused();
    },
    close: () => Promise.reject(unused()),
  };
  const start = (key: string) => createApp({ config: loadConfig({ NODE_ENV: "test", JWT_PUBLIC_KEY: key }), db });

  it.each([
    ["not a key", () => Promise.resolve("not a key")],
    ["invalid JSON", () => Promise.resolve('{"kty": "EC",')],
    ["a private JWK (with d)", async () => JSON.stringify(await exportJWK(await privateEd25519()))],
    ["a symmetric JWK", () => Promise.resolve(JSON.stringify({ kty: "oct", k: "c2VjcmV0" }))],
    ["an EC JWK on an unsupported curve", () => Promise.resolve(JSON.stringify({ kty: "EC", crv: "secp256k1" }))],
    ["a private PEM (PKCS#8)", async () => exportPKCS8(await privateEd25519())],
    ["a truncated PEM", async () => (await publicPem()).slice(0, 80)],
  ])("%s: startup rejects with a ConfigError naming JWT_PUBLIC_KEY", async (_name, key) => {
    const started = start(await key());
    await expect(started).rejects.toBeInstanceOf(ConfigError);
    await expect(started).rejects.toThrow(/^JWT_PUBLIC_KEY: /);
  });
});

async function privateEd25519() {
  return (await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true })).privateKey;
}

async function publicPem() {
  return exportSPKI((await generateKeyPair("ES256")).publicKey);
}
