import { Counter, Histogram, Registry } from 'prom-client';
import { NO_API_LABEL } from '../../src/observability/metrics.js';

/**
 * The per-check series as Metrics defined them before the tallies (src/observability/
 * metrics-tally.ts), kept only as the oracle they are tested against: prom-client's own
 * Counter and Histogram, updated on every call, with the same names, help, labels and
 * buckets. Gatehouse exposed exactly these until issue 10's metrics work.
 */
export class PromClientCheckMetrics {
  readonly registry = new Registry();
  readonly decisionsByTransport = new Counter({
    name: 'gatehouse_check_decisions_total',
    help: 'Authorization decisions, by transport and outcome code (GH_OK or a deny code).',
    labelNames: ['transport', 'code'],
    registers: [this.registry],
  });
  readonly decisionsByApi = new Counter({
    name: 'gatehouse_decisions_total',
    help: 'Authorization decisions, by transport, outcome code (GH_OK or a deny code) and API id (from the catalog; "(none)" when no API matched).',
    labelNames: ['transport', 'code', 'api'],
    registers: [this.registry],
  });
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
  readonly checkDuration = new Histogram({
    name: 'gatehouse_check_duration_seconds',
    help: 'Time to decide one check, from input to decision, in seconds.',
    labelNames: ['transport'],
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1],
    registers: [this.registry],
  });
  readonly checkPhaseDuration = new Histogram({
    name: 'gatehouse_check_phase_duration_seconds',
    help: 'Time spent in each phase of a check (route, auth, evaluate), in seconds; a phase a check did not reach is not observed.',
    labelNames: ['phase'],
    buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1, 1],
    registers: [this.registry],
  });
  readonly tokenCacheLookups = new Counter({
    name: 'gatehouse_token_cache_lookups_total',
    help: 'Verified-JWT cache lookups, by result (hit, miss).',
    labelNames: ['result'],
    registers: [this.registry],
  });
}

/** The series above, by name: what the tests compare. */
export const PER_CHECK_SERIES = [
  'gatehouse_check_decisions_total',
  'gatehouse_decisions_total',
  'gatehouse_check_duration_seconds',
  'gatehouse_check_phase_duration_seconds',
  'gatehouse_token_cache_lookups_total',
] as const;
