import { constants, generateKeyPairSync, sign, webcrypto, type KeyObject } from 'node:crypto';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import type { JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildIssuerKeys, type IssuerKeys } from '../../src/auth/issuer-keys.js';
import { verifyJwt, type VerifyResult } from '../../src/auth/jwt-verifier.js';
import { parseConfig } from '../../src/config/load-config.js';
import { b64url } from '../helpers/token-factory.js';

// The node:crypto fast path (src/auth/fast-jws-keys.ts) against jose's jwtVerify, through
// verifyJwt both times: once with the issuer's fastKeys, once without (jose verifies). Same
// tokens, same key sets; they must agree on accept/refuse, the deny code and the claims.
// Tokens are signed for real with node:crypto and then forged the ways an attacker would:
// every byte mutated, wrong key, wrong or missing kid, alg/kty mismatch, alg none, expired,
// not yet valid, bad aud/iss, crit headers, a 1024-bit RSA key, broken key material.

const ISSUER = 'https://issuer.diff.test';
const AUDIENCE = 'diff-api';
const NOW = 1_800_000_000;
const SKEW_S = 30;

const ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
type Alg = (typeof ALGS)[number];

interface Pair {
  readonly name: string;
  readonly privateKey: KeyObject;
  readonly jwk: JWK;
}

let pairs: Pair[];

beforeAll(() => {
  const make = (name: string, pair: { privateKey: KeyObject; publicKey: KeyObject }): Pair => ({
    name,
    privateKey: pair.privateKey,
    jwk: pair.publicKey.export({ format: 'jwk' }),
  });
  pairs = [
    make('rsa-a', generateKeyPairSync('rsa', { modulusLength: 2048 })),
    make('rsa-b', generateKeyPairSync('rsa', { modulusLength: 2048 })),
    make('rsa-small', generateKeyPairSync('rsa', { modulusLength: 1024 })),
    make('p256', generateKeyPairSync('ec', { namedCurve: 'P-256' })),
    make('p384', generateKeyPairSync('ec', { namedCurve: 'P-384' })),
    make('p521', generateKeyPairSync('ec', { namedCurve: 'P-521' })),
    make('ed25519', generateKeyPairSync('ed25519')),
    make('ed25519-b', generateKeyPairSync('ed25519')),
  ];
});

function pairAt(index: number): Pair {
  const pair = pairs[index];
  if (pair === undefined) throw new Error(`no key pair ${index}`);
  return pair;
}

afterEach(() => {
  vi.restoreAllMocks();
});

const HASH: Record<Alg, string | null> = {
  RS256: 'sha256',
  RS384: 'sha384',
  RS512: 'sha512',
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  EdDSA: null,
  Ed25519: null,
};

/** Signs `input` for `alg` with `key`; a key of the wrong type gives random bytes instead. */
function signFor(alg: string, key: KeyObject, input: string, pssSalt?: number): Buffer {
  const hash = (HASH as Record<string, string | null | undefined>)[alg];
  try {
    if (hash === undefined) return Buffer.from('not-a-signature');
    if (alg.startsWith('PS')) {
      return sign(hash, Buffer.from(input), {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: pssSalt ?? Number(alg.slice(2)) / 8,
      });
    }
    if (alg.startsWith('ES'))
      return sign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    return sign(hash, Buffer.from(input), key);
  } catch {
    return Buffer.from(`${alg}-cannot-sign-with-${key.asymmetricKeyType ?? '?'}`);
  }
}

function token(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: KeyObject,
  pssSalt?: number,
) {
  const input = `${b64url(header)}.${b64url(claims)}`;
  const alg = typeof header.alg === 'string' ? header.alg : '';
  return `${input}.${signFor(alg, key, input, pssSalt).toString('base64url')}`;
}

function issuerConfig(extra: Record<string, unknown> = {}) {
  const config = parseConfig(
    {
      issuers: [
        {
          issuer: ISSUER,
          audiences: [AUDIENCE],
          algorithms: [...ALGS],
          jwksFile: 'jwks.json',
          ...extra,
        },
      ],
    },
    tmpdir(),
    {},
  ).issuers[0];
  if (config === undefined) throw new Error('unreachable');
  return config;
}

function issuerKeys(jwks: { keys: JWK[] }, extra: Record<string, unknown> = {}): IssuerKeys {
  return buildIssuerKeys(issuerConfig(extra), jwks, undefined);
}

const REQUIREMENTS = {
  issuers: undefined,
  audiences: undefined,
  maxTokenBytes: 16_384,
  defaultClockSkewS: SKEW_S,
  nowS: NOW,
};

/** What a user sees of a verdict: accepted with these claims, or refused with this code. */
function seen(result: VerifyResult) {
  return result.ok
    ? { ok: true, claims: result.claims, notAfterS: result.notAfterS }
    : { ok: false, code: result.code, unknownKid: result.unknownKid };
}

/** The verdict of the fast path and of jose, for the same token and keys. */
async function bothPaths(tokenText: string, keys: IssuerKeys, audiences?: string[]) {
  expect(keys.fastKeys).toBeDefined();
  const requirements = { ...REQUIREMENTS, audiences };
  const fast = await verifyJwt(tokenText, new Map([[ISSUER, keys]]), requirements);
  const jose = await verifyJwt(
    tokenText,
    new Map([[ISSUER, { ...keys, fastKeys: undefined }]]),
    requirements,
  );
  return { fast: seen(fast), jose: seen(jose) };
}

const validClaims = () => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: 'alice',
  iat: NOW - 10,
  exp: NOW + 600,
});

/** The key each algorithm is signed with in the simple cases. */
function pairFor(alg: Alg): Pair {
  const name =
    alg.startsWith('R') || alg.startsWith('P')
      ? 'rsa-a'
      : alg === 'ES256'
        ? 'p256'
        : alg === 'ES384'
          ? 'p384'
          : alg === 'ES512'
            ? 'p521'
            : 'ed25519';
  const pair = pairs.find((one) => one.name === name);
  if (pair === undefined) throw new Error(name);
  return pair;
}

const allPublicKeys = () => ({
  keys: pairs.map((pair) => ({ ...pair.jwk, kid: pair.name })),
});

describe('node:crypto fast path against jose (same tokens, same keys)', () => {
  it('a valid token of every algorithm is accepted by both, and the fast path calls no WebCrypto verify', async () => {
    const keys = issuerKeys(allPublicKeys());
    for (const alg of ALGS) {
      const pair = pairFor(alg);
      const jwt = token({ alg, kid: pair.name, typ: 'at+jwt' }, validClaims(), pair.privateKey);
      const subtleVerify = vi.spyOn(webcrypto.subtle, 'verify');
      const fast = await verifyJwt(jwt, new Map([[ISSUER, keys]]), REQUIREMENTS);
      expect(subtleVerify).not.toHaveBeenCalled();
      const { jose } = await bothPaths(jwt, keys);
      expect(subtleVerify).toHaveBeenCalled();
      expect(seen(fast)).toEqual({ ok: true, claims: validClaims(), notAfterS: undefined });
      expect(jose).toEqual(seen(fast));
      vi.restoreAllMocks();
    }
  });

  it('the fixed attacks: each refused by both with the same deny code', async () => {
    const rsa = pairFor('RS256');
    const keys = issuerKeys(allPublicKeys());
    const sign1 = (
      header: Record<string, unknown>,
      claims: Record<string, unknown> = validClaims(),
      key = rsa.privateKey,
    ) => token({ alg: 'RS256', kid: 'rsa-a', ...header }, claims, key);
    const cases: Record<string, { jwt: string; code: string }> = {
      'wrong key (rsa-b signs, kid rsa-a)': {
        jwt: sign1({}, validClaims(), pairAt(1).privateKey),
        code: 'GH_ERR_TOKEN_SIGNATURE',
      },
      'unknown kid': { jwt: sign1({ kid: 'nope' }), code: 'GH_ERR_TOKEN_KEY_UNKNOWN' },
      'no kid, two RSA keys fit': {
        jwt: sign1({ kid: undefined }),
        code: 'GH_ERR_TOKEN_MALFORMED',
      },
      '1024-bit RSA key': {
        jwt: sign1({ kid: 'rsa-small' }, validClaims(), pairAt(2).privateKey),
        code: 'GH_ERR_TOKEN_MALFORMED',
      },
      'alg none': {
        jwt: `${b64url({ alg: 'none' })}.${b64url(validClaims())}.`,
        code: 'GH_ERR_TOKEN_ALG',
      },
      'RS256 header on an EC key id': {
        jwt: sign1({ kid: 'p256' }),
        code: 'GH_ERR_TOKEN_KEY_UNKNOWN',
      },
      'PS256 with salt length 0': {
        jwt: token({ alg: 'PS256', kid: 'rsa-a' }, validClaims(), rsa.privateKey, 0),
        code: 'GH_ERR_TOKEN_SIGNATURE',
      },
      expired: {
        jwt: sign1({}, { ...validClaims(), exp: NOW - SKEW_S }),
        code: 'GH_ERR_TOKEN_EXPIRED',
      },
      'not yet valid': {
        jwt: sign1({}, { ...validClaims(), nbf: NOW + SKEW_S + 1 }),
        code: 'GH_ERR_TOKEN_NOT_YET_VALID',
      },
      'nbf a string': {
        jwt: sign1({}, { ...validClaims(), nbf: 'soon' }),
        code: 'GH_ERR_TOKEN_NOT_YET_VALID',
      },
      'exp a string': {
        jwt: sign1({}, { ...validClaims(), exp: 'later' }),
        code: 'GH_ERR_TOKEN_CLAIMS',
      },
      'bad aud': {
        jwt: sign1({}, { ...validClaims(), aud: 'other-api' }),
        code: 'GH_ERR_TOKEN_AUDIENCE',
      },
      'no aud': {
        jwt: sign1({}, { ...validClaims(), aud: undefined }),
        code: 'GH_ERR_TOKEN_AUDIENCE',
      },
      'unknown crit': { jwt: sign1({ crit: ['exp'], exp: 1 }), code: 'GH_ERR_TOKEN_MALFORMED' },
    };
    for (const [name, { jwt, code }] of Object.entries(cases)) {
      const { fast, jose } = await bothPaths(jwt, keys);
      expect({ name, ...fast }).toMatchObject({ name, ok: false, code });
      expect({ name, ...jose }).toEqual({ name, ...fast });
    }
  });

  it('random forgeries over random key sets: same accept/refuse and deny code (property)', async () => {
    /** Mostly the honest value, sometimes one of the forged ones. */
    const mostly = <T>(honest: T, ...forged: T[]) =>
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(honest) },
        { weight: 1, arbitrary: fc.constantFrom(...forged) },
      );
    const jwkVariant = fc.record({
      pair: fc.integer({ min: 0, max: 7 }),
      kid: fc.constantFrom<string | undefined | number>(undefined, 'k0', 'k1', 'k2', 5),
      alg: fc.constantFrom<string | undefined>(undefined, undefined, ...ALGS, 'HS256'),
      use: mostly<string | undefined>(undefined, 'sig', 'enc'),
      keyOps: mostly<unknown>(
        undefined,
        ['verify'],
        ['verify', 'sign'],
        ['sign'],
        ['verify', 'verify'],
        'verify',
      ),
      ext: mostly<unknown>(undefined, true, false, 'yes'),
      broken: mostly('none', 'crv', 'material', 'kty', 'private'),
    });
    const header = fc.record({
      alg: mostly<unknown>('ALG', 'none', 'HS256', 'ML-DSA-44', 7, ...ALGS),
      kid: mostly<unknown>('k0', undefined, 'k1', 'k2', 'k9', 5),
      typ: fc.constantFrom<unknown>(undefined, 'at+jwt', 'JWT', 7),
      crit: mostly<unknown>(undefined, ['b64'], ['x'], [], 'b64'),
      b64: fc.constantFrom<unknown>(undefined, true, false),
    });
    const claimsArb = fc.record({
      iss: mostly<unknown>(ISSUER, undefined, 'https://evil.example'),
      aud: mostly<unknown>(AUDIENCE, [AUDIENCE, 'x'], ['x'], 'other', undefined, 7),
      exp: mostly<unknown>(NOW + 600, NOW - SKEW_S, NOW - SKEW_S + 1, undefined, '1', null),
      nbf: mostly<unknown>(undefined, NOW - 5, NOW + SKEW_S, NOW + SKEW_S + 1, 'x'),
      iat: mostly<unknown>(NOW - 10, undefined, NOW + SKEW_S + 1, 'x', 1.5),
      sub: mostly<unknown>('alice', undefined, 7),
    });
    const scenario = fc.record({
      alg: fc.constantFrom(...ALGS),
      // The signer's own key published as k0 (else only the random keys are).
      publishSigner: mostly(true, false),
      jwks: fc.array(jwkVariant, { minLength: 0, maxLength: 3 }),
      header,
      claims: claimsArb,
      // Which key signs: the algorithm's own (-1) or another one.
      signer: mostly(-1, 0, 1, 2, 3, 4, 5, 6, 7),
      config: fc.constantFrom<Record<string, unknown>>(
        {},
        { requiredClaims: ['sub'] },
        { requiredClaims: ['nbf', 'iat'] },
        { maxTokenAgeS: 60 },
        { requireTypAtJwt: true },
        { clockSkewS: 0 },
      ),
      audiences: mostly<string[] | undefined>(undefined, ['other', AUDIENCE], ['x']),
      // Where to change one character (as a fraction of the length), or no change.
      mutate: fc.option(
        fc.tuple(
          fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
          fc.constantFrom(
            'A',
            'B',
            'D',
            'a',
            'b',
            'd',
            '0',
            '1',
            '9',
            '-',
            '_',
            '.',
            '=',
            '+',
            '/',
          ),
        ),
        { freq: 2 },
      ),
    });
    let accepted = 0;
    const refusedBy = new Set<string>();
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const own = pairFor(s.alg);
        const keys = [
          ...(s.publishSigner ? [{ ...own.jwk, kid: 'k0' }] : []),
          ...s.jwks.map((variant) => publicJwk(variant)),
        ];
        const config = issuerConfig(s.config);
        let issuer: IssuerKeys;
        try {
          issuer = buildIssuerKeys(config, { keys }, undefined);
        } catch {
          return; // jose refused the key set itself: there is no check to compare
        }
        const signer = s.signer === -1 ? own : pairAt(s.signer);
        const headerFields = { ...s.header, alg: s.header.alg === 'ALG' ? s.alg : s.header.alg };
        let jwt = token(
          withoutUndefined(headerFields),
          withoutUndefined(s.claims),
          signer.privateKey,
        );
        if (s.mutate !== null) {
          const [where, char] = s.mutate;
          const at = Math.floor(where * jwt.length);
          jwt = jwt.slice(0, at) + char + jwt.slice(at + 1);
        }
        const { fast, jose } = await bothPaths(jwt, issuer, s.audiences);
        if (fast.ok) accepted++;
        else if (fast.code !== undefined) refusedBy.add(fast.code);
        expect(fast).toEqual(jose);
      }),
      { numRuns: 600, seed: 20261201 },
    );
    // The property exercised acceptance too, not only refusals.
    expect(accepted).toBeGreaterThan(10);
    // And refusals of most kinds the fast path decides itself (an expiry needs everything
    // else right: the fixed attacks above cover it).
    expect([...refusedBy].sort()).toEqual(
      expect.arrayContaining([
        'GH_ERR_TOKEN_AUDIENCE',
        'GH_ERR_TOKEN_CLAIMS',
        'GH_ERR_TOKEN_KEY_UNKNOWN',
        'GH_ERR_TOKEN_MALFORMED',
        'GH_ERR_TOKEN_NOT_YET_VALID',
        'GH_ERR_TOKEN_SIGNATURE',
      ]),
    );
  });

  it('every single-character change of a valid token of each algorithm: same verdict', async () => {
    const keys = issuerKeys(allPublicKeys());
    for (const alg of ALGS) {
      const pair = pairFor(alg);
      const jwt = token({ alg, kid: pair.name }, validClaims(), pair.privateKey);
      // Every position of the header and signature, a sample of the payload's.
      for (let at = 0; at < jwt.length; at += at < 40 || at > jwt.length - 90 ? 1 : 7) {
        const replacement = jwt[at] === 'A' ? 'B' : 'A';
        const forged = jwt.slice(0, at) + replacement + jwt.slice(at + 1);
        const { fast, jose } = await bothPaths(forged, keys);
        expect({ at, ...fast }).toEqual({ at, ...jose });
        expect(fast.ok).toBe(false);
      }
    }
  });
});

interface JwkVariant {
  readonly pair: number;
  readonly kid: string | number | undefined;
  readonly alg: string | undefined;
  readonly use: string | undefined;
  readonly keyOps: unknown;
  readonly ext: unknown;
  readonly broken: string;
}

/** One published key, with the members an issuer (or an attacker's JWKS) might set. */
function publicJwk(variant: JwkVariant): JWK {
  const pair = pairAt(variant.pair);
  const jwk: Record<string, unknown> = { ...pair.jwk };
  if (variant.kid !== undefined) jwk.kid = variant.kid;
  if (variant.alg !== undefined) jwk.alg = variant.alg;
  if (variant.use !== undefined) jwk.use = variant.use;
  if (variant.keyOps !== undefined) jwk.key_ops = variant.keyOps;
  if (variant.ext !== undefined) jwk.ext = variant.ext;
  switch (variant.broken) {
    case 'crv':
      if (jwk.kty === 'EC') jwk.crv = jwk.crv === 'P-256' ? 'P-384' : 'P-256';
      if (jwk.kty === 'OKP') jwk.crv = 'Ed448';
      break;
    case 'material':
      if (typeof jwk.n === 'string') jwk.n = jwk.n.slice(0, 40);
      if (typeof jwk.x === 'string') jwk.x = jwk.x.slice(0, 20);
      break;
    case 'kty':
      jwk.kty = jwk.kty === 'RSA' ? 'EC' : 'RSA';
      break;
    case 'private':
      jwk.d = 'AQAB';
      break;
  }
  return jwk;
}

function withoutUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, member]) => member !== undefined));
}
