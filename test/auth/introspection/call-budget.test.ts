import { describe, expect, it } from 'vitest';
import { CallBudget } from '../../../src/auth/introspection/call-budget.js';

// The token bucket behind issuers[].introspection.maxCallsPerS, on a clock the test moves.

function budget(ratePerS: number, burst: number) {
  let nowMs = 1_000;
  const bucket = new CallBudget({ ratePerS, burst, now: () => nowMs });
  return {
    bucket,
    advance(ms: number) {
      nowMs += ms;
    },
    takeAll(): number {
      let taken = 0;
      while (bucket.tryTake()) taken++;
      return taken;
    },
  };
}

describe('CallBudget', () => {
  it('a burst of calls gets exactly the burst at once, then nothing', () => {
    const b = budget(5, 3);
    expect(b.takeAll()).toBe(3);
    expect(b.bucket.tryTake()).toBe(false);
  });

  it('refills at ratePerS: a flood over ten seconds gets burst + 10 x rate calls', () => {
    const b = budget(5, 3);
    let taken = b.takeAll();
    for (let step = 0; step < 100; step++) {
      b.advance(100);
      taken += b.takeAll();
    }
    expect(taken).toBe(3 + 50);
  });

  it('a long quiet spell refills no more than the burst', () => {
    const b = budget(5, 3);
    b.takeAll();
    b.advance(60_000);
    expect(b.takeAll()).toBe(3);
  });

  it('a clock that goes backwards refills nothing', () => {
    const b = budget(5, 3);
    b.takeAll();
    b.advance(-10_000);
    expect(b.bucket.tryTake()).toBe(false);
    b.advance(199);
    expect(b.bucket.tryTake()).toBe(false);
    b.advance(1);
    expect(b.bucket.tryTake()).toBe(true);
  });

  it.each([
    [0, 1],
    [Number.NaN, 1],
    [1, 0],
  ])('refuses ratePerS %s with burst %s', (ratePerS, burst) => {
    expect(() => new CallBudget({ ratePerS, burst })).toThrow(TypeError);
  });
});
