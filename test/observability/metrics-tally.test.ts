import fc from 'fast-check';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.js';
import { PER_CHECK_SERIES, PromClientCheckMetrics } from './prom-client-metrics.js';

/**
 * The per-check series, tallied (src/observability/metrics-tally.ts), against prom-client's
 * own Counter and Histogram updated on every call (prom-client-metrics.ts): after any
 * sequence of decisions, durations, phases and token cache lookups, with scrapes anywhere
 * in between, /metrics shows the same lines, byte for byte, and the JSON a cluster worker
 * hands the primary (and the primary's aggregation of it) is the same. A scrape that said
 * less than was decided would hide denies from an operator's alerts.
 */

type Op =
  | { kind: 'decision'; transport: string; code: string; api: string | undefined }
  | { kind: 'duration'; transport: string; seconds: number }
  | { kind: 'phase'; phase: string; seconds: number }
  | { kind: 'token'; result: string }
  | { kind: 'scrape' };

const transport = fc.constantFrom('grpc', 'http-envoy', 'json', 'nginx', 'traefik', 'authzen');
const CHECK_BOUNDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1];
const PHASE_BOUNDS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1, 1,
];
/** Seconds: on each bucket bound exactly, between them, zero, above the last one. */
const seconds = fc.oneof(
  fc.double({ min: 0, max: 3, noNaN: true }),
  fc.constantFrom(0, 1e-9, 5, 120, ...CHECK_BOUNDS, ...PHASE_BOUNDS),
  fc.integer({ min: 1, max: 400_000 }).map((ns) => ns / 1e9),
);

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('decision' as const),
    transport,
    code: fc.constantFrom(
      'GH_OK',
      'GH_ERR_NO_CREDENTIAL',
      'GH_ERR_POLICY_DENIED',
      'GH_ERR_OVERLOADED',
    ),
    api: fc.constantFrom(undefined, 'orders.list', 'orders.get', '(none)', 'a "quoted"\\api\n'),
  }),
  fc.record({ kind: fc.constant('duration' as const), transport, seconds }),
  fc.record({
    kind: fc.constant('phase' as const),
    phase: fc.constantFrom('route', 'auth', 'evaluate'),
    seconds,
  }),
  fc.record({ kind: fc.constant('token' as const), result: fc.constantFrom('hit', 'miss') }),
  fc.constant({ kind: 'scrape' as const }),
);

function apply(target: Metrics | PromClientCheckMetrics, each: Op): void {
  switch (each.kind) {
    case 'decision':
      target.decisions.inc({ transport: each.transport, code: each.code, api: each.api });
      return;
    case 'duration':
      target.checkDuration.observe({ transport: each.transport }, each.seconds);
      return;
    case 'phase':
      target.checkPhaseDuration.observe({ phase: each.phase }, each.seconds);
      return;
    case 'token':
      target.tokenCacheLookups.inc({ result: each.result });
      return;
    case 'scrape':
      return;
  }
}

/** Each per-check series as /metrics prints it. */
async function exposition(registry: Pick<Registry, 'getSingleMetricAsString'>): Promise<string[]> {
  return Promise.all(PER_CHECK_SERIES.map((name) => registry.getSingleMetricAsString(name)));
}

/** The per-check series as getMetricsAsJSON gives them (what a cluster worker sends). */
async function json(registry: Pick<Registry, 'getMetricsAsJSON'>): Promise<object[]> {
  return (await registry.getMetricsAsJSON()).filter((metric) =>
    (PER_CHECK_SERIES as readonly string[]).includes(metric.name),
  );
}

describe('per-check metrics, tallied, against prom-client updated on every call', () => {
  it('any sequence of updates and scrapes: the same /metrics lines and the same worker JSON', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 120 }), async (ops) => {
        const tallied = new Metrics();
        const oracle = new PromClientCheckMetrics();
        for (const each of ops) {
          apply(tallied, each);
          apply(oracle, each);
          if (each.kind === 'scrape') {
            expect(await exposition(tallied.registry)).toEqual(await exposition(oracle.registry));
          }
        }
        expect(await exposition(tallied.registry)).toEqual(await exposition(oracle.registry));
        const workerJson = await json(tallied.registry);
        expect(workerJson).toStrictEqual(await json(oracle.registry));
        // The primary sums two workers' JSON into one /metrics.
        const aggregated = AggregatorRegistry.aggregate([workerJson, workerJson] as never[]);
        const aggregatedOracle = AggregatorRegistry.aggregate([
          await json(oracle.registry),
          await json(oracle.registry),
        ] as never[]);
        expect(await exposition(aggregated)).toEqual(await exposition(aggregatedOracle));
      }),
      { numRuns: 300 },
    );
  });

  it('a duration that is not a finite number is refused as prom-client refuses it', () => {
    const tallied = new Metrics();
    const oracle = new PromClientCheckMetrics();
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => {
        oracle.checkDuration.observe({ transport: 'grpc' }, value);
      }).toThrow(TypeError);
      expect(() => {
        tallied.checkDuration.observe({ transport: 'grpc' }, value);
      }).toThrow(TypeError);
    }
  });

  it('the registry lists every series in the order it always did', () => {
    expect(new Metrics().registry.getMetricsAsArray().map((metric) => metric.name)).toEqual([
      'gatehouse_check_decisions_total',
      'gatehouse_decisions_total',
      'gatehouse_check_deny_details_total',
      'gatehouse_check_duration_seconds',
      'gatehouse_snapshot_builds_total',
      'gatehouse_introspection_requests_total',
      'gatehouse_jwks_refreshes_total',
      'gatehouse_jwks_refresh_failures_total',
      'gatehouse_jwks_last_success_timestamp_seconds',
      'gatehouse_checks_rejected_total',
      'gatehouse_check_phase_duration_seconds',
      'gatehouse_token_cache_lookups_total',
      'gatehouse_policy_evaluation_errors_total',
      'gatehouse_shadow_decisions_total',
      'gatehouse_decision_logs_sent_total',
      'gatehouse_decision_logs_dropped_total',
      'gatehouse_decision_logs_upload_failures_total',
      'gatehouse_decision_logs_buffered_records',
      'gatehouse_checks_in_flight',
    ]);
  });
});
