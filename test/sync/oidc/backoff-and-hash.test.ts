import { describe, expect, it } from 'vitest';
import { equalJitterBackoffMs, refreshDelayMs } from '../../../src/net/backoff.js';
import { hashJwks } from '../../../src/sync/oidc/jwks-hash.js';

describe('equalJitterBackoffMs (equal jitter, capped at the refresh interval)', () => {
  it.each([
    // failures, base s, interval s, random, expected ms
    [1, 1, 300, 0, 500],
    [1, 1, 300, 0.999_999, 1000],
    [2, 1, 300, 0, 1000],
    [5, 1, 300, 0.5, 12_000],
    [9, 1, 300, 0, 128_000],
    [10, 1, 300, 0, 150_000],
    [10, 1, 300, 0.999_999, 300_000],
    [1_000, 1, 300, 0.5, 225_000],
    [0, 2, 300, 0, 1000],
  ])('failure %i, base %d s, interval %d s, random %d -> %i ms', (...args) => {
    const [failures, baseS, intervalS, random, expected] = args;
    expect(equalJitterBackoffMs(failures, baseS, intervalS, random)).toBe(expected);
  });

  it('never shrinks from one failure to the next before the cap, whatever the jitter', () => {
    for (let failures = 1; failures < 8; failures += 1) {
      expect(equalJitterBackoffMs(failures + 1, 1, 300, 0)).toBeGreaterThanOrEqual(
        equalJitterBackoffMs(failures, 1, 300, 0.999_999),
      );
    }
  });
});

describe('refreshDelayMs', () => {
  it('is the interval, up to 10 % earlier', () => {
    expect(refreshDelayMs(300, 0)).toBe(300_000);
    expect(refreshDelayMs(300, 0.999_999)).toBe(270_000);
  });
});

describe('hashJwks', () => {
  const a = { kty: 'RSA', kid: 'a', n: 'abc', e: 'AQAB' };
  const b = { kty: 'EC', kid: 'b', crv: 'P-256', x: 'x', y: 'y' };

  it('ignores member order and key order', () => {
    expect(hashJwks({ keys: [a, b] })).toBe(
      hashJwks({ keys: [{ ...b }, { e: 'AQAB', n: 'abc', kid: 'a', kty: 'RSA' }] }),
    );
  });

  it.each([
    ['a removed key', { keys: [a] }],
    ['a changed modulus', { keys: [{ ...a, n: 'abd' }, b] }],
    ['a renamed kid', { keys: [{ ...a, kid: 'c' }, b] }],
  ])('changes with %s', (_name, other) => {
    expect(hashJwks(other)).not.toBe(hashJwks({ keys: [a, b] }));
  });
});
