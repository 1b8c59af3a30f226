import { resolve } from "node:path";
import { z } from "zod";

/** Thrown for an invalid environment; the message names the variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

const positiveInt = z.coerce.number().int().positive();
const optionalText = z.string().trim().optional();

const EnvSchema = z.object({
  NODE_ENV: z.string().default("development"),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: optionalText,
  DATABASE_URL: optionalText.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
      .optional(),
  ),
  DATABASE_POOL_SIZE: positiveInt.optional(),
  DATA_DIR: z.string().default("./data"),
  JWT_SECRET: optionalText.pipe(z.string().min(32, "must be at least 32 characters (256 bits) for HS256").optional()),
  JWT_PUBLIC_KEY: optionalText,
  JWKS_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  JWKS_COOLDOWN_SECONDS: positiveInt.default(30),
  JWKS_TIMEOUT_SECONDS: positiveInt.default(5),
  JWT_ISSUER: optionalText,
  JWT_AUDIENCE: optionalText,
  METADATA_MAX_VALUE_LENGTH: positiveInt.default(65535),
  METADATA_MAX_KEYS_PER_OBJECT: positiveInt.default(1000),
  METADATA_PURGE_INTERVAL_SECONDS: positiveInt.default(60),
  // How long the change history keeps an event; the purge job prunes older ones.
  METADATA_HISTORY_DAYS: positiveInt.default(90),
  SHUTDOWN_TIMEOUT_SECONDS: positiveInt.default(10),
  // Unset: on outside production, off in production.
  GRAPHQL_INTROSPECTION: z.stringbool().optional(),
  GRAPHQL_MAX_DEPTH: positiveInt.default(10),
  GRAPHQL_MAX_ALIASES: positiveInt.default(15),
  GRAPHQL_MAX_DIRECTIVES: positiveInt.default(10),
  GRAPHQL_MAX_TOKENS: positiveInt.default(2000),
  // graphql-armor multiplies a literal `first`/`last` into the cost: a full 500-entry page with every
  // field costs ~24,000, so that stays well inside; fifteen such pages do not.
  GRAPHQL_MAX_COST: positiveInt.default(50_000),
  GRAPHQL_MAX_BATCH: positiveInt.default(10),
  MAX_REQUEST_BODY_BYTES: positiveInt.default(1_048_576),
  PERSISTED_OPERATIONS_FILE: optionalText,
  PERSISTED_OPERATIONS_ONLY: z.stringbool().default(false),
  // 0 turns rate limiting off.
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(6000),
  REDIS_URL: optionalText.pipe(z.url({ protocol: /^rediss?$/ }).optional()),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  // Off only to measure what metrics cost (the bench) or where nothing scrapes them.
  METRICS_ENABLED: z.stringbool().default(true),
  // /metrics tells how busy the service is and which operations fail: a guessable token protects nothing.
  METRICS_TOKEN: optionalText.pipe(z.string().min(16, "must be at least 16 characters").optional()),
  // OpenTelemetry's own names (https://opentelemetry.io/docs/specs/otel/protocol/exporter/), so that
  // an operator's usual settings work: tracing is on when an OTLP/HTTP endpoint is set, off otherwise.
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  OTEL_SERVICE_NAME: z.string().trim().default("metadata-graph"),
});

/** Every variable the service reads: tools that start it clear these from their own environment. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(EnvSchema.shape);

/** Where verification keys come from; exactly one source, or the dev key outside production. */
export type JwtKeySource =
  | { kind: "secret"; secret: string }
  | { kind: "publicKey"; key: string }
  /**
   * cooldownMs: after a fetch, how long an unknown `kid` is refused without fetching again (so
   * forged kids cannot make us hammer the identity provider). timeoutMs: how long one fetch may take.
   */
  | { kind: "jwks"; url: URL; cooldownMs: number; timeoutMs: number }
  | { kind: "devKey" };

export type Config = Readonly<{
  production: boolean;
  port: number;
  host: string | undefined;
  databaseUrl: string | undefined;
  /** Connections to PostgreSQL; unset: two per core (src/db/database.ts). */
  databasePoolSize: number | undefined;
  dataDir: string;
  jwt: Readonly<{ source: JwtKeySource; issuer?: string; audience?: string[] }>;
  metadata: Readonly<{ maxValueLength: number; maxKeysPerObject: number }>;
  purgeIntervalMs: number;
  /** Events older than this are pruned from the history by the purge job. */
  historyRetentionMs: number;
  shutdownTimeoutMs: number;
  graphql: Readonly<GraphQLLimits>;
  /** Operations per principal and minute; 0: no limit. */
  rateLimitPerMinute: number;
  /** Shares rate-limit counters across instances; unset: each instance counts alone, in memory. */
  redisUrl: string | undefined;
  /** pino level; `pretty`: human-readable lines instead of JSON (outside production). */
  log: Readonly<{ level: LogLevel; pretty: boolean }>;
  /** GET /metrics (Prometheus); `token`: required as a bearer token when set. */
  metrics: Readonly<{ enabled: boolean; token: string | undefined }>;
  /** Spans exported over OTLP/HTTP to `tracesUrl` (src/observability/tracing.ts); unset: no tracing. */
  tracing: Readonly<{ tracesUrl: string; serviceName: string }> | undefined;
}>;

export type LogLevel = z.infer<typeof EnvSchema>["LOG_LEVEL"];

export interface GraphQLLimits {
  introspection: boolean;
  /** Field suggestions ("Did you mean …?") reveal the schema: off when introspection is. */
  fieldSuggestions: boolean;
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  maxTokens: number;
  maxCost: number;
  maxBatch: number;
  maxRequestBodyBytes: number;
  /** A JSON object of operation id (e.g. sha256 hash) → document, as GraphQL Code Generator writes it. */
  persistedOperationsFile: string | undefined;
  /** Refuse every operation that is not persisted (needs persistedOperationsFile). */
  persistedOperationsOnly: boolean;
}

/** Parses the environment once; nothing else reads `process.env`. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // `PORT=` in a .env file or an unset variable passed through compose means "unset", not "".
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value?.trim()));
  const parsed = EnvSchema.safeParse(given);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join("; ")}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === "production";
  return Object.freeze({
    production,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    dataDir: resolve(e.DATA_DIR),
    jwt: Object.freeze({
      source: jwtKeySource(e, production),
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE?.split(",")
        .map((a) => a.trim())
        .filter(Boolean),
    }),
    metadata: Object.freeze({
      maxValueLength: e.METADATA_MAX_VALUE_LENGTH,
      maxKeysPerObject: e.METADATA_MAX_KEYS_PER_OBJECT,
    }),
    purgeIntervalMs: e.METADATA_PURGE_INTERVAL_SECONDS * 1000,
    historyRetentionMs: e.METADATA_HISTORY_DAYS * 24 * 60 * 60 * 1000,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    graphql: Object.freeze(graphqlLimits(e, production)),
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    redisUrl: e.REDIS_URL,
    log: Object.freeze({ level: e.LOG_LEVEL, pretty: !production }),
    metrics: Object.freeze({ enabled: e.METRICS_ENABLED, token: e.METRICS_TOKEN }),
    tracing: tracing(e),
  });
}

/**
 * As the OTLP exporter specification reads them: the signal's own endpoint is used as it is, the
 * general one is a base URL that `v1/traces` is appended to (keeping any path it has).
 */
function tracing(e: z.infer<typeof EnvSchema>): Config["tracing"] {
  const base = e.OTEL_EXPORTER_OTLP_ENDPOINT;
  const tracesUrl =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base && new URL("v1/traces", base.endsWith("/") ? base : `${base}/`).href);
  return tracesUrl ? Object.freeze({ tracesUrl, serviceName: e.OTEL_SERVICE_NAME }) : undefined;
}

function graphqlLimits(e: z.infer<typeof EnvSchema>, production: boolean): GraphQLLimits {
  if (e.PERSISTED_OPERATIONS_ONLY && !e.PERSISTED_OPERATIONS_FILE) {
    throw new ConfigError("Invalid configuration: PERSISTED_OPERATIONS_ONLY=true needs PERSISTED_OPERATIONS_FILE");
  }
  const introspection = e.GRAPHQL_INTROSPECTION ?? !production;
  return {
    introspection,
    fieldSuggestions: introspection,
    maxDepth: e.GRAPHQL_MAX_DEPTH,
    maxAliases: e.GRAPHQL_MAX_ALIASES,
    maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
    maxTokens: e.GRAPHQL_MAX_TOKENS,
    maxCost: e.GRAPHQL_MAX_COST,
    maxBatch: e.GRAPHQL_MAX_BATCH,
    maxRequestBodyBytes: e.MAX_REQUEST_BODY_BYTES,
    persistedOperationsFile: e.PERSISTED_OPERATIONS_FILE,
    persistedOperationsOnly: e.PERSISTED_OPERATIONS_ONLY,
  };
}

function jwtKeySource(e: z.infer<typeof EnvSchema>, production: boolean): JwtKeySource {
  const given = (["JWT_SECRET", "JWT_PUBLIC_KEY", "JWKS_URL"] as const).filter((n) => e[n]);
  if (given.length > 1) {
    throw new ConfigError(
      `Invalid configuration: ${given.join(" and ")} are both set; configure exactly one JWT key source`,
    );
  }
  if (e.JWT_SECRET) return { kind: "secret", secret: e.JWT_SECRET };
  if (e.JWT_PUBLIC_KEY) return { kind: "publicKey", key: e.JWT_PUBLIC_KEY };
  if (e.JWKS_URL) {
    return {
      kind: "jwks",
      url: new URL(e.JWKS_URL),
      cooldownMs: e.JWKS_COOLDOWN_SECONDS * 1000,
      timeoutMs: e.JWKS_TIMEOUT_SECONDS * 1000,
    };
  }
  if (production) {
    throw new ConfigError(
      "Invalid configuration: NODE_ENV=production needs a JWT key: set JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL",
    );
  }
  return { kind: "devKey" };
}
