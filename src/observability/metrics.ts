import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { CounterTally, TallyHistogram } from './metrics-tally.js';

/** A counter in `registry`; the label names are its only labels (prom-client checks each inc). */
function counter<Label extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly Label[],
  /** Called before each read (a scrape): a tally that counts for it flushes here. */
  collect?: () => void,
): Counter<Label> {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    ...(collect === undefined ? {} : { collect }),
  });
}

function gauge<Label extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly Label[],
): Gauge<Label> {
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

/** The `api` label of decisions that matched no catalog API: one series for all of them. */
export const NO_API_LABEL = '(none)';

/**
 * Prometheus metrics. One registry per Gatehouse instance (not prom-client's global one),
 * so tests and embedders can run several side by side. Deny codes are the label values.
 */
export class Metrics {
  readonly registry = new Registry();
  /**
   * Every decision by transport, code and API: counted here on the check path, added to the
   * two decision counters below when they are read (metrics-tally.ts).
   */
  private readonly decisionTally = new CounterTally(
    3,
    ([transport = '', code = '', api = ''], count) => {
      this.decisionsByTransport.inc({ transport, code }, count);
      this.decisionsByApi.inc({ transport, code, api }, count);
    },
  );
  /** By transport and code; every increment also counts in `decisionsByApi` (below). */
  /** Read by a cluster worker to report what it decided (src/workers/worker-link.ts). */
  readonly decisionsByTransport = counter(
    this.registry,
    'gatehouse_check_decisions_total',
    'Authorization decisions, by transport and outcome code (GH_OK or a deny code).',
    ['transport', 'code'],
    () => {
      this.decisionTally.flush();
    },
  );
  /**
   * The same decisions by API too. Bounded: `api` is an id from the catalog, or
   * NO_API_LABEL for every request that matched none (or was denied before routing).
   */
  readonly decisionsByApi = counter(
    this.registry,
    'gatehouse_decisions_total',
    'Authorization decisions, by transport, outcome code (GH_OK or a deny code) and API id (from the catalog; "(none)" when no API matched).',
    ['transport', 'code', 'api'],
    () => {
      this.decisionTally.flush();
    },
  );
  /** Counts one decision in both decision counters. */
  readonly decisions = {
    inc: (labels: { transport: string; code: string; api?: string | undefined }): void => {
      this.decisionTally.add(labels.transport, labels.code, labels.api ?? NO_API_LABEL);
    },
  };
  readonly denyDetails = counter(
    this.registry,
    'gatehouse_check_deny_details_total',
    'Denies with a finer cause, by transport, deny code and detail (a GH_DPOP_*, GH_CERT_* or GH_INTROSPECTION_* code; a closed set).',
    ['transport', 'code', 'detail'],
  );
  /** Observed once per check: a TallyHistogram (metrics-tally.ts), the same exposition. */
  readonly checkDuration = new TallyHistogram(
    this.registry,
    'gatehouse_check_duration_seconds',
    'Time to decide one check, from input to decision, in seconds.',
    'transport',
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1],
  );
  readonly snapshotBuilds = counter(
    this.registry,
    'gatehouse_snapshot_builds_total',
    'Snapshot builds, by result (activated, failed, stale).',
    ['result'],
  );

  readonly introspectionRequests = counter(
    this.registry,
    'gatehouse_introspection_requests_total',
    'Introspections the cache could not answer, by issuer and outcome: active, inactive, unavailable (sent), rate_limited (not sent: over maxCallsPerS).',
    ['issuer', 'outcome'],
  );
  readonly jwksRefreshes = counter(
    this.registry,
    'gatehouse_jwks_refreshes_total',
    'Issuer key refreshes, by issuer and outcome (changed, unchanged, failed).',
    ['issuer', 'outcome'],
  );
  readonly jwksRefreshFailures = counter(
    this.registry,
    'gatehouse_jwks_refresh_failures_total',
    'Failed issuer key refreshes, by issuer and reason (a GH_OIDC_* or GH_JWKS_* code).',
    ['issuer', 'reason'],
  );
  readonly jwksLastSuccess = gauge(
    this.registry,
    'gatehouse_jwks_last_success_timestamp_seconds',
    'When the issuer keys in use were last loaded successfully (changed or not), in Unix seconds.',
    ['issuer'],
  );
  readonly checksRejected = counter(
    this.registry,
    'gatehouse_checks_rejected_total',
    'Checks denied with GH_ERR_OVERLOADED before any work, by transport and reason.',
    ['transport', 'reason'],
  );
  /** Observed up to three times per check: a TallyHistogram too. */
  readonly checkPhaseDuration = new TallyHistogram(
    this.registry,
    'gatehouse_check_phase_duration_seconds',
    'Time spent in each phase of a check (route, auth, evaluate), in seconds; a phase a check did not reach is not observed.',
    'phase',
    [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1, 1],
  );
  private readonly tokenCacheTally = new CounterTally(1, ([result = ''], count) => {
    this.tokenCacheLookupsCounter.inc({ result }, count);
  });
  private readonly tokenCacheLookupsCounter = counter(
    this.registry,
    'gatehouse_token_cache_lookups_total',
    'Verified-JWT cache lookups, by result (hit, miss).',
    ['result'],
    () => {
      this.tokenCacheTally.flush();
    },
  );
  /** One verified-token cache lookup per check with a JWT: counted, flushed when read. */
  readonly tokenCacheLookups = {
    inc: (labels: { readonly result: string }): void => {
      this.tokenCacheTally.add(labels.result);
    },
  };
  readonly policyEvaluationErrors = counter(
    this.registry,
    'gatehouse_policy_evaluation_errors_total',
    'Policy (WebAssembly) evaluations that failed or gave an invalid result, by deny code.',
    ['code'],
  );
  /**
   * Shadow (dry-run) policy verdicts beside the enforced decision (docs/shadow.md). Bounded:
   * `api` is a catalog id or NO_API_LABEL, `level` global|service|api, `enforced`
   * allow|deny, `shadow` allow|deny|error.
   */
  readonly shadowDecisions = counter(
    this.registry,
    'gatehouse_shadow_decisions_total',
    'Shadow (dry-run) policy verdicts, by API id, catalog level, enforced outcome (allow, deny) and shadow outcome (allow, deny, error); never enforced.',
    ['api', 'level', 'enforced', 'shadow'],
  );
  readonly decisionLogSent = counter(
    this.registry,
    'gatehouse_decision_logs_sent_total',
    'Decision-log records delivered, by sink (console, service).',
    ['sink'],
  );
  readonly decisionLogDropped = counter(
    this.registry,
    'gatehouse_decision_logs_dropped_total',
    'Decision-log records given up on, by sink and reason (buffer_full, rejected, shutdown, encode_failed).',
    ['sink', 'reason'],
  );
  readonly decisionLogUploadFailures = counter(
    this.registry,
    'gatehouse_decision_logs_upload_failures_total',
    'Decision-log uploads that failed and will be retried, by sink and reason.',
    ['sink', 'reason'],
  );
  readonly decisionLogBuffered = gauge(
    this.registry,
    'gatehouse_decision_logs_buffered_records',
    'Decision-log records waiting to be sent (including a batch being retried), by sink.',
    ['sink'],
  );
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
