import { randomUUID } from 'node:crypto';
import type { CheckInput } from '../check/check-input.js';
import type { Decision } from '../decision/decision.js';
import type { PhaseClock, CheckPhase } from './check-phases.js';
import type { DecisionLog } from './decision-log/decision-log.js';
import type { DecisionRates } from './decision-rates.js';
import type { Logger } from './logger.js';
import { LOG } from './log-messages.js';
import type { Metrics } from './metrics.js';
import { traceIdOf } from './trace-context.js';

/** Told of every decision the pipeline made, after it made it. Must not throw or wait. */
export interface CheckObserver {
  decided(input: CheckInput, decision: Decision, phases: PhaseClock): void;
}

/** Records a finished check as spans (tracing.ts); returns the trace id it used. */
export interface CheckTracer {
  record(input: CheckInput, decision: Decision, phases: PhaseClock): string | undefined;
}

export interface CheckObservationsOptions {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly decisionLog?: DecisionLog | undefined;
  readonly rates?: DecisionRates | undefined;
  readonly tracer?: CheckTracer | undefined;
}

const EVALUATION_ERRORS = new Set(['GH_ERR_POLICY_ERROR', 'GH_ERR_POLICY_RESULT_INVALID']);

/**
 * Everything Gatehouse records about a decision besides the deny log line: phase timings,
 * policy errors, the status page's rates, a span per check, a decision-log entry. Each is
 * a counter update or a queue push; sending happens elsewhere. A failure here is logged and
 * swallowed: recording a decision never changes it.
 */
export class CheckObservations implements CheckObserver {
  constructor(private readonly options: CheckObservationsOptions) {}

  decided(input: CheckInput, decision: Decision, phases: PhaseClock): void {
    try {
      const { metrics, decisionLog, rates, tracer } = this.options;
      const phaseNs: Partial<Record<CheckPhase, bigint>> = {};
      for (const span of phases.spans()) {
        const ns = span.endNs - span.startNs;
        phaseNs[span.phase] = ns;
        metrics.checkPhaseDuration.observe({ phase: span.phase }, Number(ns) / 1e9);
      }
      if (EVALUATION_ERRORS.has(decision.code)) {
        metrics.policyEvaluationErrors.inc({ code: decision.code });
      }
      rates?.count(decision.allowed);
      const traceId = tracer?.record(input, decision, phases) ?? traceIdOf(input.headers);
      if (decisionLog?.enabled === true) {
        decisionLog.enqueue({
          decisionId: randomUUID(),
          timestampMs: phases.startedAtMs,
          input,
          decision,
          phaseNs,
          totalNs: phases.totalNs(),
          traceId,
          shadows: phases.shadows,
        });
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, LOG.observerFailed);
    }
  }
}
