import { describe, expect, it } from 'vitest';
import { opaBackoffMs, pollDelayMs } from '../../src/net/backoff.js';

describe('pollDelayMs', () => {
  it('spans [min, max] seconds', () => {
    expect(pollDelayMs(60, 120, () => 0)).toBe(60_000);
    expect(pollDelayMs(60, 120, () => 0.5)).toBe(90_000);
    expect(pollDelayMs(60, 120, () => 0.999999)).toBe(120_000);
  });
});

describe('opaBackoffMs', () => {
  it('grows 1.6x per failure without jitter, capped at the maximum', () => {
    const noJitter = (): number => 0.5;
    expect([1, 2, 3, 4, 5, 10].map((n) => opaBackoffMs(n, 1000, 5000, noJitter))).toEqual([
      1000, 1600, 2560, 4096, 5000, 5000,
    ]);
  });

  it('jitters by ±20 % and never exceeds the maximum', () => {
    expect(opaBackoffMs(2, 1000, 60_000, () => 0)).toBe(1280);
    expect(opaBackoffMs(2, 1000, 60_000, () => 1)).toBe(1920);
    expect(opaBackoffMs(20, 1000, 60_000, () => 1)).toBe(60_000);
    expect(opaBackoffMs(20, 1000, 60_000, () => 0)).toBe(48_000);
  });
});
