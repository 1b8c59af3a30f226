import { Histogram, type HistogramConfiguration } from "prom-client";

type LabelValues = Record<string, string | number>;

/** One label combination of a FastHistogram: observations per bucket (not cumulative), sum, count. */
export class HistogramSeries {
  private readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: LabelValues,
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        (this.counts[i] as number)++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }

  clear(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /** Cumulative counts per upper bound, as Prometheus' `le` buckets are. */
  cumulative(): number[] {
    let total = 0;
    return Array.from(this.counts, (n) => (total += n));
  }
}

/** A sample as prom-client's registry formats it (the shape its own Histogram hands over). */
interface Sample {
  labels: LabelValues;
  sharedLabels: LabelValues;
  value: number;
  metricName: string;
  exemplar?: null;
}

/**
 * prom-client's Histogram, observed through series held by the caller: an observation is a bucket
 * search and two additions. prom-client's own `observe` validates and hashes the label object and
 * turns the bucket's float bound into an object key on every call: ~1.2 µs, twice per request
 * (request duration, statement duration), a fifth of what logs and metrics cost a point read.
 * Registration, scraping and the text format stay prom-client's; only the samples come from here.
 */
export class FastHistogram<T extends string> extends Histogram<T> {
  private readonly bounds: readonly number[];
  private readonly series = new Map<string, HistogramSeries>();
  private readonly metricName: string;
  private readonly metricHelp: string;
  private readonly names: readonly T[];

  constructor(config: HistogramConfiguration<T> & { buckets: number[] }) {
    super(config);
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    this.metricName = config.name;
    this.metricHelp = config.help;
    this.names = config.labelNames ?? [];
    // Without labels the one series exists, zero, from the start (as prom-client shows it).
    if (this.names.length === 0) this.seriesFor({});
  }

  /** The series of these label values, made on first use and kept: call it once per combination. */
  seriesFor(labels: Partial<Record<T, string | number>>): HistogramSeries {
    const key = this.names.map((name) => String(labels[name] ?? "")).join("\u0000");
    let series = this.series.get(key);
    if (!series) {
      series = new HistogramSeries(this.bounds, { ...labels } as LabelValues);
      this.series.set(key, series);
    }
    return series;
  }

  /** What prom-client's registry reads to print the metric (and `get()` to build its JSON). */
  async getForPromString() {
    const values: Sample[] = [];
    const bucket = `${this.metricName}_bucket`;
    for (const series of this.series.values()) {
      const shared = series.labels;
      series.cumulative().forEach((value, i) => {
        values.push({
          labels: { le: this.bounds[i] as number },
          sharedLabels: shared,
          value,
          metricName: bucket,
          exemplar: null,
        });
      });
      values.push(
        { labels: { le: "+Inf" }, sharedLabels: shared, value: series.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: shared, value: series.sum, metricName: `${this.metricName}_sum` },
        { labels: {}, sharedLabels: shared, value: series.count, metricName: `${this.metricName}_count` },
      );
    }
    return {
      name: this.metricName,
      help: this.metricHelp,
      type: "histogram" as const,
      values,
      aggregator: "sum" as const,
    };
  }

  /**
   * Zeroes every series in place: callers keep the series they hold. (prom-client's Histogram drops
   * its series instead, so that they print nothing until observed again; these print zeros.)
   */
  override reset(): void {
    // prom-client's constructor calls it too, before this class's fields exist.
    if (!this.series) return;
    for (const series of this.series.values()) series.clear();
  }
}
