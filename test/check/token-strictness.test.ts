import fc from 'fast-check';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Decision } from '../../src/decision/decision.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { TEST_AUDIENCE } from '../helpers/token-factory.js';
import { bearer, checkInput } from './check-input-factory.js';

// The real pipeline (route, authenticate with the snapshot's verified-token cache, opa-compiled
// fixture policies), fed tampered spellings of tokens it has already verified and cached.

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const MAX_TOKEN_AGE_S = 600;
const SKEW_S = 30; // tokens.clockSkewS default
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

let t: TestGatehouse;

beforeAll(async () => {
  t = await startTestGatehouse({
    config: { grpc: { enabled: false }, http: { enabled: false } },
    issuer: {
      algorithms: ['RS256', 'HS256'],
      hmacSecretEnv: 'GH_TEST_SECRET',
      maxTokenAgeS: MAX_TOKEN_AGE_S,
    },
    env: { GH_TEST_SECRET: SECRET },
  });
});
afterAll(async () => {
  await t.close();
});
afterEach(() => {
  vi.useRealTimers();
});

function check(token: string): Promise<Decision> {
  return t.gatehouse.pipeline.check(checkInput({ headers: bearer(token) }));
}

function cacheHits(): number {
  const snapshot = t.gatehouse.store.current();
  return snapshot === undefined ? -1 : t.gatehouse.pipeline.tokenCacheFor(snapshot).hits;
}

/** A verified, cached token: allowed once by verification, then once from the cache. */
async function warm(token: string): Promise<void> {
  expect((await check(token)).allowed).toBe(true);
  const hits = cacheHits();
  expect((await check(token)).allowed).toBe(true);
  expect(cacheHits()).toBe(hits + 1);
}

async function hs256(claims: Readonly<Record<string, unknown>> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: t.issuer.issuer,
    aud: TEST_AUDIENCE,
    sub: 'alice',
    roles: ['reader'],
    scope: 'orders:read',
    iat: now,
    exp: now + 600,
    ...claims,
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
    .sign(new TextEncoder().encode(SECRET));
}

function replaceAt(token: string, index: number, char: string): string {
  return `${token.slice(0, index)}${char}${token.slice(index + 1)}`;
}

/** Every non-zero setting of the unused bits in the last character (RFC 4648 section 3.5). */
function trailingBitVariants(segment: string): string[] {
  const rest = segment.length % 4;
  if (rest === 0) return [];
  const unused = rest === 2 ? 0b1111 : 0b11;
  const value = BASE64URL.indexOf(segment.charAt(segment.length - 1));
  const variants: string[] = [];
  for (let bits = 1; bits <= unused; bits++) {
    variants.push(
      replaceAt(segment, segment.length - 1, BASE64URL.charAt((value & ~unused) | bits)),
    );
  }
  return variants;
}

function expectRefused(decision: Decision, what: string): void {
  if (decision.allowed) throw new Error(`allowed: ${what}`);
  // A broken header value is a malformed request (400), anything else an invalid token (401).
  expect([400, 401], what).toContain(decision.status);
}

describe('tampered spellings of a cached token, through the real pipeline', () => {
  it('any single-byte change of a valid token is refused with its original cached: every position, and every byte at the last character of each part', async () => {
    // The full positions x bytes sweep runs against verifyJwt (test/auth/jwt-verifier.test.ts);
    // here every position gets fast-check's bytes, and each part's last character, where
    // the unused bits are, gets all 255 others.
    const token = await hs256();
    await warm(token);
    const partEnds = [token.indexOf('.') - 1, token.lastIndexOf('.') - 1, token.length - 1];
    for (const index of partEnds) {
      for (let byte = 0; byte < 256; byte++) {
        const char = String.fromCharCode(byte);
        if (char === token[index]) continue;
        expectRefused(await check(replaceAt(token, index, char)), `byte ${byte} at ${index}`);
      }
    }
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: 255 }), { minLength: token.length, maxLength: token.length }),
        async (bytes) => {
          for (const [index, byte] of bytes.entries()) {
            const char = String.fromCharCode(byte);
            if (char === token[index]) continue;
            expectRefused(await check(replaceAt(token, index, char)), `byte ${byte} at ${index}`);
          }
        },
      ),
      { numRuns: 4 },
    );
    // The original is still good, and still from the cache.
    const hits = cacheHits();
    expect((await check(token)).allowed).toBe(true);
    expect(cacheHits()).toBe(hits + 1);
  });

  it('any single-byte change of a cached RS256 token is refused (property)', async () => {
    const token = await t.issuer.sign();
    await warm(token);
    const last = token.length - 1;
    const signatureStart = token.lastIndexOf('.') + 1;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.nat({ max: last }),
          fc.integer({ min: signatureStart, max: last }),
          fc.constant(last),
        ),
        fc.oneof(
          fc.nat({ max: 255 }),
          fc.constantFrom(...BASE64URL.split('').map((c) => c.charCodeAt(0))),
        ),
        async (index, byte) => {
          const char = String.fromCharCode(byte);
          fc.pre(char !== token[index]);
          expectRefused(await check(replaceAt(token, index, char)), `byte ${byte} at ${index}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('re-encoded signature with non-zero trailing bits is refused, though the original is cached', async () => {
    for (const token of [await t.issuer.sign(), await hs256()]) {
      await warm(token);
      const [h = '', p = '', s = ''] = token.split('.');
      const variants = trailingBitVariants(s);
      expect(variants.length).toBeGreaterThan(0);
      for (const variant of variants) {
        expect(Buffer.from(variant, 'base64url')).toEqual(Buffer.from(s, 'base64url'));
        const hits = cacheHits();
        const decision = await check(`${h}.${p}.${variant}`);
        expect(decision).toMatchObject({
          allowed: false,
          code: 'GH_ERR_TOKEN_MALFORMED',
          status: 401,
        });
        // Never a cache answer: a different spelling is a different key.
        expect(cacheHits()).toBe(hits);
      }
    }
  });

  it('non-canonical re-encodings of each part are refused, though the original is cached (property)', async () => {
    // Subjects of three lengths, so that the payload ends in every kind of last quantum.
    const tokens = [
      ...(await Promise.all(['a', 'ab', 'abc'].map((sub) => t.issuer.sign({ sub })))),
      await hs256(),
    ];
    for (const token of tokens) await warm(token);
    const respell = fc.constantFrom<(segment: string) => string[]>(
      (segment) => [`${segment}=`, `${segment}==`],
      (segment) =>
        /[-_]/.test(segment) ? [segment.replaceAll('-', '+').replaceAll('_', '/')] : [],
      trailingBitVariants,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...tokens),
        fc.nat({ max: 2 }),
        respell,
        async (token, part, how) => {
          const parts = token.split('.');
          const original = parts[part] ?? '';
          for (const variant of how(original)) {
            expect(Buffer.from(variant, 'base64')).toEqual(Buffer.from(original, 'base64url'));
            parts[part] = variant;
            const respelled = parts.join('.');
            // RFC 6750 b64token allows "=" only at the end: padding inside the header value
            // is a malformed request; anything else reaches the verifier.
            const expected = B64TOKEN.test(respelled)
              ? { code: 'GH_ERR_TOKEN_MALFORMED', status: 401 }
              : { code: 'GH_ERR_INVALID_REQUEST', status: 400 };
            expect(await check(respelled)).toMatchObject({ allowed: false, ...expected });
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('maxTokenAgeS and the verified-token cache', () => {
  it('token older than maxTokenAgeS is refused even while its verdict is cached', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const nowS = Math.floor(start / 1000);
    // 10 s of age left (plus the skew); exp is an hour away.
    const token = await hs256({ iat: nowS - MAX_TOKEN_AGE_S + 10, exp: nowS + 3600 });
    await warm(token);
    vi.setSystemTime(start + (10 + SKEW_S + 2) * 1000);
    expect(await check(token)).toMatchObject({
      allowed: false,
      code: 'GH_ERR_TOKEN_EXPIRED',
      status: 401,
      reason: expect.stringContaining('maxTokenAgeS') as unknown,
    });
  });

  it('iat in the future beyond skew is refused; within the skew it is accepted', async () => {
    const nowS = Math.floor(Date.now() / 1000);
    expect(await check(await hs256({ iat: nowS + SKEW_S + 60 }))).toMatchObject({
      allowed: false,
      code: 'GH_ERR_TOKEN_NOT_YET_VALID',
      status: 401,
    });
    expect((await check(await hs256({ iat: nowS + 5 }))).allowed).toBe(true);
  });

  it('a token without iat is refused where the issuer sets maxTokenAgeS', async () => {
    expect(await check(await hs256({ iat: undefined }))).toMatchObject({
      allowed: false,
      code: 'GH_ERR_TOKEN_CLAIMS',
      status: 401,
    });
  });
});
