import type { ExecutionResult, GraphQLError } from "graphql";
import { createGraphQLError, type Plugin, type YogaLogger, maskError as yogaMaskError } from "graphql-yoga";
import { DomainError } from "../errors.js";
import type { Logger } from "../observability/logger.js";

/**
 * The one place domain errors become `extensions.code`. Everything unexpected is masked by Yoga
 * (INTERNAL_SERVER_ERROR, no stack, no SQL; src/observability/request-id.ts adds the request id);
 * GraphQL's own validation errors pass through.
 */
export function maskError(error: unknown, message: string): Error {
  const domain = findDomainError(error);
  if (!domain) {
    // Never Yoga's dev mode (NODE_ENV=development): it would send the stack to the client. The
    // stack goes to the log instead, with the request id the client gets (src/observability/).
    const masked = yogaMaskError(error, message, false);
    if (masked !== error) {
      unexpectedErrors.set(masked, thrownError(error));
      if (typeof error === "object" && error !== null) maskedInputs.add(error);
    }
    return masked;
  }
  const located = error === domain ? undefined : (error as GraphQLError);
  return createGraphQLError(domain.message, {
    nodes: located?.nodes,
    source: located?.source,
    positions: located?.positions,
    path: located?.path,
    extensions: { code: domain.code, ...domain.details, ...(domain.http && { http: domain.http }) },
  });
}

/** Masked INTERNAL_SERVER_ERRORs → what was thrown, until logged with the request (src/observability/). */
const unexpectedErrors = new WeakMap<Error, unknown>();

/** What a masked INTERNAL_SERVER_ERROR replaced (a resolver's error, not graphql-js's wrapper of it). */
export function unexpectedErrorBehind(masked: GraphQLError): unknown {
  return unexpectedErrors.get(masked);
}

/** What maskError was given for those: Yoga logs exactly that object next (see createYogaLogger). */
const maskedInputs = new WeakSet<object>();

function isMaskedUnexpected(value: unknown): boolean {
  return typeof value === "object" && value !== null && maskedInputs.has(value);
}

function thrownError(error: unknown): unknown {
  return (error as { originalError?: unknown } | null)?.originalError ?? error;
}

// Duck-typed on purpose: `instanceof GraphQLError` fails when graphql's ESM and CJS builds are
// both loaded (the dual-package hazard, e.g. under vitest).
function findDomainError(error: unknown): DomainError | undefined {
  if (error instanceof DomainError) return error;
  const original = (error as { originalError?: unknown } | null)?.originalError;
  return original instanceof DomainError ? original : undefined;
}

/**
 * graphql-js reports a variable that fails coercion (a malformed DateTime, an unknown enum value,
 * a missing required field) without `extensions.code`; clients get BAD_USER_INPUT for it, like
 * every other bad input, in a batch too. Yoga already codes parse and validation failures, but not
 * these requests it cannot read (found by test/input-corpus.test.ts): a GET or form parameter that
 * is not JSON (its parser throws: a 500), a multipart body without `operations` (uncoded), a
 * content type no parser reads (a bare 415), a document nested deeper than graphql-js's recursive
 * parser goes (a stack overflow within GRAPHQL_MAX_TOKENS: a 500).
 */
export function useInputErrorCodes(): Plugin {
  const rejectParserOverflow: AfterParse = ({ result, replaceParseResult }) => {
    if (result instanceof RangeError) {
      replaceParseResult(httpError(400, "GRAPHQL_PARSE_FAILED", "Syntax Error: the document nests too deeply."));
    }
  };
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      // The hot path, a JSON POST, keeps Yoga's parser: it codes its own failures.
      if (requestParser && request.method === "POST" && request.headers.get("content-type")?.includes("json")) return;
      setRequestParser(async (unparsed) => {
        if (!requestParser) throw httpError(415, "BAD_REQUEST", "Unsupported content type: send application/json.");
        try {
          return await requestParser(unparsed);
        } catch (error) {
          if ((error as GraphQLError | null)?.extensions?.code) throw error;
          throw httpError(
            400,
            "BAD_REQUEST",
            `Malformed request: ${error instanceof Error ? error.message : "unreadable"}`,
          );
        }
      });
    },
    onParse: () => rejectParserOverflow,
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result)) setResult(result.map(withInputCodes));
      else if (isSingleResult(result) && result.errors?.length) setResult(withInputCodes(result));
    },
  };
}

type AfterParse = Exclude<ReturnType<NonNullable<Plugin["onParse"]>>, void>;

function httpError(status: number, code: string, message: string): GraphQLError {
  return createGraphQLError(message, { extensions: { code, http: { status } } });
}

function withInputCodes(result: ExecutionResult): ExecutionResult {
  return result.errors?.length ? { ...result, errors: result.errors.map(withInputCode) } : result;
}

type ProcessedResult = Parameters<NonNullable<Plugin["onResultProcess"]>>[0]["result"];

function isSingleResult(result: ProcessedResult): result is ExecutionResult {
  return !(Symbol.asyncIterator in (result as object));
}

function withInputCode(error: GraphQLError): GraphQLError {
  if (error.extensions?.code || !error.message.startsWith("Variable ")) return error;
  return createGraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    extensions: { ...error.extensions, code: "BAD_USER_INPUT" },
  });
}

/**
 * Yoga's own log lines, through pino. Yoga logs every error its masking replaced: expected domain
 * errors (a missing key, a refused token) are answers, not incidents, and unexpected ones are
 * logged once with their request id by the request log (src/observability/logging.ts), so neither
 * is logged here; whatever else Yoga reports is.
 */
export function createYogaLogger(logger: Logger, { requestLogged }: { requestLogged: boolean }): YogaLogger {
  // Yoga logs at debug several times per request: a disabled level costs one empty call. The level
  // is set once, at start-up.
  const forward = (level: "debug" | "info" | "warn" | "error") =>
    !logger.isLevelEnabled(level)
      ? () => {}
      : (...args: unknown[]): void => {
          const [first, ...rest] = args;
          if (first instanceof Error) logger[level]({ err: first }, first.message);
          else logger[level](rest.length ? `${String(first)} ${rest.map(String).join(" ")}` : String(first));
        };
  const error = forward("error");
  return {
    debug: forward("debug"),
    info: forward("info"),
    warn: forward("warn"),
    error: (...args: unknown[]) => {
      if (args.some((arg) => findDomainError(arg))) return;
      if (requestLogged && args.some((arg) => isMaskedUnexpected(arg))) return;
      error(...args);
    },
  };
}
