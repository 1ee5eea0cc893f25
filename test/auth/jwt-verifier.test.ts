import { tmpdir } from 'node:os';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIssuerKeys, type IssuerKeys } from '../../src/auth/issuer-keys.js';
import { verifyJwt, type VerifyRequirements } from '../../src/auth/jwt-verifier.js';
import { parseConfig } from '../../src/config/load-config.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/token-factory.js';

// verifyJwt itself, against a real issuer configuration: the strict compact JWS reading
// (RFC 7515 section 2 and appendix C), iat (RFC 7519 section 4.1.6, RFC 9068 section 4) and
// maxTokenAgeS. Tokens are signed for real (RS256 with the test issuer, HS256 with a secret)
// and then tampered with the way an attacker would.

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const NOW = Math.floor(Date.now() / 1000);
const SKEW_S = 30;

let rsa: TestIssuer;

function issuersWith(
  extra: Record<string, unknown> = {},
  issuer: TestIssuer = rsa,
): ReadonlyMap<string, IssuerKeys> {
  const config = parseConfig(
    {
      issuers: [
        {
          issuer: issuer.issuer,
          audiences: [TEST_AUDIENCE],
          algorithms: ['RS256', 'HS256'],
          hmacSecretEnv: 'GH_TEST_SECRET',
          ...extra,
        },
      ],
    },
    tmpdir(),
    { GH_TEST_SECRET: SECRET },
  ).issuers[0];
  if (config === undefined) throw new Error('unreachable');
  return new Map([[issuer.issuer, buildIssuerKeys(config, issuer.jwks, SECRET)]]);
}

const REQUIREMENTS: VerifyRequirements = {
  issuers: undefined,
  audiences: undefined,
  maxTokenBytes: 8192,
  defaultClockSkewS: SKEW_S,
  nowS: NOW,
};

/** An HS256 token; a claim set to undefined is left out (JSON has no undefined). */
async function hs256(claims: Readonly<Record<string, unknown>> = {}): Promise<string> {
  return new SignJWT({
    iss: rsa.issuer,
    aud: TEST_AUDIENCE,
    sub: 'alice',
    iat: NOW,
    exp: NOW + 600,
    ...claims,
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
    .sign(new TextEncoder().encode(SECRET));
}

/** `token` with the character at `index` replaced by `char`. */
function replaceAt(token: string, index: number, char: string): string {
  return `${token.slice(0, index)}${char}${token.slice(index + 1)}`;
}

/** The other spellings a lenient base64url decoder reads as the same octets. */
function respellings(segment: string): string[] {
  const variants = [`${segment}=`, `${segment}==`];
  if (/[-_]/.test(segment)) variants.push(segment.replaceAll('-', '+').replaceAll('_', '/'));
  const rest = segment.length % 4;
  if (rest !== 0) {
    // Set each combination of the last character's unused bits (RFC 4648 section 3.5).
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const value = alphabet.indexOf(segment.charAt(segment.length - 1));
    const unused = rest === 2 ? 0b1111 : 0b11;
    for (let bits = 1; bits <= unused; bits++) {
      variants.push(
        replaceAt(segment, segment.length - 1, alphabet.charAt((value & ~unused) | bits)),
      );
    }
  }
  return variants;
}

beforeAll(async () => {
  rsa = await createTestIssuer();
});

describe('verifyJwt accepts', () => {
  it('a canonically encoded RS256 and HS256 token', async () => {
    const issuers = issuersWith();
    for (const token of [await rsa.sign({ iat: NOW, exp: NOW + 600 }), await hs256()]) {
      expect(await verifyJwt(token, issuers, REQUIREMENTS)).toMatchObject({ ok: true });
    }
  });

  it('iat up to the clock skew ahead, and no iat at all without maxTokenAgeS', async () => {
    const issuers = issuersWith();
    expect(
      await verifyJwt(await hs256({ iat: NOW + SKEW_S }), issuers, REQUIREMENTS),
    ).toMatchObject({
      ok: true,
    });
    expect(await verifyJwt(await hs256({ iat: undefined }), issuers, REQUIREMENTS)).toMatchObject({
      ok: true,
    });
  });
});

describe('verifyJwt refuses non-canonical spellings (RFC 7515 appendix C)', () => {
  it('re-encoded signature with non-zero trailing bits is refused', async () => {
    const issuers = issuersWith();
    // RS256: 256 octets are 342 characters, so the last one has 4 unused bits.
    const token = await rsa.sign({ iat: NOW, exp: NOW + 600 });
    const [h = '', p = '', s = ''] = token.split('.');
    expect(s.length % 4).toBe(2);
    for (const variant of respellings(s).slice(-15)) {
      expect(Buffer.from(variant, 'base64url')).toEqual(Buffer.from(s, 'base64url'));
      expect(await verifyJwt(`${h}.${p}.${variant}`, issuers, REQUIREMENTS)).toMatchObject({
        ok: false,
        code: 'GH_ERR_TOKEN_MALFORMED',
        reason: expect.stringMatching(/^signature: .*unused bits/) as unknown,
      });
    }
  });

  it('non-canonical re-encodings of each part are refused (property)', async () => {
    const issuers = issuersWith();
    // Claims of every length mod 3, so that every kind of last quantum is covered.
    const tokens = await Promise.all(
      ['a', 'ab', 'abc'].map((sub) => rsa.sign({ sub, iat: NOW, exp: NOW + 600 })),
    );
    tokens.push(await hs256(), await hs256({ sub: 'bob' }));
    const cases = tokens.flatMap((token) =>
      token.split('.').flatMap((segment, part) =>
        respellings(segment).map((variant) => {
          const parts = token.split('.');
          parts[part] = variant;
          return { original: segment, variant, token: parts.join('.') };
        }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...cases), async ({ original, variant, token }) => {
        // The same octets to a lenient decoder: a re-encoding, not another token.
        expect(Buffer.from(variant, 'base64')).toEqual(Buffer.from(original, 'base64url'));
        const result = await verifyJwt(token, issuers, REQUIREMENTS);
        expect(result).toMatchObject({ ok: false, code: 'GH_ERR_TOKEN_MALFORMED' });
      }),
      { numRuns: cases.length * 3 },
    );
  });

  it('any single-byte change of a valid token is refused: every position, every byte', async () => {
    // HS256 keeps the exhaustive sweep cheap; the RSA sweep below samples the same space.
    const issuers = issuersWith();
    const token = await hs256();
    expect(await verifyJwt(token, issuers, REQUIREMENTS)).toMatchObject({ ok: true });
    let tried = 0;
    for (let index = 0; index < token.length; index++) {
      for (let byte = 0; byte < 256; byte++) {
        const char = String.fromCharCode(byte);
        if (char === token[index]) continue;
        const result = await verifyJwt(replaceAt(token, index, char), issuers, REQUIREMENTS);
        if (result.ok) throw new Error(`accepted with byte ${byte} at ${index}`);
        tried++;
      }
    }
    expect(tried).toBe(token.length * 255);
  });

  it('any single-byte change of an RS256 token is refused (property)', async () => {
    const issuers = issuersWith();
    const token = await rsa.sign({ iat: NOW, exp: NOW + 600 });
    const last = token.length - 1;
    await fc.assert(
      fc.asyncProperty(
        // Anywhere, and extra weight on the signature's last character and on replacements
        // that keep the token base64url.
        fc.oneof(fc.nat({ max: last }), fc.constant(last)),
        fc.oneof(
          fc.nat({ max: 255 }),
          fc.constantFrom(
            ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
              .split('')
              .map((c) => c.charCodeAt(0)),
          ),
        ),
        async (index, byte) => {
          const char = String.fromCharCode(byte);
          fc.pre(char !== token[index]);
          const result = await verifyJwt(replaceAt(token, index, char), issuers, REQUIREMENTS);
          expect(result.ok).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('verifyJwt checks iat', () => {
  it('iat in the future beyond skew', async () => {
    const result = await verifyJwt(
      await hs256({ iat: NOW + SKEW_S + 1 }),
      issuersWith(),
      REQUIREMENTS,
    );
    expect(result).toMatchObject({ ok: false, code: 'GH_ERR_TOKEN_NOT_YET_VALID' });
  });

  it('iat in the future beyond the issuer own clockSkewS', async () => {
    const issuers = issuersWith({ clockSkewS: 5 });
    expect(await verifyJwt(await hs256({ iat: NOW + 5 }), issuers, REQUIREMENTS)).toMatchObject({
      ok: true,
    });
    expect(await verifyJwt(await hs256({ iat: NOW + 6 }), issuers, REQUIREMENTS)).toMatchObject({
      ok: false,
      code: 'GH_ERR_TOKEN_NOT_YET_VALID',
    });
  });

  it('token older than maxTokenAgeS', async () => {
    const issuers = issuersWith({ maxTokenAgeS: 300 });
    const old = await hs256({ iat: NOW - 300 - SKEW_S - 1, exp: NOW + 600 });
    expect(await verifyJwt(old, issuers, REQUIREMENTS)).toMatchObject({
      ok: false,
      code: 'GH_ERR_TOKEN_EXPIRED',
      reason: expect.stringContaining('maxTokenAgeS') as unknown,
    });
    // The same token is fine where the issuer sets no age limit: exp alone decides.
    expect(await verifyJwt(old, issuersWith(), REQUIREMENTS)).toMatchObject({ ok: true });
  });

  it('token at maxTokenAgeS plus the skew is accepted, with its verdict ending at iat + maxTokenAgeS', async () => {
    const issuers = issuersWith({ maxTokenAgeS: 300 });
    const iat = NOW - 300 - SKEW_S;
    expect(await verifyJwt(await hs256({ iat }), issuers, REQUIREMENTS)).toEqual(
      expect.objectContaining({ ok: true, notAfterS: iat + 300 }),
    );
  });

  it('token without iat where maxTokenAgeS is set', async () => {
    const result = await verifyJwt(
      await hs256({ iat: undefined }),
      issuersWith({ maxTokenAgeS: 300 }),
      REQUIREMENTS,
    );
    expect(result).toMatchObject({
      ok: false,
      code: 'GH_ERR_TOKEN_CLAIMS',
      reason: expect.stringContaining('iat') as unknown,
    });
  });
});
