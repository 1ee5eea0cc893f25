/**
 * When to try again. Exported pure functions, so the schedule is tested without clocks.
 * `random` is a value in [0, 1).
 */

/**
 * The next scheduled refresh after a success: the interval, shortened by up to 10 % so a
 * fleet of sidecars started together does not hit the provider in the same second.
 */
export function refreshDelayMs(intervalS: number, random: number): number {
  return Math.round(intervalS * 1000 * (1 - 0.1 * random));
}

/**
 * The next attempt after `failures` consecutive failures (1 or more): exponential from
 * `baseS`, capped at the refresh interval (failing must never make Gatehouse wait longer
 * than succeeding does), with "equal jitter": half the step fixed, half random. The fixed
 * half keeps the delay growing from one failure to the next; the random half spreads retries.
 */
export function backoffDelayMs(
  failures: number,
  baseS: number,
  intervalS: number,
  random: number,
): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const stepMs = Math.min(baseS * 1000 * 2 ** exponent, intervalS * 1000);
  return Math.round(stepMs / 2 + (stepMs / 2) * random);
}
