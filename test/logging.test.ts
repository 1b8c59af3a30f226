import { request as httpRequest } from "node:http";
import { Writable } from "node:stream";
import { print } from "graphql";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { principalFromClaims } from "../src/auth/principal.js";
import { createLogger, isoTimeOncePerSecond, jsonString } from "../src/observability/logger.js";
import { hundredthsText, requestLogging } from "../src/observability/logging.js";
import { emptySummary, type RequestSummary } from "../src/observability/request-summary.js";
import { createTestApp, TEST_SECRET, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";
import { claims, forge, hs256, nowSeconds } from "./support/forge.js";
import { type CapturedLog, captureLog, type LogLine } from "./support/log.js";
import { GetMetadataForKey, UpdateMetadata } from "./support/operations.js";

/**
 * The request log as operators read it: the service's own JSON lines (as in production), captured
 * instead of stdout. One line per GraphQL request; names, ids and codes only.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ACCOUNT = { linkedObjectType: "ACCOUNT", identifier: "A-1" } as const;
const CALLER = {
  sub: "user-7",
  tenant: "acme",
  client_id: "web-app",
  scope: "metadata.write",
  accounts: ["A-1"],
};

interface Sent {
  status: number;
  requestId: string | null;
  body: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
  text: string;
}

describe.each(backends)("request log on $name", (backend) => {
  let t: TestApp;
  let log: CapturedLog;
  let token: string;

  beforeAll(async () => {
    log = await captureLog("info");
    // A free port, for the one test over real HTTP.
    t = await createTestApp(backend, { PORT: "0", HOST: "127.0.0.1" }, { logger: log.logger });
    token = await t.token(CALLER);
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(() => log.clear());
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  /** POST /graphql with raw headers; the body as text too, to search it. */
  async function send(body: unknown, headers: Record<string, string> = {}): Promise<Sent> {
    const response = await t.app.yoga.fetch("http://yoga/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, requestId: response.headers.get("x-request-id"), body: JSON.parse(text), text };
  }

  const write = (value: string, headers: Record<string, string>) =>
    send({ query: print(UpdateMetadata), variables: { input: { ...ACCOUNT, key: "theme", value } } }, headers);

  /** The one request line logged since the last clear(). */
  function requestLine(): LogLine {
    const lines = log.lines().filter((l) => l.msg === "graphql request");
    expect(lines).toHaveLength(1);
    return lines[0] as LogLine;
  }

  it("one JSON line per request: request id, operation, tenant, caller, duration, status, outcome", async () => {
    const sent = await write("dark", { authorization: `Bearer ${token}`, "x-request-id": "edge-42:7f.A_b-c" });
    expect(sent.body.errors).toBeUndefined();
    expect(sent.requestId).toBe("edge-42:7f.A_b-c");
    // Nothing else was logged: no Yoga debug lines, no stray errors.
    expect(log.lines()).toHaveLength(1);
    const line = requestLine();
    expect(line).toEqual({
      level: "info",
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      pid: process.pid,
      hostname: expect.any(String),
      msg: "graphql request",
      requestId: "edge-42:7f.A_b-c",
      operationName: "UpdateMetadata",
      operationType: "mutation",
      tenant: "acme",
      sub: "user-7",
      clientId: "web-app",
      durationMs: expect.any(Number),
      status: 200,
      outcome: "OK",
    });
    expect(line.durationMs).toBeGreaterThan(0);
  });

  it("an expected error: its code as the outcome, and no error-level line (answers are not incidents)", async () => {
    const sent = await send(
      { query: print(GetMetadataForKey), variables: { ...ACCOUNT, key: "never-written" } },
      { authorization: `Bearer ${token}` },
    );
    expect(sent.body.errors?.map((e) => e.extensions?.code)).toEqual(["NOT_FOUND"]);
    expect(requestLine()).toMatchObject({
      requestId: sent.requestId,
      operationName: "GetMetadataForKey",
      operationType: "query",
      tenant: "acme",
      outcome: "NOT_FOUND",
      errorCodes: ["NOT_FOUND"],
    });
    expect(log.lines().filter((l) => l.level !== "info")).toEqual([]);
  });

  it("a refused token: UNAUTHENTICATED, the operation named, no caller", async () => {
    const expired = forge({}, claims({ exp: nowSeconds() - 10 }), hs256(TEST_SECRET));
    const sent = await write("x", { authorization: `Bearer ${expired}` });
    const line = requestLine();
    expect(line).toMatchObject({ operationName: "UpdateMetadata", outcome: "UNAUTHENTICATED", status: sent.status });
    expect(line).not.toHaveProperty("tenant");
    expect(line).not.toHaveProperty("sub");
  });

  it("a document that does not parse: logged, without an operation", async () => {
    await send({ query: "mutation Broken { updateMetadata(" }, { authorization: `Bearer ${token}` });
    const line = requestLine();
    expect(line).toMatchObject({ outcome: "GRAPHQL_PARSE_FAILED", errorCodes: ["GRAPHQL_PARSE_FAILED"] });
    expect(line).not.toHaveProperty("operationName");
  });

  it("a batch: one line, its operations comma-joined", async () => {
    const read = { query: print(GetMetadataForKey), variables: { ...ACCOUNT, key: "theme" } };
    const sent = await send([read, { query: "query Other { __typename }" }], { authorization: `Bearer ${token}` });
    expect(sent.status).toBe(200);
    expect(requestLine()).toMatchObject({
      operationName: "GetMetadataForKey,Other",
      operationType: "query,query",
      batchSize: 2,
    });
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["too long", "a".repeat(129)],
    ["with a space", "a b"],
    ["with a slash", "../etc"],
    ["with quotes", '"}{"level":"fatal'],
  ])("request id %s: a new UUID, echoed and logged", async (_case, given) => {
    const sent = await write("x", {
      authorization: `Bearer ${token}`,
      ...(given === undefined ? {} : { "x-request-id": given }),
    });
    expect(sent.requestId).toMatch(UUID);
    expect(requestLine().requestId).toBe(sent.requestId);
  });

  let listening: Promise<string> | undefined;
  /** The app over real HTTP, on a free port: listening from the first call on. */
  function origin(): Promise<string> {
    listening ??= t.app.listen().then((server) => {
      const address = server.address();
      return `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    });
    return listening;
  }

  it("over real HTTP (Node's headers): the same id rules", async () => {
    const url = await origin();
    const post = (requestId?: string) =>
      fetch(`${url}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${token}`,
          ...(requestId === undefined ? {} : { "x-request-id": requestId }),
        },
        body: JSON.stringify({ query: print(GetMetadataForKey), variables: { ...ACCOUNT, key: "theme" } }),
      });
    const kept = await post("lb-7:0001");
    await kept.text();
    expect(kept.headers.get("x-request-id")).toBe("lb-7:0001");
    expect(requestLine().requestId).toBe("lb-7:0001");
    log.clear();
    const replaced = await post("not valid!");
    await replaced.text();
    expect(replaced.headers.get("x-request-id")).toMatch(UUID);
    expect(requestLine().requestId).toBe(replaced.headers.get("x-request-id"));
  });

  it("over real HTTP, the duration counts from the request's arrival: a body sent late is part of it", async () => {
    const body = JSON.stringify({ query: print(GetMetadataForKey), variables: { ...ACCOUNT, key: "theme" } });
    const headers = {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      authorization: `Bearer ${token}`,
    };
    const status = await new Promise<number | undefined>((resolve, reject) => {
      void origin().then((url) => {
        const sending = httpRequest(`${url}/graphql`, { method: "POST", headers }, (response) => {
          response.resume();
          response.on("end", () => resolve(response.statusCode));
        });
        sending.on("error", reject);
        sending.flushHeaders();
        setTimeout(() => sending.end(body), 200);
      }, reject);
    });
    expect(status).toBe(200);
    expect(requestLine().durationMs).toBeGreaterThanOrEqual(150);
  });

  it("each request gets its own id", async () => {
    const first = await write("x", { authorization: `Bearer ${token}` });
    const second = await write("y", { authorization: `Bearer ${token}` });
    expect(first.requestId).not.toBe(second.requestId);
  });

  it("every response carries the request id; only GraphQL requests are logged", async () => {
    for (const path of ["/health", "/metrics", "/nowhere"]) {
      const response = await t.app.yoga.fetch(`http://yoga${path}`, { headers: { "x-request-id": "probe-1" } });
      await response.text();
      expect(response.headers.get("x-request-id"), path).toBe("probe-1");
    }
    expect(log.lines()).toEqual([]);
  });

  it("never logs a token, a stored value, a variable or a key, whatever the outcome", async () => {
    const value = "value-4f1c9e-do-not-log";
    const key = "key-7d2b-do-not-log";
    const forged = forge({}, claims(), hs256("another-secret-that-is-32-characters-long"));
    const input = { ...ACCOUNT, key, value };
    const outcomes = [
      // Written, read back, refused (forged token), invalid input, parse failure, an unexpected error.
      await send({ query: print(UpdateMetadata), variables: { input } }, { authorization: `Bearer ${token}` }),
      await send(
        { query: print(GetMetadataForKey), variables: { ...ACCOUNT, key } },
        { authorization: `JWT ${token}` },
      ),
      await send({ query: print(UpdateMetadata), variables: { input } }, { authorization: `Bearer ${forged}` }),
      await send(
        { query: print(UpdateMetadata), variables: { input: { ...input, expiresAt: value } } },
        { authorization: `Bearer ${token}` },
      ),
      await send(
        { query: `mutation { updateMetadata(input: {value: "${value}"` },
        { authorization: `Bearer ${token}` },
      ),
    ];
    vi.spyOn(t.app.services.metadata, "setEntry").mockRejectedValue(new Error("the disk is full"));
    outcomes.push(
      await send({ query: print(UpdateMetadata), variables: { input } }, { authorization: `Bearer ${token}` }),
    );
    expect(outcomes.map((o) => o.body.errors?.[0]?.extensions?.code ?? "OK")).toEqual([
      "OK",
      "OK",
      "UNAUTHENTICATED",
      "BAD_USER_INPUT",
      "GRAPHQL_PARSE_FAILED",
      "INTERNAL_SERVER_ERROR",
    ]);
    // The value did reach the clients that may see it.
    expect(outcomes[1]?.text).toContain(value);
    expect(log.lines().filter((l) => l.msg === "graphql request")).toHaveLength(outcomes.length);
    const written = log.text();
    for (const secret of [value, key, token, forged, TEST_SECRET]) expect(written).not.toContain(secret);
    // Not even a token's parts (a signature alone is a secret for HS256 replay detection tools).
    for (const part of token.split(".")) expect(written).not.toContain(part);
  });

  it("an unexpected error: logged once with its stack and the request id; the client gets only that id", async () => {
    // Yoga's own dev mode would put the stack in the response: it must not, even then.
    vi.stubEnv("NODE_ENV", "development");
    vi.spyOn(t.app.services.metadata, "setEntry").mockRejectedValue(new Error("boom: connection to the vault lost"));
    const sent = await write("x", { authorization: `Bearer ${token}`, "x-request-id": "incident-1" });

    expect(sent.body).toEqual({
      data: null,
      errors: [
        {
          message: "Unexpected error.",
          locations: expect.any(Array),
          path: ["updateMetadata"],
          extensions: { code: "INTERNAL_SERVER_ERROR", requestId: "incident-1" },
        },
      ],
    });
    expect(sent.text).not.toContain("boom");
    expect(sent.text).not.toMatch(/\bat /);

    const errors = log.lines().filter((l) => l.level === "error");
    expect(errors).toEqual([
      expect.objectContaining({
        msg: "Unexpected error",
        requestId: "incident-1",
        err: {
          type: "Error",
          message: "boom: connection to the vault lost",
          stack: expect.stringMatching(/^Error: boom: connection to the vault lost\n\s+at /),
        },
      }),
    ]);
    expect(log.text().match(/boom/g)?.length, "logged once (message and stack of one line)").toBe(2);
    expect(requestLine()).toMatchObject({
      requestId: "incident-1",
      outcome: "INTERNAL_SERVER_ERROR",
      errorCodes: ["INTERNAL_SERVER_ERROR"],
    });
  });
});

describe("LOG_LEVEL", () => {
  const backend = backends[0];
  if (!backend) throw new Error("no backend");

  it("warn: no request lines; unexpected errors are still logged", async () => {
    const log = await captureLog("warn");
    const t = await createTestApp(backend, {}, { logger: log.logger });
    try {
      const token = await t.token(CALLER);
      await t.execute({ document: UpdateMetadata, variables: { input: { ...ACCOUNT, key: "k", value: "v" } }, token });
      expect(log.lines()).toEqual([]);
      vi.spyOn(t.app.services.metadata, "setEntry").mockRejectedValue(new Error("boom"));
      await t.execute({ document: UpdateMetadata, variables: { input: { ...ACCOUNT, key: "k", value: "v" } }, token });
      expect(log.lines().map((l) => [l.level, l.msg])).toEqual([["error", "Unexpected error"]]);
    } finally {
      vi.restoreAllMocks();
      await t.close();
    }
  });
});

describe("log line format", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("each line carries its own millisecond, formatted as toISOString does, also when the clock steps back", async () => {
    const log = await captureLog("info");
    vi.useFakeTimers({ toFake: ["Date"] });
    const instants = [
      "2026-12-07T01:02:03.004Z",
      "2026-12-07T01:02:03.040Z",
      "2026-12-07T01:02:03.400Z",
      "2026-12-07T01:02:04.000Z",
      "2026-12-31T23:59:59.999Z",
      "2027-01-01T00:00:00.000Z",
      // NTP stepping the clock back: a second seen before, formatted again.
      "2026-12-07T01:02:03.005Z",
    ];
    for (const instant of instants) {
      vi.setSystemTime(new Date(instant));
      expect(isoTimeOncePerSecond()).toBe(`,"time":"${instant}"`);
      log.logger.info("tick");
    }
    expect(log.lines().map((line) => line.time)).toEqual(instants);
  });

  const summary = (fields: Partial<RequestSummary>): RequestSummary => ({
    ...emptySummary(0),
    durationMs: 1.254,
    processed: true,
    ...fields,
  });
  const request = new Request("http://localhost/graphql", { headers: { "x-request-id": "r-1" } });
  const cases = [
    {
      name: "a caller with strings that need escaping, error codes",
      summary: summary({
        operationName: "Read",
        operationType: "query",
        principal: principalFromClaims({
          tenant: 'a "quoted" \\ back\\slash\nnew line',
          sub: "ünï 😀 \u0001",
          client_id: "web-app",
        }),
        errorCodes: ["NOT_FOUND", "BAD_USER_INPUT"],
      }),
      status: 200,
      fields: {
        requestId: "r-1",
        operationName: "Read",
        operationType: "query",
        tenant: 'a "quoted" \\ back\\slash\nnew line',
        sub: "ünï 😀 \u0001",
        clientId: "web-app",
        durationMs: 1.25,
        status: 200,
        outcome: "NOT_FOUND",
        errorCodes: ["NOT_FOUND", "BAD_USER_INPUT"],
      },
    },
    {
      name: "no caller, no operation",
      summary: summary({ durationMs: 12 }),
      status: 400,
      fields: { requestId: "r-1", durationMs: 12, status: 400, outcome: "OK" },
    },
    {
      name: "a batch by a client-credentials token",
      summary: summary({
        batchSize: 2,
        operationName: "A,",
        operationType: "query,mutation",
        principal: principalFromClaims({ tenant: "t0", azp: "batch-job" }),
      }),
      status: 200,
      fields: {
        requestId: "r-1",
        operationName: "A,",
        operationType: "query,mutation",
        batchSize: 2,
        tenant: "t0",
        clientId: "batch-job",
        durationMs: 1.25,
        status: 200,
        outcome: "OK",
      },
    },
  ];

  it.each(cases)("request lines are written byte for byte as pino writes the same fields: $name", async (c) => {
    const log = await captureLog("info");
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-12-07T01:02:03.004Z"));
    requestLogging(log.logger)(c.summary, new Response(null, { status: c.status }), request, {});
    const ours = log.text();
    log.clear();
    log.logger.info(c.fields, "graphql request");
    expect(ours).toBe(log.text());
    expect(JSON.parse(ours)).toMatchObject(c.fields);
  });

  it("a destination that needs pino's line metadata (multistream) gets the same line through pino", async () => {
    let text = "";
    const destination = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        text += chunk.toString();
        done();
      },
    });
    const logger = await createLogger(
      { log: { level: "info", pretty: false } },
      pino.multistream([{ stream: destination }]),
    );
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-12-07T01:02:03.004Z"));
    const first = cases[0] as (typeof cases)[number];
    requestLogging(logger)(first.summary, new Response(null, { status: first.status }), request, {});
    const ours = text;
    text = "";
    logger.info(first.fields, "graphql request");
    expect(ours).toBe(text);
  });

  it("durations print as JSON prints them rounded to hundredths", () => {
    const durations = [0, 0.004, 0.005, 0.07, 0.1, 0.995, 1, 1.254, 1.255, 9.99, 12, 12.3, 12.34, 100.05, 59_999.999];
    // And a spread of arbitrary ones, from microseconds to hours, the same on every run (a failure
    // reproduces): the fractional parts of multiples of the golden ratio.
    for (let i = 1; i <= 2_200; i++) durations.push(((i * 0.6180339887498949) % 1) * 10 ** ((i % 11) - 3));
    for (const ms of durations) expect(hundredthsText(ms)).toBe(JSON.stringify(Math.round(ms * 100) / 100));
  });

  it("jsonString quotes and escapes exactly as JSON.stringify", () => {
    const strings = [
      "",
      "plain-id_1.2:3",
      '"',
      "\\",
      "\u0000\u001f\u007f\u2028",
      "ünï 😀",
      "lone \ud800 high",
      "lone \udc00 low",
      "x".repeat(64),
      `${"x".repeat(64)}"`,
      `${"y".repeat(200)}\n`,
    ];
    for (const text of strings) expect(jsonString(text)).toBe(JSON.stringify(text));
  });
});
