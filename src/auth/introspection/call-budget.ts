/**
 * A token bucket: at most `ratePerS` calls per second on average, with bursts of up to
 * `burst` calls after a quiet spell. It bounds how many introspection requests one issuer
 * receives from this process, whatever clients send: without it, every random opaque token
 * costs the authorization server one request (RFC 7662 section 4 asks resource servers to
 * guard the endpoint against such "token scanning"; here the guard faces the other way).
 *
 * Only requests actually sent take from the bucket: the caller takes after the cache and
 * the single-flight map have had their say.
 */
export interface CallBudgetOptions {
  /** Calls per second refilled, on average. > 0. */
  readonly ratePerS: number;
  /** The most calls available at once (the bucket's size). >= 1. */
  readonly burst: number;
  /** A monotonic clock in milliseconds; default `performance.now`. For tests. */
  readonly now?: () => number;
}

export class CallBudget {
  readonly ratePerS: number;
  readonly burst: number;
  readonly #now: () => number;
  #tokens: number;
  #updatedAtMs: number;

  constructor(options: CallBudgetOptions) {
    if (!Number.isFinite(options.ratePerS) || options.ratePerS <= 0) {
      throw new TypeError(`ratePerS must be a positive number, got ${options.ratePerS}`);
    }
    if (!Number.isFinite(options.burst) || options.burst < 1) {
      throw new TypeError(`burst must be at least 1, got ${options.burst}`);
    }
    this.ratePerS = options.ratePerS;
    this.burst = options.burst;
    this.#now = options.now ?? (() => performance.now());
    // Start full: a fresh process may introspect its first burst at once.
    this.#tokens = options.burst;
    this.#updatedAtMs = this.#now();
  }

  /** Takes one call from the budget; false (and nothing taken) when it is spent. */
  tryTake(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Calls available now (fractional), for tests and the status page. */
  available(): number {
    this.#refill();
    return this.#tokens;
  }

  #refill(): void {
    const nowMs = this.#now();
    const elapsedMs = nowMs - this.#updatedAtMs;
    // A clock that went backwards refills nothing (and is not credited later either).
    if (elapsedMs > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsedMs / 1000) * this.ratePerS);
    }
    this.#updatedAtMs = nowMs;
  }
}
