import { expect } from "vitest";
import { loadConfig } from "../../src/config.js";
import type { Database } from "../../src/db/database.js";
import { type AppOptions, createApp } from "../../src/server.js";
import { executorFor, type TestApp } from "./app.js";
import { AUDIENCE, ISSUER } from "./forge.js";
import { GetMetadata, UpdateMetadata } from "./operations.js";

/** What the token tests use of an app: the real HTTP handler and its database. */
export type Client = Pick<TestApp, "execute" | "db">;

/**
 * Another real app over an existing database (no second PGlite start), configured with `env` on
 * top of the issuer and audience `claims()` carries. It neither listens nor closes the database.
 */
export async function appOver(
  db: Database,
  env: Record<string, string>,
  { logger }: Pick<AppOptions, "logger"> = {},
): Promise<Client> {
  const config = loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    ...env,
  });
  return { db, execute: executorFor(await createApp({ config, db, logger })) };
}

/** updateMetadata with the raw header `Bearer <token>`: a staff token that verifies writes a row. */
export function attemptWrite(t: Client, token: string) {
  return t.execute({
    document: UpdateMetadata,
    variables: { input: { linkedObjectType: "ACCOUNT", identifier: "A-1", key: "k", value: "v" } },
    authorization: `Bearer ${token}`,
  });
}

/** Refused whole: exactly one error, with `code` and a message matching `reason`; no data; the table still empty. */
export async function expectWriteRefused(t: Client, token: string, code: string, reason: RegExp): Promise<void> {
  const result = await attemptWrite(t, token);
  expect(result.body).toEqual({ errors: [{ message: expect.stringMatching(reason), extensions: { code } }] });
  expect(await t.db.prisma.metadata.count()).toBe(0);
}

/** The token verifies: a read of an object nobody wrote answers `[]` (and writes nothing). */
export async function expectReadAccepted(t: Client, token: string): Promise<void> {
  const result = await t.execute({
    document: GetMetadata,
    variables: { identifier: "A-unwritten" },
    authorization: `Bearer ${token}`,
  });
  expect(result.body).toEqual({ data: { metadata: [] } });
}
