#!/usr/bin/env node
import { parseArgs } from "node:util";
import { devTokenClaims, mintToken } from "./auth/mint.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { openDatabase } from "./db/database.js";
import { applyPendingMigrations } from "./db/migrations.js";
import { createLogger } from "./observability/logger.js";
import { createApp } from "./server.js";

/** CLI entry: `serve` (default), `migrate`, `token`. */
async function main(argv: string[]): Promise<void> {
  const [command = "serve", ...rest] = argv;
  const config = loadConfig();
  switch (command) {
    case "serve":
      return serve(config);
    case "migrate":
      return migrate(config);
    case "token":
      return printToken(config, rest);
    default:
      throw new ConfigError(`Unknown command '${command}': use serve, migrate or token`);
  }
}

async function serve(config: Config): Promise<void> {
  const logger = await createLogger(config);
  const db = await openDatabase({ ...config, warn: (message) => logger.warn(message) });
  const applied = await applyPendingMigrations(db);
  if (applied.length) logger.info(`Applied migrations: ${applied.join(", ")}`);
  const devToken = config.jwt.source.kind === "devKey" ? await mintToken(config, devTokenClaims(), "30d") : undefined;
  // The SDK and its exporter are loaded only when tracing is on.
  const tracing = config.tracing && (await import("./observability/tracing.js")).startTracing(config.tracing, logger);
  if (config.tracing) {
    // Without any user:password the URL may carry.
    const { origin, pathname } = new URL(config.tracing.tracesUrl);
    logger.info(
      { tracesUrl: `${origin}${pathname}`, serviceName: config.tracing.serviceName },
      "Tracing: spans exported over OTLP/HTTP",
    );
  }
  const app = await createApp({ config, db, graphiqlToken: devToken, tracerProvider: tracing?.provider, logger });
  const server = await app.listen();
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const where = config.databaseUrl ? "PostgreSQL (DATABASE_URL)" : `PGlite in ${config.dataDir}/pglite`;
  // Plain text, not a log line: people and tools (tests, the bench) read the URL from it, and the
  // dev token below must never enter the log.
  console.log(`metadata-graph listening on http://${config.host ?? "localhost"}:${port}/graphql (storage: ${where})`);
  if (devToken) {
    console.log("Dev mode: no JWT key configured. A token with all rights (valid 30 days, pre-filled in GraphiQL):");
    console.log(`Authorization: Bearer ${devToken}`);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal} received: finishing in-flight requests, then closing the database`);
    app
      .close()
      // The spans of the last requests are still in the exporter's buffer.
      .finally(() => tracing?.shutdown())
      // And the last log lines in the log's: written out, in order, before the process ends.
      .finally(() => new Promise<void>((resolve) => logger.flush(() => resolve())))
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, "Shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

async function migrate(config: Config): Promise<void> {
  const db = await openDatabase(config);
  try {
    const applied = await applyPendingMigrations(db);
    console.log(applied.length ? `Applied migrations: ${applied.join(", ")}` : "Database is up to date");
  } finally {
    await db.close();
  }
}

async function printToken(config: Config, args: string[]): Promise<void> {
  const list = (v: string | undefined) =>
    v
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: "string" },
      tenant: { type: "string" },
      scope: { type: "string" },
      permissions: { type: "string" },
      accounts: { type: "string" },
      orgs: { type: "string" },
      client: { type: "string" },
      email: { type: "string" },
      "expires-in": { type: "string", default: "1h" },
    },
  });
  const token = await mintToken(
    config,
    {
      sub: values.sub,
      tenant: values.tenant,
      scope: values.scope,
      client_id: values.client,
      email: values.email,
      permissions: list(values.permissions),
      accounts: list(values.accounts),
      orgs: list(values.orgs),
    },
    values["expires-in"],
  );
  console.log(token);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // Configuration and usage errors are for the operator: the message, not a stack.
  const message =
    error instanceof ConfigError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
      ? (error as Error).message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error);
  console.error(`metadata-graph: ${message}`);
  process.exit(1);
});
