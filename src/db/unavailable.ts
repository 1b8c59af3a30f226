import { ServiceUnavailable } from "../errors.js";

/**
 * SQLSTATEs of a database that cannot serve right now, whatever the statement: class 08
 * (connection exception), 57P01 admin_shutdown (a fast shutdown terminates open sessions),
 * 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up, shutting down, in recovery),
 * 53300 too_many_connections (the server's connection slots are full: transient).
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/;

/** Socket and DNS failures reaching the server (Node's `error.code`). */
const UNAVAILABLE_ERRNO = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * node-postgres (pg 8, pg-pool 3) reports a lost or never-established connection with plain
 * Errors and no code: these are their messages (lib/client.js, pg-pool/index.js).
 */
const UNAVAILABLE_MESSAGE =
  /^(Connection terminated|timeout exceeded when trying to connect|timeout expired|Query read timeout|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)/;

/**
 * Whether a driver error means that the database cannot be reached right now, rather than that
 * the statement failed (a constraint, a bug): the one rule that decides SERVICE_UNAVAILABLE.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 5) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) return true;
  if (UNAVAILABLE_MESSAGE.test(error.message)) return true;
  // Node's happy-eyeballs connect reports every address it tried in an AggregateError.
  if (error instanceof AggregateError && error.errors.some((e) => isDatabaseUnavailable(e, depth + 1))) return true;
  return isDatabaseUnavailable(error.cause, depth + 1);
}

/** The error a request sees: ServiceUnavailable for an unreachable database, the error itself otherwise. */
export function toServiceUnavailable(error: unknown): unknown {
  if (!isDatabaseUnavailable(error)) return error;
  return new ServiceUnavailable("The database is unavailable; try again shortly", error);
}

/**
 * One log line when the database becomes unreachable and one when it answers again: requests
 * answer SERVICE_UNAVAILABLE meanwhile, and those expected errors are not logged one by one
 * (src/graphql/errors.ts), so without this an outage would leave no trace in the log.
 */
export function createOutageLog(log: (line: string) => void = console.warn) {
  let since: number | undefined;
  return {
    failed(error: unknown): void {
      if (since !== undefined || !isDatabaseUnavailable(error)) return;
      since = Date.now();
      log(`Database unavailable (${describeFailure(error)}): requests answer SERVICE_UNAVAILABLE until it is back`);
    },
    succeeded(): void {
      if (since === undefined) return;
      log(`Database available again after ${((Date.now() - since) / 1000).toFixed(1)} s`);
      since = undefined;
    },
  };
}

/** A driver or network error by its code (ECONNREFUSED, 57P01, 53300, 28P01), else its message. */
export function describeFailure(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string") return code;
  return error instanceof Error ? error.message : String(error);
}
