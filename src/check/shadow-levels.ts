import type { Decision } from '../decision/decision.js';
import type { ShadowRun, ShadowVerdict } from '../decision/shadow-verdict.js';
import type { Logger } from '../observability/logger.js';
import { LOG } from '../observability/log-messages.js';
import { NO_API_LABEL, type Metrics } from '../observability/metrics.js';
import { traceIdOf } from '../observability/trace-context.js';
import type { PolicyLevel } from '../routes/catalog.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import type { CheckInput } from './check-input.js';
import { evaluateLevels, type LevelsOutcome } from './evaluate-policies.js';

/**
 * Shadow (dry-run) policies (docs/shadow.md): each shadow level is evaluated on its own, on
 * the same encoded input as the enforced levels, whatever the enforced levels answered (a
 * shadow behind an outer level that denied is still asked: its owner wants its outcome on
 * every request that reaches the policies of its API). Its verdict is recorded, never applied.
 */
export function evaluateShadows(
  snapshot: Snapshot,
  shadows: readonly PolicyLevel[],
  enforcedLevels: readonly PolicyLevel[],
  enforced: LevelsOutcome,
  input: ArrayBuffer,
): ShadowRun {
  return {
    verdicts: shadows.map((shadow) => shadowVerdict(snapshot, shadow, input)),
    enforcedDeniedAt: enforced.ok ? undefined : enforcedLevels[enforced.levelIndex]?.level,
  };
}

/** One shadow through the enforced evaluator: the same error classes, as allow|deny|error. */
function shadowVerdict(snapshot: Snapshot, shadow: PolicyLevel, input: ArrayBuffer): ShadowVerdict {
  const level = shadow.level === 'opa-envoy' ? 'global' : shadow.level;
  try {
    const outcome = evaluateLevels(snapshot, [shadow], input);
    if (outcome.ok) return { level, package: shadow.package, outcome: 'allow' };
    return {
      level,
      package: shadow.package,
      // A deny is the policy saying no; every other code is the policy failing to answer.
      outcome: outcome.code === 'GH_ERR_POLICY_DENIED' ? 'deny' : 'error',
      reason: outcome.reason,
    };
  } catch (error) {
    // A shadow must never change the enforced answer, not even by throwing.
    return { level, package: shadow.package, outcome: 'error', reason: String(error) };
  }
}

/**
 * Counts and logs each shadow verdict against the decision the proxy received:
 * `gatehouse_shadow_decisions_total{api,level,enforced,shadow}`, and one log line per shadow
 * (a disagreement at info, an error at warn, an agreement at debug). Never throws.
 */
export function reportShadows(
  run: ShadowRun,
  input: CheckInput,
  decision: Decision,
  logger: Logger,
  metrics: Metrics,
): void {
  try {
    const enforced = decision.allowed ? 'allow' : 'deny';
    const api = decision.api?.id ?? NO_API_LABEL;
    for (const verdict of run.verdicts) {
      metrics.shadowDecisions.inc({ api, level: verdict.level, enforced, shadow: verdict.outcome });
      const agrees = verdict.outcome === enforced;
      const level = verdict.outcome === 'error' ? 'warn' : agrees ? 'debug' : 'info';
      if (!logger.isLevelEnabled(level)) continue;
      logger[level](
        {
          transport: input.transport,
          api: decision.api?.id,
          shadow_level: verdict.level,
          shadow_policy: verdict.package,
          shadow: verdict.outcome,
          shadow_reason: verdict.reason,
          enforced,
          enforced_code: decision.code,
          enforced_level: run.enforcedDeniedAt,
          agrees,
          revision: decision.revision,
          request_id: input.requestId,
          trace_id: traceIdOf(input.headers),
        },
        verdict.outcome === 'error'
          ? LOG.shadowFailed
          : agrees
            ? LOG.shadowAgreed
            : LOG.shadowDiffers,
      );
    }
  } catch (error) {
    logger.warn({ err: error }, LOG.observerFailed);
  }
}
