import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics. One registry per Gatehouse instance (not prom-client's global one),
 * so tests and embedders can run several side by side. Deny codes are the label values.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly decisions = new Counter({
    name: 'gatehouse_check_decisions_total',
    help: 'Authorization decisions, by transport and outcome code (GH_OK or a deny code).',
    labelNames: ['transport', 'code'] as const,
    registers: [this.registry],
  });
  readonly denyDetails = new Counter({
    name: 'gatehouse_check_deny_details_total',
    help: 'Denies with a finer cause, by transport, deny code and detail (a GH_DPOP_*, GH_CERT_* or GH_INTROSPECTION_* code; a closed set).',
    labelNames: ['transport', 'code', 'detail'] as const,
    registers: [this.registry],
  });
  readonly checkDuration = new Histogram({
    name: 'gatehouse_check_duration_seconds',
    help: 'Time to decide one check, from input to decision, in seconds.',
    labelNames: ['transport'] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1],
    registers: [this.registry],
  });
  readonly snapshotBuilds = new Counter({
    name: 'gatehouse_snapshot_builds_total',
    help: 'Snapshot builds, by result (activated, failed, stale).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly introspectionRequests = new Counter({
    name: 'gatehouse_introspection_requests_total',
    help: 'Introspections the cache could not answer, by issuer and outcome: active, inactive, unavailable (sent), rate_limited (not sent: over maxCallsPerS).',
    labelNames: ['issuer', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly jwksRefreshes = new Counter({
    name: 'gatehouse_jwks_refreshes_total',
    help: 'Issuer key refreshes, by issuer and outcome (changed, unchanged, failed).',
    labelNames: ['issuer', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly jwksRefreshFailures = new Counter({
    name: 'gatehouse_jwks_refresh_failures_total',
    help: 'Failed issuer key refreshes, by issuer and reason (a GH_OIDC_* or GH_JWKS_* code).',
    labelNames: ['issuer', 'reason'] as const,
    registers: [this.registry],
  });
  readonly jwksLastSuccess = new Gauge({
    name: 'gatehouse_jwks_last_success_timestamp_seconds',
    help: 'When the issuer keys in use were last loaded successfully (changed or not), in Unix seconds.',
    labelNames: ['issuer'] as const,
    registers: [this.registry],
  });
  readonly checksRejected = new Counter({
    name: 'gatehouse_checks_rejected_total',
    help: 'Checks denied with GH_ERR_OVERLOADED before any work, by transport and reason.',
    labelNames: ['transport', 'reason'] as const,
    registers: [this.registry],
  });
  /** Read at scrape time from whatever observeChecksInFlight was given. */
  private checksInFlightSource: () => number = () => 0;
  readonly checksInFlight = new Gauge({
    name: 'gatehouse_checks_in_flight',
    help: 'Checks admitted and not yet decided.',
    registers: [this.registry],
    collect: () => {
      this.checksInFlight.set(this.checksInFlightSource());
    },
  });

  observeChecksInFlight(source: () => number): void {
    this.checksInFlightSource = source;
  }

  constructor(options: { readonly processMetrics?: boolean } = {}) {
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry });
  }
}
