/**
 * When to try again: every schedule of Gatehouse's outbound requests, as pure functions so
 * they are tested without clocks. Two backoff formulas on purpose, each named for its
 * origin: the key sync's equal jitter capped at its refresh interval, and OPA's downloader
 * backoff for policy sources (so a bundle server sees what OPA would send it).
 */

/**
 * The next scheduled refresh after a success: the interval, shortened by up to 10 % so a
 * fleet of sidecars started together does not hit the provider in the same second.
 */
export function refreshDelayMs(intervalS: number, /** in [0, 1) */ random: number): number {
  return Math.round(intervalS * 1000 * (1 - 0.1 * random));
}

/**
 * The next attempt after `failures` consecutive failures (1 or more): exponential from
 * `baseS`, capped at the refresh interval (failing must never make Gatehouse wait longer
 * than succeeding does), with "equal jitter": half the step fixed, half random. The fixed
 * half keeps the delay growing from one failure to the next; the random half spreads retries.
 */
export function equalJitterBackoffMs(
  failures: number,
  baseS: number,
  intervalS: number,
  random: number,
): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const stepMs = Math.min(baseS * 1000 * 2 ** exponent, intervalS * 1000);
  return Math.round(stepMs / 2 + (stepMs / 2) * random);
}

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
export function opaBackoffMs(
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
