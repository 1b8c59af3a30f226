import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type ExecutionResult, print } from "graphql";
import { SignJWT } from "jose";
import { type Config, loadConfig } from "../../src/config.js";
import { type Database, type DatabaseOptions, openDatabase } from "../../src/db/database.js";
import { applyPendingMigrations } from "../../src/db/migrations.js";
import { type App, type AppOptions, createApp } from "../../src/server.js";
import type { Backend } from "./backends.js";

export const TEST_SECRET = "test-secret-with-at-least-32-characters!!";

export interface TestClaims {
  sub?: string;
  tenant?: string;
  scope?: string;
  scp?: string[];
  client_id?: string;
  azp?: string;
  permissions?: string[];
  accounts?: (string | number)[];
  orgs?: string[];
  email?: string;
}

export interface OperationResult<T> {
  status: number;
  body: ExecutionResult<T>;
}

export interface TestApp {
  app: App;
  db: Database;
  /** How `db` was opened: another connection to the same database opens with these. */
  options: DatabaseOptions;
  config: Config;
  /** An HS256 token signed with the test secret, valid for an hour. */
  token(claims: TestClaims): Promise<string>;
  /** POSTs a typed operation (or raw query text) through the real HTTP handler. */
  execute<TResult, TVariables>(request: {
    document: TypedDocumentNode<TResult, TVariables> | string;
    variables?: TVariables;
    token?: string;
    authorization?: string;
  }): Promise<OperationResult<TResult>>;
  close(): Promise<void>;
}

/**
 * A migrated, empty database behind a real Yoga app, with JWT_SECRET set. Logs nothing unless
 * given a `logger` (test/support/log.ts) or `LOG_LEVEL`.
 */
export async function createTestApp(
  backend: Backend,
  env: Record<string, string> = {},
  {
    onQuery,
    tracerProvider,
    logger,
  }: Pick<DatabaseOptions, "onQuery"> & Pick<AppOptions, "tracerProvider" | "logger"> = {},
): Promise<TestApp> {
  const { options, drop } = await backend.create();
  const config = loadConfig({ JWT_SECRET: TEST_SECRET, NODE_ENV: "test", LOG_LEVEL: "silent", ...env });
  const db = await openDatabase({ ...options, dataDir: config.dataDir, onQuery });
  await applyPendingMigrations(db);
  const app = await createApp({ config, db, tracerProvider, logger });
  const secret = new TextEncoder().encode(env.JWT_SECRET ?? TEST_SECRET);
  return {
    app,
    db,
    options,
    config,
    token: (claims) =>
      new SignJWT({ ...claims })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(secret),
    execute: executorFor(app),
    async close() {
      await app.close();
      await drop();
    },
  };
}

/** POSTs through the app's real HTTP handler (no port), with a bearer token or a raw header. */
export function executorFor(app: App): TestApp["execute"] {
  return async ({ document, variables, token, authorization }) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    const auth = authorization ?? (token ? `Bearer ${token}` : undefined);
    if (auth) headers.authorization = auth;
    const query = typeof document === "string" ? document : print(document);
    const response = await app.yoga.fetch("http://yoga/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, body: (await response.json()) as ExecutionResult<never> };
  };
}

/** The `extensions.code` of each error, in order. */
export function errorCodes(result: OperationResult<unknown>): unknown[] {
  return (result.body.errors ?? []).map((e) => e.extensions?.code);
}
