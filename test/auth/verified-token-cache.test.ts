import { describe, expect, it } from 'vitest';
import { VerifiedTokenCache } from '../../src/auth/verified-token-cache.js';

const NOW = 1_800_000_000;
const verified = (exp: number, nbf?: number) => ({
  issuer: 'https://issuer.example',
  claims: { sub: 'alice', exp, ...(nbf === undefined ? {} : { nbf }) },
});

describe('VerifiedTokenCache', () => {
  it('serves a verified token again under the same requirements only', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxTtlS: 300 });
    cache.set('token-a', 'aud-1', verified(NOW + 600), 30, NOW);
    expect(cache.get('token-a', 'aud-1', NOW + 1)?.claims.sub).toBe('alice');
    expect(cache.get('token-a', 'aud-2', NOW + 1)).toBeUndefined();
    expect(cache.get('token-b', 'aud-1', NOW + 1)).toBeUndefined();
    expect(cache.hits).toBe(1);
  });

  it('never serves a token after its exp (plus the allowed skew)', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxTtlS: 3600 });
    cache.set('token', 'r', verified(NOW + 60), 30, NOW);
    expect(cache.get('token', 'r', NOW + 89)).toBeDefined();
    expect(cache.get('token', 'r', NOW + 91)).toBeUndefined();
  });

  it('never serves a token before its nbf (minus the skew)', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxTtlS: 3600 });
    cache.set('token', 'r', verified(NOW + 600, NOW + 100), 30, NOW + 80);
    expect(cache.get('token', 'r', NOW + 60)).toBeUndefined();
  });

  it('never serves a token past iat + maxTokenAgeS (notAfterS), even with a later exp', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxTtlS: 3600 });
    cache.set('token', 'r', { ...verified(NOW + 3000), notAfterS: NOW + 60 }, 30, NOW);
    expect(cache.get('token', 'r', NOW + 89)).toBeDefined();
    expect(cache.get('token', 'r', NOW + 91)).toBeUndefined();
    // And a verdict already past it is never stored.
    cache.set('late', 'r', { ...verified(NOW + 3000), notAfterS: NOW - 31 }, 30, NOW);
    expect(cache.get('late', 'r', NOW)).toBeUndefined();
  });

  it('does not cache an already expired token, and is off with maxEntries 0', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxTtlS: 300 });
    cache.set('old', 'r', verified(NOW - 100), 30, NOW);
    expect(cache.get('old', 'r', NOW)).toBeUndefined();
    const off = new VerifiedTokenCache({ maxEntries: 0, maxTtlS: 300 });
    off.set('token', 'r', verified(NOW + 600), 30, NOW);
    expect(off.get('token', 'r', NOW)).toBeUndefined();
  });
});
