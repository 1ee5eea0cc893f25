import type { Logger } from '../observability/logger.js';
import { LOG } from '../observability/log-messages.js';
import type { Metrics } from '../observability/metrics.js';
import type { Authorizer } from './authorizer.js';
import type { CheckInput } from './check-input.js';
import { deny, type Decision, type DenyDecision } from '../decision/decision.js';

/** RFC 6585 section 4 / RFC 9110 section 10.2.3: seconds a client should wait. */
export const OVERLOADED_RETRY_AFTER_S = 1;

/** At most one overload warning per this many milliseconds: a flood must not flood the log. */
const WARN_INTERVAL_MS = 1000;

export interface AdmissionOptions {
  /** Checks the inner authorizer may be deciding at once (`limits.maxInflightChecks`). */
  readonly maxInflightChecks: number;
  readonly realm: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Called after each decided check (admitted or rejected): proof the event loop moves. */
  readonly onDecided?: () => void;
}

/**
 * Overload protection in front of the pipeline, shared by every transport: at most
 * `maxInflightChecks` checks are decided at once; one more is answered at once with the
 * explicit deny GH_ERR_OVERLOADED (429, Retry-After), never an error and never an allow.
 *
 * Past Envoy's ext_authz timeout (200 ms by default) an answer is a deny anyway, only a
 * late one that held a connection, memory and a place in the event loop all the while. The
 * rejection does no work: no snapshot, no routing, no token; one prebuilt decision.
 */
export class AdmissionControl implements Authorizer {
  private inFlight = 0;
  private readonly overloaded: DenyDecision;
  private rejectedSinceWarning = 0;
  private lastWarningAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly inner: Authorizer,
    private readonly options: AdmissionOptions,
  ) {
    if (!Number.isSafeInteger(options.maxInflightChecks) || options.maxInflightChecks < 1) {
      throw new RangeError(
        `maxInflightChecks must be a positive integer, got ${String(options.maxInflightChecks)}`,
      );
    }
    this.overloaded = deny(
      'GH_ERR_OVERLOADED',
      `more than ${String(options.maxInflightChecks)} checks in flight (limits.maxInflightChecks)`,
      { realm: options.realm, headers: [['retry-after', String(OVERLOADED_RETRY_AFTER_S)]] },
    );
    options.metrics.observeChecksInFlight(() => this.inFlight);
  }

  /** Checks being decided now. */
  get checksInFlight(): number {
    return this.inFlight;
  }

  isReady(): boolean {
    return this.inner.isReady();
  }

  async check(input: CheckInput): Promise<Decision> {
    if (this.inFlight >= this.options.maxInflightChecks) {
      this.options.onDecided?.();
      return this.reject(input);
    }
    this.inFlight++;
    try {
      return await this.inner.check(input);
    } finally {
      this.inFlight--;
      this.options.onDecided?.();
    }
  }

  private reject(input: CheckInput): DenyDecision {
    const { metrics, logger } = this.options;
    metrics.checksRejected.inc({ transport: input.transport, reason: 'max_inflight' });
    metrics.decisions.inc({ transport: input.transport, code: 'GH_ERR_OVERLOADED' });
    this.rejectedSinceWarning++;
    const now = performance.now();
    if (now - this.lastWarningAt >= WARN_INTERVAL_MS) {
      logger.warn(
        {
          code: 'GH_ERR_OVERLOADED',
          rejected: this.rejectedSinceWarning,
          maxInflightChecks: this.options.maxInflightChecks,
        },
        LOG.checksOverloaded,
      );
      this.lastWarningAt = now;
      this.rejectedSinceWarning = 0;
    }
    return this.overloaded;
  }
}
