import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { FastHistogram } from "../src/observability/fast-histogram.js";

/**
 * FastHistogram (src/observability/fast-histogram.ts) only replaces how observations are counted:
 * what Prometheus scrapes and what `get()` returns must be exactly what prom-client's Histogram
 * gives for the same observations.
 */

const BUCKETS = [0.001, 0.01, 0.1, 1];
// On the bounds, between them, below the first, above the last.
const VALUES = [0, 0.0005, 0.001, 0.002, 0.01, 0.05, 0.1, 0.5, 1, 7, 1e-9, 0.0999];

function pair<T extends string>(labelNames: T[]) {
  const theirs = new Registry();
  const ours = new Registry();
  const config = { name: "x_seconds", help: "x", buckets: BUCKETS, labelNames };
  return {
    reference: new Histogram<T>({ ...config, registers: [theirs] }),
    fast: new FastHistogram<T>({ ...config, registers: [ours] }),
    theirs,
    ours,
  };
}

describe("FastHistogram", () => {
  it("prints what prom-client's Histogram prints, with labels", async () => {
    const { reference, fast, theirs, ours } = pair(["operation", "code"]);
    VALUES.forEach((value, i) => {
      const labels = { operation: i % 3 ? "Read" : "Write", code: i % 2 ? "OK" : "FORBIDDEN" };
      reference.observe(labels, value);
      fast.seriesFor(labels).observe(value);
    });
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  });

  it("prints what prom-client's Histogram prints without labels, zero before any observation", async () => {
    const { reference, fast, theirs, ours } = pair([]);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    const series = fast.seriesFor({});
    for (const value of VALUES) {
      reference.observe(value);
      series.observe(value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('x_seconds_bucket{le="0.01"} 6');
  });

  it("reset() zeroes every series, and the series a caller holds keeps counting", async () => {
    const { fast, ours } = pair(["code"]);
    const ok = fast.seriesFor({ code: "OK" });
    ok.observe(0.5);
    fast.seriesFor({ code: "FORBIDDEN" }).observe(0.05);
    ours.resetMetrics();
    expect(await ours.metrics()).toContain('x_seconds_count{code="OK"} 0');
    expect(await ours.metrics()).toContain('x_seconds_count{code="FORBIDDEN"} 0');
    ok.observe(0.5);
    expect(await ours.metrics()).toContain('x_seconds_bucket{le="1",code="OK"} 1');
  });
});
