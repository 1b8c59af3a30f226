import { createServer, type Server } from "node:http";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { print } from "graphql";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { describeStatement } from "../src/observability/sql-spans.js";
import { registerTracing } from "../src/observability/tracing.js";
import { createTestApp, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";
import { UpdateMetadata } from "./support/operations.js";
import {
  dataDirWithEmptyCluster,
  graphql,
  killLeftovers,
  prepareEmptyCluster,
  removeTempDirs,
  type ServerProcess,
  startServer,
} from "./support/process.js";

// This file runs in its own process (vitest's forks pool): registering a global tracer provider
// here, as the service does at start-up, disturbs no other test file.
const exporter = new InMemorySpanExporter();
const tracing = registerTracing("metadata-graph-test", [new SimpleSpanProcessor(exporter)]);
afterAll(() => tracing.shutdown());

// Values only the request carries: no span may repeat them (the SQL is parameterized).
const IDENTIFIER = "A-trace-identifier-7731";
const KEY = "trace_key_5519";
const VALUE = "trace-value-that-must-not-leak-0042";

interface SpanNode {
  name: string;
  children: SpanNode[];
}

/** The spans as a tree, built from their parent span ids only; siblings in start order. */
function spanTree(spans: readonly ReadableSpan[]): SpanNode[] {
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const childrenOf = (parentId: string | undefined): SpanNode[] =>
    spans
      .filter((s) => {
        const parent = s.parentSpanContext?.spanId;
        return parentId === undefined ? !parent || !ids.has(parent) : parent === parentId;
      })
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1])
      .map((s) => ({ name: s.name, children: childrenOf(s.spanContext().spanId) }));
  return childrenOf(undefined);
}

function only(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((s) => s.name === name);
  expect(found.map((s) => s.name)).toEqual([name]);
  return found[0] as ReadableSpan;
}

describe.each(backends)("tracing on $name", (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(backend, {}, { tracerProvider: tracing.provider });
    // A tenant's first write loads its definitions (one SELECT, then kept in memory): the spans
    // below are those of a write's own statements.
    await t.app.services.definitions.valueRules.forTenant("default");
  });
  afterAll(() => t.close());
  beforeEach(() => exporter.reset());

  const update = async (token: string, identifier = IDENTIFIER, headers: Record<string, string> = {}) => {
    const response = await t.app.yoga.fetch("http://yoga/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...headers },
      body: JSON.stringify({
        query: print(UpdateMetadata),
        variables: { input: { linkedObjectType: "ACCOUNT", identifier, key: KEY, value: VALUE } },
      }),
    });
    return { status: response.status, body: (await response.json()) as { errors?: unknown[] } };
  };
  const writer = () => t.token({ sub: "u1", scope: "metadata.write", accounts: [IDENTIFIER] });

  it("one updateMetadata: HTTP request → parse, validate, execute → its SQL statement", async () => {
    const result = await update(await writer());
    expect(result).toMatchObject({ status: 200 });
    expect(result.body.errors).toBeUndefined();

    const spans = exporter.getFinishedSpans();
    expect(spanTree(spans)).toEqual([
      {
        name: "POST /graphql",
        children: [
          { name: "graphql.parse", children: [] },
          { name: "graphql.validate", children: [] },
          { name: "graphql.execute", children: [{ name: "INSERT metadata", children: [] }] },
        ],
      },
    ]);
    // One trace, and the links the tree was built from, by span id.
    const http = only(spans, "POST /graphql");
    const execute = only(spans, "graphql.execute");
    const insert = only(spans, "INSERT metadata");
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(http.parentSpanContext).toBeUndefined();
    for (const phase of ["graphql.parse", "graphql.validate", "graphql.execute"]) {
      expect(only(spans, phase).parentSpanContext?.spanId).toBe(http.spanContext().spanId);
    }
    expect(insert.parentSpanContext?.spanId).toBe(execute.spanContext().spanId);

    expect(http.kind).toBe(SpanKind.SERVER);
    expect(http.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/graphql",
      "url.path": "/graphql",
      "http.response.status_code": 200,
    });
    expect(http.status.code).toBe(SpanStatusCode.UNSET);
    expect(execute.attributes).toMatchObject({
      "graphql.operation.type": "mutation",
      "graphql.operation.name": "UpdateMetadata",
    });

    expect(insert.kind).toBe(SpanKind.CLIENT);
    const statement = insert.attributes["db.statement"];
    expect(statement).toMatch(/^WITH entry AS \(.*\), changed AS \(\nINSERT INTO metadata AS m \(tenant, /s);
    expect(statement).toContain("$6::text AS value");
    expect(insert.attributes).toEqual({
      "db.system": "postgresql",
      "db.system.name": "postgresql",
      "db.statement": statement,
      "db.query.text": statement,
      "db.operation": "INSERT",
      "db.operation.name": "INSERT",
      "db.collection.name": "metadata",
      "db.response.returned_rows": 1,
    });
    // The SQL text, never the values bound to it, in any span.
    const recorded = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })));
    for (const secret of [IDENTIFIER, KEY, VALUE]) expect(recorded).not.toContain(secret);
    // Phases in order, each inside the request. The SDK stamps a span's start to the millisecond
    // and its end finer: one millisecond of slack.
    const [parse, validate] = [only(spans, "graphql.parse"), only(spans, "graphql.validate")];
    const ms = (time: [number, number]) => time[0] * 1_000 + time[1] / 1_000_000;
    const inOrder = (a: [number, number], b: [number, number]) => expect(ms(a)).toBeLessThanOrEqual(ms(b) + 1);
    inOrder(http.startTime, parse.startTime);
    inOrder(parse.endTime, validate.startTime);
    inOrder(validate.endTime, execute.startTime);
    inOrder(insert.endTime, execute.endTime);
    inOrder(execute.endTime, http.endTime);
  });

  it("a refused operation: the execute span is in error with the code, and no statement was sent", async () => {
    const result = await update(await writer(), "A-not-reached");
    expect(result.status).toBe(200);
    const spans = exporter.getFinishedSpans();
    expect(spanTree(spans)).toEqual([
      {
        name: "POST /graphql",
        children: [
          { name: "graphql.parse", children: [] },
          { name: "graphql.validate", children: [] },
          { name: "graphql.execute", children: [] },
        ],
      },
    ]);
    const execute = only(spans, "graphql.execute");
    expect(execute.status).toEqual({ code: SpanStatusCode.ERROR, message: "FORBIDDEN" });
    expect(execute.attributes["graphql.error.codes"]).toEqual(["FORBIDDEN"]);
    // The request itself succeeded (GraphQL over HTTP: a field error is a 200).
    expect(only(spans, "POST /graphql").status.code).toBe(SpanStatusCode.UNSET);
  });

  it("continues the caller's trace from its traceparent header (W3C Trace Context)", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    await update(await writer(), IDENTIFIER, { traceparent: `00-${traceId}-${parentId}-01` });
    const spans = exporter.getFinishedSpans();
    expect(spans.length).toBeGreaterThan(0);
    for (const span of spans) expect(span.spanContext().traceId).toBe(traceId);
    const http = only(spans, "POST /graphql");
    expect(http.parentSpanContext).toMatchObject({ spanId: parentId, isRemote: true });
  });

  it("probes get no spans (an orchestrator calls them every few seconds)", async () => {
    expect((await t.app.yoga.fetch("http://yoga/health")).status).toBe(200);
    expect((await t.app.yoga.fetch("http://yoga/ready")).status).toBe(200);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it("an app given no tracer provider records nothing, even with one registered globally", async () => {
    const untraced = await createTestApp(backend);
    try {
      const token = await untraced.token({ sub: "u1", scope: "metadata.write", accounts: [IDENTIFIER] });
      const result = await untraced.execute({
        document: UpdateMetadata,
        variables: { input: { linkedObjectType: "ACCOUNT", identifier: IDENTIFIER, key: KEY, value: VALUE } },
        token,
      });
      expect(result.body.errors).toBeUndefined();
      expect(exporter.getFinishedSpans()).toEqual([]);
    } finally {
      await untraced.close();
    }
  });
});

describe("describeStatement", () => {
  it.each([
    ["SELECT a FROM metadata WHERE x = $1", "SELECT metadata", "SELECT", "metadata"],
    ['  delete from "metadata" WHERE key = $1', "DELETE metadata", "DELETE", "metadata"],
    ["UPDATE metadata SET v = $1", "UPDATE metadata", "UPDATE", "metadata"],
    ["SELECT total.count FROM (SELECT count(*) FROM metadata) AS total", "SELECT metadata", "SELECT", "metadata"],
    ["SELECT 1", "SELECT", "SELECT", undefined],
    // A write and its event in one statement: named by the change, not the event it appends.
    [
      "WITH entry AS (SELECT * FROM unnest($1::text[])), changed AS (INSERT INTO metadata AS m SELECT …), event AS (INSERT INTO metadata_event …) SELECT 1 FROM changed",
      "INSERT metadata",
      "INSERT",
      "metadata",
    ],
    [
      "WITH removed AS (DELETE FROM metadata_event WHERE x) SELECT count(*) FROM removed",
      "DELETE metadata_event",
      "DELETE",
      "metadata_event",
    ],
  ])("%s → %s", (sql, name, operation, table) => {
    const { name: spanName, attributes } = describeStatement(sql);
    expect(spanName).toBe(name);
    expect(attributes["db.operation.name"]).toBe(operation);
    expect(attributes["db.collection.name"]).toBe(table);
  });
});

// ---------------------------------------------------------------------------------------------
// The real process: OTEL_EXPORTER_OTLP_ENDPOINT → spans POSTed over OTLP/HTTP, flushed at SIGTERM.

interface Received {
  method: string;
  path: string;
  contentType: string | undefined;
  body: string;
}

/** A stand-in OpenTelemetry collector: records every request, answers OTLP's empty success. */
async function startCollector(port: number, host: string): Promise<{ server: Server; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (chunk: string) => {
      body += chunk;
    });
    req.on("end", () => {
      received.push({ method: req.method ?? "", path: req.url ?? "", contentType: req.headers["content-type"], body });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return { server, received };
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}
interface OtlpExport {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
  }[];
}

const SET = `mutation Set($input: MetadataInput!) { updateMetadata(input: $input) { metadata { version } } }`;
const EXITED_OK = { code: 0, signal: null };

async function writeOnce(server: ServerProcess): Promise<void> {
  const result = await graphql(server.origin, SET, {
    variables: { input: { linkedObjectType: "ACCOUNT", identifier: IDENTIFIER, key: KEY, value: VALUE } },
    authorization: `Bearer ${server.devToken}`,
  });
  expect(result.body).toEqual({ data: { updateMetadata: { metadata: { version: 1 } } } });
}

describe("OTLP/HTTP export by the real process", () => {
  const collectors: Server[] = [];
  beforeAll(() => void prepareEmptyCluster());
  afterEach(killLeftovers);
  afterAll(async () => {
    for (const c of collectors) c.close();
    await removeTempDirs();
  });

  it("OTEL_EXPORTER_OTLP_ENDPOINT set: the spans of a request reach <endpoint>/v1/traces, flushed at SIGTERM", async () => {
    const collector = await startCollector(0, "127.0.0.1");
    collectors.push(collector.server);
    const address = collector.server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const server = await startServer({
      DATA_DIR: await dataDirWithEmptyCluster(),
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_SERVICE_NAME: "mg-otlp-test",
    });
    await writeOnce(server);
    // Batched (every 5 s): what is still buffered goes out when the process stops.
    expect(await server.stop()).toEqual(EXITED_OK);
    // The start-up log said where spans go.
    expect(server.stdout()).toContain("Tracing: spans exported over OTLP/HTTP");
    expect(server.stdout()).toContain(`http://127.0.0.1:${port}/v1/traces`);
    expect(server.stdout()).toContain("mg-otlp-test");

    expect(collector.received.length).toBeGreaterThan(0);
    for (const r of collector.received) {
      expect({ method: r.method, path: r.path, contentType: r.contentType }).toEqual({
        method: "POST",
        path: "/v1/traces",
        contentType: "application/json",
      });
    }
    const exports = collector.received.map((r) => JSON.parse(r.body) as OtlpExport);
    const resources = exports.flatMap((e) => e.resourceSpans);
    for (const resource of resources) {
      expect(resource.resource.attributes).toContainEqual({
        key: "service.name",
        value: { stringValue: "mg-otlp-test" },
      });
    }
    const spans = resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    const byName = (name: string) => {
      const found = spans.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      return found[0] as OtlpSpan;
    };
    const http = byName("POST /graphql");
    const execute = byName("graphql.execute");
    expect(byName("graphql.parse").parentSpanId).toBe(http.spanId);
    expect(byName("graphql.validate").parentSpanId).toBe(http.spanId);
    expect(execute.parentSpanId).toBe(http.spanId);
    expect(byName("INSERT metadata").parentSpanId).toBe(execute.spanId);
    for (const body of collector.received.map((r) => r.body)) {
      for (const secret of [IDENTIFIER, KEY, VALUE]) expect(body).not.toContain(secret);
    }
  }, 90_000);

  it("OTEL_EXPORTER_OTLP_ENDPOINT unset: nothing is exported, not even to the SDK's default localhost:4318", async (ctx) => {
    const listening: { server: Server; received: Received[] }[] = [];
    for (const host of ["127.0.0.1", "::1"]) {
      // Taken (a real collector here) or no IPv6: that address cannot be watched.
      const collector = await startCollector(4318, host).catch(() => undefined);
      if (collector) listening.push(collector);
    }
    collectors.push(...listening.map((c) => c.server));
    if (!listening.length) ctx.skip("port 4318 is taken on this machine: nothing to watch");
    const server = await startServer({ DATA_DIR: await dataDirWithEmptyCluster() });
    await writeOnce(server);
    expect(await server.stop()).toEqual(EXITED_OK);
    expect(server.stdout()).not.toContain("Tracing:");
    expect(listening.flatMap((c) => c.received)).toEqual([]);
  }, 90_000);
});
