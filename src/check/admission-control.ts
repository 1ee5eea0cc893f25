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
  /**
   * Shed load while the event loop runs this many milliseconds late
   * (`limits.maxEventLoopDelayMs`; 0 = off): see EventLoopLag.
   */
  readonly maxEventLoopDelayMs?: number;
}

/**
 * How late the event loop is, sampled by a timer: a tick that should fire every
 * SAMPLE_MS but fires later measures the time work waited for its turn. When a flood
 * arrives, checks are decided within the same turn that reads them (a cached token awaits
 * nothing), so a count of checks in flight stays small while the queue before them grows;
 * the loop's lateness is the queue's length in time, which is what a proxy waiting out its
 * ext_authz timeout feels.
 */
class EventLoopLag {
  private static readonly SAMPLE_MS = 10;
  private lagMs = 0;
  private expected = performance.now() + EventLoopLag.SAMPLE_MS;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = Math.max(0, now - this.expected);
      // Rises at once when the loop stalls, falls back gently (half per tick) once it flows.
      this.lagMs = late > this.lagMs ? late : this.lagMs / 2;
      this.expected = now + EventLoopLag.SAMPLE_MS;
    }, EventLoopLag.SAMPLE_MS);
    this.timer.unref();
  }

  /** The lateness now: the larger of the last sample and how overdue the next tick is. */
  current(): number {
    return Math.max(this.lagMs, performance.now() - this.expected);
  }

  stop(): void {
    clearInterval(this.timer);
  }
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
  private readonly lag: EventLoopLag | undefined;
  private readonly lagged: DenyDecision;

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
    this.lagged = deny(
      'GH_ERR_OVERLOADED',
      `the event loop is over ${String(options.maxEventLoopDelayMs ?? 0)} ms late (limits.maxEventLoopDelayMs)`,
      { realm: options.realm, headers: [['retry-after', String(OVERLOADED_RETRY_AFTER_S)]] },
    );
    this.lag =
      options.maxEventLoopDelayMs !== undefined && options.maxEventLoopDelayMs > 0
        ? new EventLoopLag()
        : undefined;
    options.metrics.observeChecksInFlight(() => this.inFlight);
  }

  /** Stops the lag sampler (the process would exit without it: the timer is unref'd). */
  close(): void {
    this.lag?.stop();
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
      return this.reject(input, 'max_inflight', this.overloaded);
    }
    if (this.lag !== undefined && this.lag.current() > (this.options.maxEventLoopDelayMs ?? 0)) {
      this.options.onDecided?.();
      return this.reject(input, 'event_loop_delay', this.lagged);
    }
    this.inFlight++;
    try {
      return await this.inner.check(input);
    } finally {
      this.inFlight--;
      this.options.onDecided?.();
    }
  }

  private reject(
    input: CheckInput,
    reason: 'max_inflight' | 'event_loop_delay',
    decision: DenyDecision,
  ): DenyDecision {
    const { metrics, logger } = this.options;
    metrics.checksRejected.inc({ transport: input.transport, reason });
    metrics.decisions.inc({ transport: input.transport, code: 'GH_ERR_OVERLOADED' });
    this.rejectedSinceWarning++;
    const now = performance.now();
    if (now - this.lastWarningAt >= WARN_INTERVAL_MS) {
      logger.warn(
        {
          code: 'GH_ERR_OVERLOADED',
          rejected: this.rejectedSinceWarning,
          reason,
          maxInflightChecks: this.options.maxInflightChecks,
          maxEventLoopDelayMs: this.options.maxEventLoopDelayMs,
        },
        LOG.checksOverloaded,
      );
      this.lastWarningAt = now;
      this.rejectedSinceWarning = 0;
    }
    return decision;
  }
}
