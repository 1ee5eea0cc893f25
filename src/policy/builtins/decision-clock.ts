/**
 * The time a policy sees. OPA evaluates `time.now_ns()` once per query, so every call in
 * one evaluation returns the same instant; Gatehouse extends that to one decision (every
 * policy level of a check sees the same `now`). Outside a decision it reads the clock.
 */
export class DecisionClock {
  private frozenNs: bigint | undefined;

  /** Runs `evaluate` with `now` fixed at `nowNs` (nanoseconds since the Unix epoch). */
  during<T>(nowNs: bigint, evaluate: () => T): T {
    const previous = this.frozenNs;
    this.frozenNs = nowNs;
    try {
      return evaluate();
    } finally {
      this.frozenNs = previous;
    }
  }

  /** Exact nanoseconds, for `time.now_ns` (beyond 2^53, so kept as a bigint). */
  nowNsExact(): bigint {
    return this.frozenNs ?? currentTimeNs();
  }

  /** Nanoseconds as a number, for comparisons with second-resolution claims. */
  nowNs(): number {
    return Number(this.nowNsExact());
  }
}

export function currentTimeNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
