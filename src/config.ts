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
  DATA_DIR: z.string().default("./data"),
  JWT_SECRET: optionalText.pipe(z.string().min(32, "must be at least 32 characters (256 bits) for HS256").optional()),
  JWT_PUBLIC_KEY: optionalText,
  JWKS_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  JWT_ISSUER: optionalText,
  JWT_AUDIENCE: optionalText,
  METADATA_MAX_VALUE_LENGTH: positiveInt.default(65535),
  METADATA_MAX_KEYS_PER_OBJECT: positiveInt.default(1000),
  METADATA_PURGE_INTERVAL_SECONDS: positiveInt.default(60),
  SHUTDOWN_TIMEOUT_SECONDS: positiveInt.default(10),
});

/** Every variable the service reads: tools that start it clear these from their own environment. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(EnvSchema.shape);

/** Where verification keys come from; exactly one source, or the dev key outside production. */
export type JwtKeySource =
  | { kind: "secret"; secret: string }
  | { kind: "publicKey"; key: string }
  | { kind: "jwks"; url: URL }
  | { kind: "devKey" };

export type Config = Readonly<{
  production: boolean;
  port: number;
  host: string | undefined;
  databaseUrl: string | undefined;
  dataDir: string;
  jwt: Readonly<{ source: JwtKeySource; issuer?: string; audience?: string[] }>;
  metadata: Readonly<{ maxValueLength: number; maxKeysPerObject: number }>;
  purgeIntervalMs: number;
  shutdownTimeoutMs: number;
}>;

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
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_SECONDS * 1000,
  });
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
  if (e.JWKS_URL) return { kind: "jwks", url: new URL(e.JWKS_URL) };
  if (production) {
    throw new ConfigError(
      "Invalid configuration: NODE_ENV=production needs a JWT key: set JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL",
    );
  }
  return { kind: "devKey" };
}
