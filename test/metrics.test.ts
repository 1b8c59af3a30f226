import { setTimeout as sleep } from "node:timers/promises";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestApp, TEST_SECRET, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";
import { claims, forge, hs256, nowSeconds } from "./support/forge.js";
import { GetMetadataForKey, UpdateMetadata } from "./support/operations.js";

/** GET /metrics as Prometheus scrapes it, after real requests through the app. */

const ACCOUNT = { linkedObjectType: "ACCOUNT", identifier: "A-1" } as const;
const CALLER = { sub: "u1", tenant: "acme", scope: "metadata.write", accounts: ["A-1"] };
const METRICS_TOKEN = "scrape-token-0123456789";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The exposition format's sample lines (https://prometheus.io/docs/instrumenting/exposition_formats/). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name = "", value = ""] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[name] = value;
    }
    samples.push({ name: match[1] ?? "", labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and (at least) these labels; undefined when absent. */
function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

async function scrape(
  t: TestApp,
  authorization?: string,
): Promise<{ status: number; type: string | null; text: string }> {
  const response = await t.app.yoga.fetch("http://yoga/metrics", {
    headers: authorization ? { authorization } : {},
  });
  return { status: response.status, type: response.headers.get("content-type"), text: await response.text() };
}

async function samplesOf(t: TestApp): Promise<Sample[]> {
  const { status, text } = await scrape(t);
  expect(status, text).toBe(200);
  return parse(text);
}

const DURATION = "metadata_graph_graphql_request_duration_seconds";
/** The request count: the duration histogram's `_count`. */
const REQUESTS = `${DURATION}_count`;
const AUTH_FAILURES = "metadata_graph_auth_failures_total";
const QUERIES = "metadata_graph_db_query_duration_seconds";
const PURGED = "metadata_graph_expired_entries_purged_total";

describe.each(backends)("metrics on $name", (backend) => {
  let t: TestApp;
  let token: string;

  beforeAll(async () => {
    t = await createTestApp(backend);
    token = await t.token(CALLER);
  });
  afterAll(async () => {
    await t.close();
  });

  const set = (key: string, authorization?: string) =>
    t.execute({
      document: UpdateMetadata,
      variables: { input: { ...ACCOUNT, key, value: "v" } },
      authorization: authorization ?? `Bearer ${token}`,
    });

  it("counts requests and their durations by operation, type and outcome; /metrics itself is not one", async () => {
    await set("a");
    await set("b");
    await t.execute({ document: GetMetadataForKey, variables: { ...ACCOUNT, key: "a" }, token });
    await t.execute({ document: GetMetadataForKey, variables: { ...ACCOUNT, key: "missing" }, token });
    await t.execute({ document: '{ metadata(identifier: "A-1") { key } }', token });
    await scrape(t);
    await scrape(t);

    const { type, text } = await scrape(t);
    expect(type).toBe("text/plain; version=0.0.4; charset=utf-8");
    const samples = parse(text);
    const mutationOk = { operation: "UpdateMetadata", operation_type: "mutation", code: "OK" };
    expect(sampleValue(samples, REQUESTS, mutationOk)).toBe(2);
    expect(sampleValue(samples, `${DURATION}_bucket`, { ...mutationOk, le: "+Inf" })).toBe(2);
    expect(sampleValue(samples, `${DURATION}_sum`, mutationOk)).toBeGreaterThan(0);
    expect(
      sampleValue(samples, REQUESTS, { operation: "GetMetadataForKey", operation_type: "query", code: "OK" }),
    ).toBe(1);
    expect(sampleValue(samples, REQUESTS, { operation: "GetMetadataForKey", code: "NOT_FOUND" })).toBe(1);
    expect(sampleValue(samples, REQUESTS, { operation: "(anonymous)", operation_type: "query", code: "OK" })).toBe(1);
    // Five GraphQL requests, whatever the scrapes before.
    const total = samples.filter((s) => s.name === REQUESTS).reduce((sum, s) => sum + s.value, 0);
    expect(total).toBe(5);
    expect(text).not.toMatch(/operation="[^"]*metrics/);
  });

  it("counts auth failures by reason; a refused caller's operation name is not taken as a label", async () => {
    const before = parse((await scrape(t)).text);
    const failures = (samples: Sample[], reason: string) =>
      (sampleValue(samples, AUTH_FAILURES, { reason }) ?? 0) - (sampleValue(before, AUTH_FAILURES, { reason }) ?? 0);

    await set("x", `Bearer ${forge({}, claims({ exp: nowSeconds() - 10 }), hs256(TEST_SECRET))}`);
    await set("x", `Bearer ${forge({}, claims(), hs256("not-the-secret-but-as-long-as-it-32"))}`);
    await set("x", "Basic dXNlcjpwdw==");
    await t.execute({ document: "query MadeUpName1 { __typename }", authorization: "Bearer not.a.jwt" });
    await t.execute({ document: GetMetadataForKey, variables: { ...ACCOUNT, key: "a" } });

    const after = parse((await scrape(t)).text);
    expect(failures(after, "expired")).toBe(1);
    expect(failures(after, "signature")).toBe(1);
    expect(failures(after, "malformed")).toBe(2);
    expect(failures(after, "missing")).toBe(1);
    // Every reason is exported, at 0 until it happens.
    expect(sampleValue(after, AUTH_FAILURES, { reason: "jwks_unavailable" })).toBe(0);
    expect(sampleValue(after, REQUESTS, { operation: "MadeUpName1" })).toBeUndefined();
    expect(sampleValue(after, REQUESTS, { operation: "(other)", code: "UNAUTHENTICATED" })).toBe(1);
    // A name an authenticated caller used before is kept, whoever sends it.
    expect(sampleValue(after, REQUESTS, { operation: "UpdateMetadata", code: "UNAUTHENTICATED" })).toBe(3);
  });

  it("times every SQL statement", async () => {
    const before = sampleValue(await samplesOf(t), `${QUERIES}_count`) ?? 0;
    await set("timed");
    const after = await samplesOf(t);
    expect((sampleValue(after, `${QUERIES}_count`) ?? 0) - before).toBeGreaterThanOrEqual(1);
    expect(sampleValue(after, `${QUERIES}_sum`)).toBeGreaterThan(0);
    expect(sampleValue(after, `${QUERIES}_bucket`, { le: "+Inf" })).toBe(sampleValue(after, `${QUERIES}_count`));
  });

  it(`reports the connection pool ${backend.name === "postgres" ? "(PostgreSQL)" : "only on PostgreSQL"}`, async () => {
    const samples = await samplesOf(t);
    const pool = ["idle", "in_use"].map((state) =>
      sampleValue(samples, "metadata_graph_db_pool_connections", { state }),
    );
    if (backend.name === "pglite") {
      expect(samples.filter((s) => s.name.startsWith("metadata_graph_db_pool_"))).toEqual([]);
      return;
    }
    const [idle = -1, inUse = -1] = pool;
    expect(idle + inUse).toBeGreaterThanOrEqual(1);
    // Two per core by default (src/db/database.ts).
    const max = sampleValue(samples, "metadata_graph_db_pool_max_connections") ?? 0;
    expect(max).toBeGreaterThanOrEqual(2);
    expect(idle + inUse).toBeLessThanOrEqual(max);
    expect(sampleValue(samples, "metadata_graph_db_pool_waiting_requests")).toBe(0);
  });

  it("exports Node's process metrics", async () => {
    const samples = await samplesOf(t);
    for (const name of [
      "process_cpu_user_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_heap_size_used_bytes",
      "nodejs_eventloop_lag_seconds",
    ]) {
      expect(sampleValue(samples, name), name).toBeGreaterThanOrEqual(0);
    }
  });

  it("counts expired entries the periodic purge deletes", async () => {
    const purging = await createTestApp(backend, {
      METADATA_PURGE_INTERVAL_SECONDS: "1",
      PORT: "0",
      HOST: "127.0.0.1",
    });
    try {
      expect(sampleValue(await samplesOf(purging), PURGED)).toBe(0);
      const expiresAt = new Date(Date.now() + 1500).toISOString();
      const owner = await purging.token(CALLER);
      for (const key of ["e1", "e2"]) {
        const result = await purging.execute({
          document: UpdateMetadata,
          variables: { input: { ...ACCOUNT, key, value: "soon gone", expiresAt } },
          token: owner,
        });
        expect(result.body.errors).toBeUndefined();
      }
      await purging.app.listen();
      const deadline = Date.now() + 8000;
      while ((sampleValue(await samplesOf(purging), PURGED) ?? 0) < 2 && Date.now() < deadline) await sleep(200);
      expect(sampleValue(await samplesOf(purging), PURGED)).toBe(2);
    } finally {
      await purging.close();
    }
  });
});

describe("/metrics access", () => {
  const backend = backends[0];
  if (!backend) throw new Error("no backend");
  let guarded: TestApp;
  let off: TestApp;

  beforeAll(async () => {
    guarded = await createTestApp(backend, { METRICS_TOKEN });
    off = await createTestApp(backend, { METRICS_ENABLED: "false" });
  });
  afterAll(async () => {
    await guarded.close();
    await off.close();
  });

  it("METRICS_TOKEN: required as a bearer token; GraphQL needs none of it", async () => {
    for (const authorization of [undefined, "Bearer wrong-token-0123456789", METRICS_TOKEN, `Basic ${METRICS_TOKEN}`]) {
      const refused = await scrape(guarded, authorization);
      expect(refused.status, authorization).toBe(401);
      expect(refused.text).not.toContain("metadata_graph");
    }
    const response = await guarded.app.yoga.fetch("http://yoga/metrics");
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="metrics"');
    const allowed = await scrape(guarded, `Bearer ${METRICS_TOKEN}`);
    expect(allowed.status).toBe(200);
    expect(allowed.text).toContain(`# TYPE ${DURATION} histogram`);
    expect((await scrape(guarded, `bearer ${METRICS_TOKEN}`)).status).toBe(200);

    const token = await guarded.token(CALLER);
    const read = await guarded.execute({ document: GetMetadataForKey, variables: { ...ACCOUNT, key: "k" }, token });
    expect(read.body.errors?.map((e) => e.extensions?.code)).toEqual(["NOT_FOUND"]);
  });

  it("only GET and HEAD", async () => {
    const response = await guarded.app.yoga.fetch("http://yoga/metrics", { method: "POST", body: "{}" });
    expect(response.status).toBe(404);
    // HEAD answers the headers without collecting anything (a scrape's cost, for nothing).
    const collect = vi.spyOn(Registry.prototype, "metrics");
    try {
      const head = await guarded.app.yoga.fetch("http://yoga/metrics", {
        method: "HEAD",
        headers: { authorization: `Bearer ${METRICS_TOKEN}` },
      });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await head.text()).toBe("");
      expect(collect).not.toHaveBeenCalled();
      const unauthorized = await guarded.app.yoga.fetch("http://yoga/metrics", { method: "HEAD" });
      expect(unauthorized.status).toBe(401);
      expect(unauthorized.headers.get("www-authenticate")).toBe('Bearer realm="metrics"');
      expect(await unauthorized.text()).toBe("");
      expect(collect).not.toHaveBeenCalled();
      expect((await scrape(guarded, `Bearer ${METRICS_TOKEN}`)).status).toBe(200);
      expect(collect).toHaveBeenCalledTimes(1);
    } finally {
      collect.mockRestore();
    }
  });

  it("METRICS_ENABLED=false: no /metrics, GraphQL as usual", async () => {
    expect((await scrape(off)).status).toBe(404);
    const token = await off.token(CALLER);
    const result = await off.execute({
      document: UpdateMetadata,
      variables: { input: { ...ACCOUNT, key: "k", value: "v" } },
      token,
    });
    expect(result.body.errors).toBeUndefined();
  });
});
