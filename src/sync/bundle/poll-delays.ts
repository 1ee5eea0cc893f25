/**
 * The delay before the next regular poll: uniform between the minimum and the maximum, so
 * that a fleet of sidecars started together does not poll the server in lockstep (OPA's
 * polling.min_delay_seconds / max_delay_seconds, download/download.go).
 */
export function pollDelayMs(minDelayS: number, maxDelayS: number, random: () => number): number {
  return Math.round((minDelayS + (maxDelayS - minDelayS) * random()) * 1000);
}

/** Growth per consecutive failure and the ± jitter fraction, as OPA's util.DefaultBackoff (gRPC's). */
const BACKOFF_FACTOR = 1.6;
const BACKOFF_JITTER = 0.2;

/**
 * The delay after the `failures`-th failure in a row (1 for the first): base × 1.6^(n−1),
 * capped at `maxMs`, then ±20 % jitter, never above `maxMs`. Exponential so a server that
 * is down is not hammered; capped so recovery is noticed within one maximum poll delay.
 */
export function backoffDelayMs(
  failures: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
): number {
  const exponent = Math.max(0, failures - 1);
  const raw = Math.min(maxMs, baseMs * BACKOFF_FACTOR ** exponent);
  const jittered = raw * (1 + BACKOFF_JITTER * (2 * random() - 1));
  return Math.round(Math.min(maxMs, jittered));
}
