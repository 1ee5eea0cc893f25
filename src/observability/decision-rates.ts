/**
 * Decisions per outcome over the last minutes, in fixed time buckets, for the status page's
 * chart. Memory is fixed (bucket count x 2 numbers); old buckets are reused in place.
 */
export interface RateBucket {
  /** Bucket start, Unix milliseconds. */
  readonly startMs: number;
  readonly allowed: number;
  readonly denied: number;
}

export class DecisionRates {
  private readonly starts: number[];
  private readonly allowed: number[];
  private readonly denied: number[];

  constructor(
    readonly bucketMs = 10_000,
    readonly bucketCount = 30,
    private readonly now: () => number = Date.now,
  ) {
    this.starts = new Array<number>(bucketCount).fill(-1);
    this.allowed = new Array<number>(bucketCount).fill(0);
    this.denied = new Array<number>(bucketCount).fill(0);
  }

  count(allowed: boolean): void {
    const index = this.slot(this.now());
    if (allowed) this.allowed[index] = (this.allowed[index] ?? 0) + 1;
    else this.denied[index] = (this.denied[index] ?? 0) + 1;
  }

  /** The last `bucketCount` buckets, oldest first, the current (partial) one last. */
  recent(): RateBucket[] {
    const nowStart = Math.floor(this.now() / this.bucketMs) * this.bucketMs;
    const result: RateBucket[] = [];
    for (let back = this.bucketCount - 1; back >= 0; back--) {
      const startMs = nowStart - back * this.bucketMs;
      const index = (startMs / this.bucketMs) % this.bucketCount;
      const current = this.starts[index] === startMs;
      result.push({
        startMs,
        allowed: current ? (this.allowed[index] ?? 0) : 0,
        denied: current ? (this.denied[index] ?? 0) : 0,
      });
    }
    return result;
  }

  private slot(nowMs: number): number {
    const startMs = Math.floor(nowMs / this.bucketMs) * this.bucketMs;
    const index = (startMs / this.bucketMs) % this.bucketCount;
    if (this.starts[index] !== startMs) {
      this.starts[index] = startMs;
      this.allowed[index] = 0;
      this.denied[index] = 0;
    }
    return index;
  }
}
