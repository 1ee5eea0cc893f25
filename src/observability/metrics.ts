import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The `api` label of decisions that matched no catalog API: one series for all of them. */
export const NO_API_LABEL = '(none)';

/**
 * Prometheus metrics. One registry per Gatehouse instance (not prom-client's global one),
 * so tests and embedders can run several side by side. Deny codes are the label values.
 */
export class Metrics {
  readonly registry = new Registry();
  /** By transport and code; every increment also counts in `decisionsByApi` (below). */
  /** Read by a cluster worker to report what it decided (src/workers/worker-link.ts). */
  readonly decisionsByTransport = new Counter({
    name: 'gatehouse_check_decisions_total',
    help: 'Authorization decisions, by transport and outcome code (GH_OK or a deny code).',
    labelNames: ['transport', 'code'] as const,
    registers: [this.registry],
  });
  /**
   * The same decisions by API too. Bounded: `api` is an id from the catalog, or
   * NO_API_LABEL for every request that matched none (or was denied before routing).
   */
  readonly decisionsByApi = new Counter({
    name: 'gatehouse_decisions_total',
    help: 'Authorization decisions, by transport, outcome code (GH_OK or a deny code) and API id (from the catalog; "(none)" when no API matched).',
    labelNames: ['transport', 'code', 'api'] as const,
    registers: [this.registry],
  });
  /** Counts one decision in both decision counters. */
  readonly decisions = {
    inc: (labels: { transport: string; code: string; api?: string | undefined }): void => {
      this.decisionsByTransport.inc({ transport: labels.transport, code: labels.code });
      this.decisionsByApi.inc({
        transport: labels.transport,
        code: labels.code,
        api: labels.api ?? NO_API_LABEL,
      });
    },
  };
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
  readonly checkPhaseDuration = new Histogram({
    name: 'gatehouse_check_phase_duration_seconds',
    help: 'Time spent in each phase of a check (route, auth, evaluate), in seconds; a phase a check did not reach is not observed.',
    labelNames: ['phase'] as const,
    buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1, 1],
    registers: [this.registry],
  });
  readonly tokenCacheLookups = new Counter({
    name: 'gatehouse_token_cache_lookups_total',
    help: 'Verified-JWT cache lookups, by result (hit, miss).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly policyEvaluationErrors = new Counter({
    name: 'gatehouse_policy_evaluation_errors_total',
    help: 'Policy (WebAssembly) evaluations that failed or gave an invalid result, by deny code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  /**
   * Shadow (dry-run) policy verdicts beside the enforced decision (docs/shadow.md). Bounded:
   * `api` is a catalog id or NO_API_LABEL, `level` global|service|api, `enforced`
   * allow|deny, `shadow` allow|deny|error.
   */
  readonly shadowDecisions = new Counter({
    name: 'gatehouse_shadow_decisions_total',
    help: 'Shadow (dry-run) policy verdicts, by API id, catalog level, enforced outcome (allow, deny) and shadow outcome (allow, deny, error); never enforced.',
    labelNames: ['api', 'level', 'enforced', 'shadow'] as const,
    registers: [this.registry],
  });
  readonly decisionLogSent = new Counter({
    name: 'gatehouse_decision_logs_sent_total',
    help: 'Decision-log records delivered, by sink (console, service).',
    labelNames: ['sink'] as const,
    registers: [this.registry],
  });
  readonly decisionLogDropped = new Counter({
    name: 'gatehouse_decision_logs_dropped_total',
    help: 'Decision-log records given up on, by sink and reason (buffer_full, rejected, shutdown, encode_failed).',
    labelNames: ['sink', 'reason'] as const,
    registers: [this.registry],
  });
  readonly decisionLogUploadFailures = new Counter({
    name: 'gatehouse_decision_logs_upload_failures_total',
    help: 'Decision-log uploads that failed and will be retried, by sink and reason.',
    labelNames: ['sink', 'reason'] as const,
    registers: [this.registry],
  });
  readonly decisionLogBuffered = new Gauge({
    name: 'gatehouse_decision_logs_buffered_records',
    help: 'Decision-log records waiting to be sent (including a batch being retried), by sink.',
    labelNames: ['sink'] as const,
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
