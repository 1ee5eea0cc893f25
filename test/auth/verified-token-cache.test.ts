import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { MAX_REQUIREMENT_SETS, VerifiedTokenCache } from '../../src/auth/verified-token-cache.js';

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

  it('a flood of 50,000 distinct tokens keeps at most maxEntries, and the newest', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 1000, maxTtlS: 300 });
    for (let index = 0; index < 50_000; index++) {
      cache.set(`flood-token-${index}`, 'r', verified(NOW + 600), 30, NOW);
    }
    expect(cache.size).toBe(1000);
    expect(cache.get('flood-token-49999', 'r', NOW)).toBeDefined();
    expect(cache.get('flood-token-0', 'r', NOW)).toBeUndefined();
  });

  it('one token presented to many APIs keeps at most MAX_REQUIREMENT_SETS verdicts, each only for its own requirements', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxTtlS: 300 });
    for (let api = 0; api < 50; api++) {
      cache.set('token', `aud-${api}`, verified(NOW + 600), 30, NOW);
    }
    expect(cache.size).toBe(1);
    const served = Array.from({ length: 50 }, (_, api) => cache.get('token', `aud-${api}`, NOW));
    expect(served.filter((one) => one !== undefined)).toHaveLength(MAX_REQUIREMENT_SETS);
    expect(served.at(-1)).toBeDefined();
    expect(cache.get('token', 'aud-50', NOW)).toBeUndefined();
  });

  it('a verdict ends at its own maxTtlS though another API verified the same token later', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxTtlS: 100 });
    cache.set('token', 'aud-1', verified(NOW + 3600), 30, NOW);
    cache.set('token', 'aud-2', verified(NOW + 3600), 30, NOW + 90);
    expect(cache.get('token', 'aud-1', NOW + 99)).toBeDefined();
    expect(cache.get('token', 'aud-1', NOW + 101)).toBeUndefined();
    expect(cache.get('token', 'aud-2', NOW + 101)).toBeDefined();
  });

  it('a token too long for V8 to hash whole is keyed by its SHA-256, which no short token can spell', () => {
    const cache = new VerifiedTokenCache({ maxEntries: 10, maxTtlS: 300 });
    const long = `${'a'.repeat(20_000)}.b.c`;
    cache.set(long, 'r', verified(NOW + 600), 30, NOW);
    expect(cache.get(long, 'r', NOW)).toBeDefined();
    // Same length, one character different: a different token.
    expect(cache.get(`${'a'.repeat(19_999)}x.b.c`, 'r', NOW)).toBeUndefined();
    const digest = createHash('sha256').update(long).digest('base64url');
    expect(cache.get(digest, 'r', NOW)).toBeUndefined();
  });
});
