import type { Metric, MetricObjectWithValues, MetricValue, Registry } from 'prom-client';

/**
 * The per-check series, kept in plain numbers on the check path and handed to prom-client's
 * exposition only when scraped. prom-client validates and hashes the label object on every
 * observe and inc (label hashing, a keyed object lookup, bucket values by string key): about
 * 5% of a cached check's CPU in bench/pipeline-latency.ts's profile, for five updates per check.
 * Here an update is a Map lookup on the label value and a few additions.
 *
 * Both keep exactly what /metrics said before (test/observability/metrics-tally.test.ts
 * compares them with prom-client's own Counter and Histogram on the same updates): series in
 * the order they were first updated, labels in the order the callers named them, and a
 * histogram's sum added up value by value in the same order, so not one digit moves.
 */

// ---- histogram ---------------------------------------------------------------------------

interface HistogramSeries {
  readonly labels: Record<string, string>;
  /** Observations per bucket (not cumulative), by upper bound's index; +Inf is `count`. */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/** One exposition line's value as prom-client's Histogram builds it (getForPromString). */
interface HistogramValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

/**
 * A histogram with one label, formatted by prom-client's Registry as its Histogram is
 * (type, `_bucket` with `le` then the label, `+Inf`, `_sum`, `_count`; aggregated across
 * workers by sum). Observations as prom-client's: a value not finite throws, a value above
 * the last bound counts in +Inf only.
 */
export class TallyHistogram<Label extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly Label[];
  private readonly series = new Map<string, HistogramSeries>();
  private readonly upperBounds: readonly number[];

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly label: Label,
    buckets: readonly number[],
  ) {
    this.labelNames = [label];
    // In the order given, as prom-client's Histogram keeps them (it does not sort).
    this.upperBounds = [...buckets];
    // The Registry reads a metric through name, help, type, aggregator, get() and
    // getForPromString(); its type names only its own four classes, so this one is cast.
    registry.registerMetric(this as unknown as Metric);
  }

  observe(labels: Readonly<Record<Label, string>>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const labelValue = labels[this.label];
    let series = this.series.get(labelValue);
    if (series === undefined) {
      series = {
        labels: { [this.label]: labelValue },
        buckets: new Float64Array(this.upperBounds.length),
        sum: 0,
        count: 0,
      };
      this.series.set(labelValue, series);
    }
    const bounds = this.upperBounds;
    let index = 0;
    while (index < bounds.length && !(value <= (bounds[index] ?? 0))) index++;
    if (index < bounds.length) series.buckets[index] = (series.buckets[index] ?? 0) + 1;
    series.sum += value;
    series.count += 1;
  }

  /** What the Registry formats /metrics from: prom-client Histogram.getForPromString's shape. */
  getForPromString(): Promise<MetricObjectWithValues<MetricValue<string>>> {
    const values: HistogramValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.series.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((upperBound, index) => {
        cumulative += series.buckets[index] ?? 0;
        values.push(pair({ le: upperBound }, cumulative, bucketName, null, series.labels));
      });
      values.push(
        pair({ le: '+Inf' }, series.count, bucketName, null, series.labels),
        pair({}, series.sum, `${this.name}_sum`, undefined, series.labels),
        pair({}, series.count, `${this.name}_count`, undefined, series.labels),
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    } as unknown as MetricObjectWithValues<MetricValue<string>>);
  }

  /** The JSON form (getMetricsAsJSON, the cluster's aggregation): each value's labels with the series' label after `le`. */
  async get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
    const data = await this.getForPromString();
    data.values = (data.values as unknown as HistogramValue[]).map(
      ({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }),
    );
    return data;
  }

  reset(): void {
    this.series.clear();
  }
}

function pair(
  labels: Record<string, string | number>,
  value: number,
  metricName: string,
  exemplar: null | undefined,
  sharedLabels: Record<string, string>,
): HistogramValue {
  return { labels, sharedLabels, value, metricName, exemplar };
}

// ---- counters ----------------------------------------------------------------------------

interface TallyEntry {
  readonly values: readonly string[];
  pending: number;
}

/**
 * Increments by label values, kept as plain counts and added to prom-client counters when
 * they are read (each counter's `collect` calls flush()). Counts are integers, so adding a
 * batch equals adding its ones; entries are flushed in the order they were first counted,
 * which is the order prom-client would have created the series in.
 */
export class CounterTally {
  /** label value -> (next label's map | the entry), one level per label. */
  private readonly root = new Map<string, unknown>();
  private readonly entries: TallyEntry[] = [];

  /** `flushTo` adds `count` to the prom-client series of these label values. */
  constructor(
    private readonly labelCount: 1 | 2 | 3,
    private readonly flushTo: (values: readonly string[], count: number) => void,
  ) {}

  /** One increment of the series named by these label values, in label order (up to three). */
  add(first: string, second = '', third = ''): void {
    let level = this.root;
    let value = first;
    for (let depth = 1; depth < this.labelCount; depth++) {
      let next = level.get(value) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(value, next);
      }
      level = next;
      value = depth === 1 ? second : third;
    }
    let entry = level.get(value) as TallyEntry | undefined;
    if (entry === undefined) {
      entry = { values: [first, second, third].slice(0, this.labelCount), pending: 0 };
      level.set(value, entry);
      this.entries.push(entry);
    }
    entry.pending += 1;
  }

  /** Adds what was counted since the last flush to the counters. */
  flush(): void {
    for (const entry of this.entries) {
      if (entry.pending === 0) continue;
      const count = entry.pending;
      entry.pending = 0;
      this.flushTo(entry.values, count);
    }
  }
}
