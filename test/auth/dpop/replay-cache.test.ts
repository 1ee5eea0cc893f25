import { describe, expect, it } from 'vitest';
import {
  DEFAULT_IAT_WINDOW_S,
  DEFAULT_REPLAY_MAX_ENTRIES,
  DpopReplayCache,
} from '../../../src/auth/dpop/replay-cache.js';

const JKT_A = 'A'.repeat(43);
const JKT_B = 'B'.repeat(43);

/** A monotonic clock the test moves by hand, in milliseconds. */
function manualClock(startMs = 1_000_000): { now(): number; advanceS(seconds: number): void } {
  let ms = startMs;
  return {
    now: () => ms,
    advanceS: (seconds) => {
      ms += seconds * 1000;
    },
  };
}

describe('DpopReplayCache (RFC 9449 section 11.1)', () => {
  it('replayed jti: the second sighting is reported', () => {
    const cache = new DpopReplayCache();
    expect(cache.seen('jti-1', JKT_A)).toBe(false);
    expect(cache.seen('jti-1', JKT_A)).toBe(true);
    expect(cache.seen('jti-1', JKT_A)).toBe(true);
  });

  it('the same jti under another key is not a replay: one client cannot burn another jti', () => {
    const cache = new DpopReplayCache();
    expect(cache.seen('jti-1', JKT_A)).toBe(false);
    expect(cache.seen('jti-1', JKT_B)).toBe(false);
  });

  it('keys cannot collide through the separator', () => {
    const cache = new DpopReplayCache();
    expect(cache.seen(`x:${JKT_B}`, JKT_A)).toBe(false);
    expect(cache.seen(`${JKT_A}:x`, JKT_B)).toBe(false);
  });

  it('remembers a jti for twice the iat window, then forgets it', () => {
    const clock = manualClock();
    const cache = new DpopReplayCache({ iatWindowS: 60, clock });
    expect(cache.seen('jti-1', JKT_A)).toBe(false);
    clock.advanceS(119);
    expect(cache.seen('jti-1', JKT_A)).toBe(true);
    clock.advanceS(2);
    // By now the proof's iat is outside the window: the verifier rejects it anyway.
    expect(cache.seen('jti-1', JKT_A)).toBe(false);
  });

  it('a replay does not extend the entry', () => {
    const clock = manualClock();
    const cache = new DpopReplayCache({ iatWindowS: 10, clock });
    cache.seen('jti-1', JKT_A);
    clock.advanceS(15);
    expect(cache.seen('jti-1', JKT_A)).toBe(true);
    clock.advanceS(6);
    expect(cache.seen('jti-1', JKT_A)).toBe(false);
  });

  it('is bounded, and counts entries pushed out while still live', () => {
    const clock = manualClock();
    const cache = new DpopReplayCache({ iatWindowS: 60, maxEntries: 3, clock });
    for (const jti of ['1', '2', '3', '4']) expect(cache.seen(jti, JKT_A)).toBe(false);
    expect(cache.size).toBe(3);
    expect(cache.liveEvictions).toBe(1);
    // The oldest is gone: that is the documented cost of the bound.
    expect(cache.seen('1', JKT_A)).toBe(false);
    expect(cache.seen('4', JKT_A)).toBe(true);
  });

  it('does not count expired entries pushed out as live evictions', () => {
    const clock = manualClock();
    const cache = new DpopReplayCache({ iatWindowS: 1, maxEntries: 1, clock });
    cache.seen('1', JKT_A);
    clock.advanceS(5);
    cache.seen('2', JKT_A);
    expect(cache.liveEvictions).toBe(0);
  });

  it('has documented defaults', () => {
    const cache = new DpopReplayCache();
    expect(cache.iatWindowS).toBe(DEFAULT_IAT_WINDOW_S);
    expect(cache.maxEntries).toBe(DEFAULT_REPLAY_MAX_ENTRIES);
  });

  it.each([
    [{ iatWindowS: 0 }, /iatWindowS/],
    [{ iatWindowS: Number.NaN }, /iatWindowS/],
    [{ maxEntries: 0 }, /maxEntries/],
    [{ maxEntries: 2.5 }, /maxEntries/],
  ])('refuses %o', (options, message) => {
    expect(() => new DpopReplayCache(options)).toThrow(message);
  });
});
