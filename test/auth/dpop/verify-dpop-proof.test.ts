import { generateKeyPairSync, sign } from 'node:crypto';
import { CompactSign, exportJWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { DpopReplayCache } from '../../../src/auth/dpop/replay-cache.js';
import {
  assertDpopOptions,
  MAX_JTI_LENGTH,
  verifyDpopProof,
} from '../../../src/auth/dpop/verify-dpop-proof.js';
import { b64url } from '../../helpers/token-factory.js';
import {
  ACCESS_TOKEN,
  athOf,
  createProofKey,
  expectFailure,
  NOW,
  requestWith,
  RESOURCE_URL,
  signProof,
  verifierSetup,
  WINDOW_S,
  type ProofKey,
} from './dpop-fixtures.js';

let client: ProofKey;
let attacker: ProofKey;

beforeAll(async () => {
  client = await createProofKey('ES256');
  attacker = await createProofKey('ES256');
});

describe('verifyDpopProof accepts a correct proof', () => {
  it.each(['ES256', 'ES384', 'PS256', 'RS256', 'Ed25519'])(
    'signed with %s, and answers its key thumbprint (RFC 7638)',
    async (alg) => {
      const key = await createProofKey(alg);
      const { options } = verifierSetup();
      const result = await verifyDpopProof(requestWith(await signProof(key)), options);
      expect(result).toEqual({ ok: true, jkt: key.jkt });
    },
  );

  it('with iat exactly at either edge of the window (RFC 9449 section 11.1)', async () => {
    const { options } = verifierSetup();
    for (const iat of [NOW - WINDOW_S, NOW + WINDOW_S]) {
      const proof = await signProof(client, { claims: { iat } });
      expect(await verifyDpopProof(requestWith(proof), options)).toMatchObject({ ok: true });
    }
  });

  it('with surrounding whitespace, which is not part of a field value (RFC 9110 5.5)', async () => {
    const { options } = verifierSetup();
    const proof = ` ${await signProof(client)}\t`;
    expect(await verifyDpopProof(requestWith(proof), options)).toMatchObject({ ok: true });
  });
});

describe('verifyDpopProof rejects each known attack (RFC 9449 section 4.3)', () => {
  it('replayed jti', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client);
    expect(await verifyDpopProof(requestWith(proof), options)).toMatchObject({ ok: true });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_REPLAYED');
  });

  it('replayed jti in a newly signed proof', async () => {
    const { options } = verifierSetup();
    const first = await signProof(client, { claims: { jti: 'jti-1' } });
    const second = await signProof(client, { claims: { jti: 'jti-1', iat: NOW + 1 } });
    expect(await verifyDpopProof(requestWith(first), options)).toMatchObject({ ok: true });
    expectFailure(await verifyDpopProof(requestWith(second), options), 'GH_DPOP_REPLAYED');
  });

  it('htu with a different path', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, {
      claims: { htu: 'https://orders.example.test/orders/43' },
    });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_HTU');
  });

  it('htu with a query is fine: query and fragment are ignored (check 9)', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims: { htu: `${RESOURCE_URL}?page=2#top` } });
    const request = requestWith(proof, { url: `${RESOURCE_URL}?expand=items` });
    expect(await verifyDpopProof(request, options)).toEqual({ ok: true, jkt: client.jkt });
  });

  it('htu with a different host', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, {
      claims: { htu: 'https://billing.example.test/orders/42' },
    });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_HTU');
  });

  it('htm mismatch', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims: { htm: 'GET' } });
    expectFailure(
      await verifyDpopProof(requestWith(proof, { method: 'DELETE' }), options),
      'GH_DPOP_HTM',
    );
  });

  it('ath mismatch: a proof made for another access token', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims: { ath: athOf('some-other-token') } });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_ATH');
  });

  it('iat too old', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims: { iat: NOW - WINDOW_S - 1 } });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_IAT_TOO_OLD');
  });

  it('iat in the future', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims: { iat: NOW + WINDOW_S + 1 } });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_IAT_IN_FUTURE');
  });

  it('re-encoded proof signature with non-zero trailing bits is refused', async () => {
    // ES256: 64 octets are 86 characters, so the last one has 4 unused bits (RFC 4648 3.5).
    const proof = await signProof(client);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(proof.charAt(proof.length - 1));
    const respelled = `${proof.slice(0, -1)}${alphabet.charAt((last & ~0b1111) | 0b0001)}`;
    const signature = (jws: string) => Buffer.from(jws.split('.')[2] ?? '', 'base64url');
    expect(signature(respelled)).toEqual(signature(proof));
    // A fresh replay cache each time: the refusal is the spelling, not the jti.
    expectFailure(
      await verifyDpopProof(requestWith(respelled), verifierSetup().options),
      'GH_DPOP_MALFORMED',
    );
    expect(await verifyDpopProof(requestWith(proof), verifierSetup().options)).toMatchObject({
      ok: true,
    });
  });

  it.each([
    ['padded', (proof: string) => `${proof}==`],
    [
      'a part of length 1 mod 4',
      (proof: string) => {
        // Lengthen the signature until it is 1 mod 4: six bits, no whole octet.
        let respelled = proof;
        while ((respelled.length - respelled.lastIndexOf('.') - 1) % 4 !== 1) respelled += 'A';
        return respelled;
      },
    ],
  ])('a %s proof is malformed', async (_, respell) => {
    const { options } = verifierSetup();
    expectFailure(
      await verifyDpopProof(requestWith(respell(await signProof(client))), options),
      'GH_DPOP_MALFORMED',
    );
  });

  it('typ missing', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { header: { typ: undefined } });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_TYP');
  });

  it.each(['JWT', 'at+jwt', 'application/dpop+jwt', 'DPOP+JWT'])(
    'typ %s instead of dpop+jwt',
    async (typ) => {
      const { options } = verifierSetup();
      const proof = await signProof(client, { header: { typ } });
      expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_TYP');
    },
  );

  it('alg none', async () => {
    const { options } = verifierSetup();
    const header = { alg: 'none', typ: 'dpop+jwt', jwk: client.publicJwk };
    const claims = { jti: 'n', htm: 'GET', htu: RESOURCE_URL, iat: NOW, ath: athOf(ACCESS_TOKEN) };
    const proof = `${b64url(header)}.${b64url(claims)}.`;
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_ALG');
  });

  it('HS256 proof', async () => {
    const { options } = verifierSetup();
    const secret = new TextEncoder().encode('a-shared-secret-the-attacker-chose-32b');
    const proof = await signProof(client, {
      header: { alg: 'HS256', jwk: { kty: 'oct', k: Buffer.from(secret).toString('base64url') } },
      signingKey: secret,
    });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_ALG');
  });

  it('an asymmetric alg this resource server does not allow', async () => {
    const { options } = verifierSetup({ algorithms: ['ES256'] });
    const proof = await signProof(await createProofKey('PS256'));
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_ALG');
  });

  it('proof with a private jwk', async () => {
    const { options } = verifierSetup();
    const privateJwk = await exportJWK(client.privateKey);
    const proof = await signProof(client, { header: { jwk: privateJwk } });
    const result = await verifyDpopProof(requestWith(proof), options);
    expectFailure(result, 'GH_DPOP_JWK_PRIVATE');
    // The reason names members, never their values.
    expect(result).toMatchObject({ reason: 'jwk holds private members: d' });
  });

  it('proof with a private RSA jwk', async () => {
    const { options } = verifierSetup();
    const rsa = await createProofKey('PS256');
    const proof = await signProof(rsa, { header: { jwk: await exportJWK(rsa.privateKey) } });
    const result = await verifyDpopProof(requestWith(proof), options);
    expectFailure(result, 'GH_DPOP_JWK_PRIVATE');
    expect(result).toMatchObject({ reason: 'jwk holds private members: d, p, q, dp, dq, qi' });
  });

  it('proof without jwk', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { header: { jwk: undefined, kid: 'client-key' } });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_JWK_MISSING');
  });

  it('signature by a different key than the embedded jwk', async () => {
    const { options } = verifierSetup();
    // The attacker embeds the victim's public key to be taken for the victim.
    const proof = await signProof(client, { signingKey: attacker.privateKey });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_SIGNATURE');
  });

  it.each([', ', ',', ' ', '\t'])('two proofs, joined by %j', async (separator) => {
    const { options } = verifierSetup();
    const proofs = `${await signProof(client)}${separator}${await signProof(attacker)}`;
    expectFailure(await verifyDpopProof(requestWith(proofs), options), 'GH_DPOP_MULTIPLE_PROOFS');
  });

  it('oversized proof', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims: { padding: 'x'.repeat(10_000) } });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_PROOF_TOO_LARGE');
  });

  it('oversized proof under a lower maxProofBytes', async () => {
    const proof = await signProof(client);
    const { options } = verifierSetup({ maxProofBytes: proof.length - 1 });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_PROOF_TOO_LARGE');
  });
});

describe('verifyDpopProof: structure and claims', () => {
  it.each([
    ['an empty value', ''],
    ['one part', 'abc'],
    ['a JWE (five parts)', 'a.b.c.d.e'],
    ['non-base64url characters', 'a*b.c.d'],
    ['a header that is not JSON', `${b64url('not json')}.${b64url({})}.c2ln`],
  ])('%s is malformed', async (_name, proof) => {
    const { options } = verifierSetup();
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_MALFORMED');
  });

  it('a payload that is not a JSON object is malformed', async () => {
    const { options } = verifierSetup();
    const { privateKey } = client;
    const proof = await new CompactSign(new TextEncoder().encode('[1,2]'))
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: client.publicJwk })
      .sign(privateKey);
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_MALFORMED');
  });

  it.each([
    ['a jwk that is not an object', 'ES256', 'a-string'],
    ['a symmetric jwk without k', 'ES256', { kty: 'oct' }],
    ['an EC jwk without y', 'ES256', { kty: 'EC', crv: 'P-256', x: 'AAAA' }],
    ['an unknown key type', 'ES256', { kty: 'XYZ', x: 'AAAA' }],
  ])('%s is invalid', async (_name, alg, jwk) => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { header: { alg, jwk } });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_JWK_INVALID');
  });

  it('a jwk that does not fit the alg (P-384 key, ES256) is invalid', async () => {
    const { options } = verifierSetup();
    const p384 = await createProofKey('ES384');
    const proof = await signProof(client, { header: { jwk: p384.publicJwk } });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_JWK_INVALID');
  });

  it('an RSA jwk with an ES256 alg is invalid', async () => {
    const { options } = verifierSetup();
    const rsa = await createProofKey('RS256');
    const proof = await signProof(client, { header: { jwk: rsa.publicJwk } });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_JWK_INVALID');
  });

  it('an RSA key under 2048 bits is invalid (RFC 7518 section 3.3)', async () => {
    const { options } = verifierSetup();
    // jose will not sign with a short key: sign by hand, as an attacker would.
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const header = { alg: 'RS256', typ: 'dpop+jwt', jwk: publicKey.export({ format: 'jwk' }) };
    const claims = { jti: 'w', htm: 'GET', htu: RESOURCE_URL, iat: NOW, ath: athOf(ACCESS_TOKEN) };
    const input = `${b64url(header)}.${b64url(claims)}`;
    const signature = sign('sha256', Buffer.from(input), privateKey).toString('base64url');
    const proof = `${input}.${signature}`;
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_JWK_INVALID');
  });

  it.each([
    ['jti missing', { jti: undefined }],
    ['jti empty', { jti: '' }],
    ['jti not a string', { jti: 42 }],
    ['jti too long', { jti: 'j'.repeat(MAX_JTI_LENGTH + 1) }],
    ['htm missing', { htm: undefined }],
    ['htu not a string', { htu: ['https://orders.example.test/orders/42'] }],
    ['iat missing', { iat: undefined }],
    ['iat not a number', { iat: String(NOW) }],
    ['ath missing (a token endpoint proof)', { ath: undefined }],
    ['exp in the past', { exp: NOW - 1 }],
  ])('%s', async (_name, claims) => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims });
    expectFailure(await verifyDpopProof(requestWith(proof), options), 'GH_DPOP_CLAIMS');
  });

  it('a jti of the longest accepted length passes', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims: { jti: 'j'.repeat(MAX_JTI_LENGTH) } });
    expect(await verifyDpopProof(requestWith(proof), options)).toMatchObject({ ok: true });
  });

  it('an empty access token never matches', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims: { ath: athOf('') } });
    expectFailure(
      await verifyDpopProof(requestWith(proof, { accessToken: '' }), options),
      'GH_DPOP_ATH',
    );
  });

  it('a failed proof does not use up its jti (recorded only when all else passed)', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client);
    const wrongMethod = requestWith(proof, { method: 'POST' });
    expectFailure(await verifyDpopProof(wrongMethod, options), 'GH_DPOP_HTM');
    expect(await verifyDpopProof(requestWith(proof), options)).toMatchObject({ ok: true });
  });

  it('refuses a clock that is not a number rather than skip the iat check', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims: { iat: 0 } });
    await expect(verifyDpopProof(requestWith(proof, { now: Number.NaN }), options)).rejects.toThrow(
      TypeError,
    );
  });

  it('uses the system clock when no time is given', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims: { iat: Math.floor(Date.now() / 1000) } });
    const request = { proof, method: 'GET', url: RESOURCE_URL, accessToken: ACCESS_TOKEN };
    expect(await verifyDpopProof(request, options)).toMatchObject({ ok: true });
  });
});

describe('htu comparison (RFC 9449 section 4.3 check 9, RFC 3986 section 6.2)', () => {
  it.each([
    ['the same URI', RESOURCE_URL, true],
    ['upper-case scheme and host', 'HTTPS://ORDERS.Example.TEST/orders/42', true],
    ['the default port', 'https://orders.example.test:443/orders/42', true],
    ['a fragment', `${RESOURCE_URL}#section`, true],
    ['an encoded unreserved character', 'https://orders.example.test/%6Frders/42', true],
    ['a dot segment', 'https://orders.example.test/orders/../orders/42', true],
    ['another scheme', 'http://orders.example.test/orders/42', false],
    ['another port', 'https://orders.example.test:8443/orders/42', false],
    ['a trailing slash', `${RESOURCE_URL}/`, false],
    ['a path prefix', 'https://orders.example.test/orders', false],
    ['upper-case path', 'https://orders.example.test/ORDERS/42', false],
    ['userinfo', 'https://user@orders.example.test/orders/42', false],
    ['a relative reference', '/orders/42', false],
    ['a non-HTTP URI', 'urn:example:orders:42', false],
  ])('%s: %s', async (_name, htu, accepted) => {
    const { options } = verifierSetup();
    const proof = await signProof(client, { claims: { htu } });
    const result = await verifyDpopProof(requestWith(proof), options);
    if (accepted) expect(result).toMatchObject({ ok: true });
    else expectFailure(result, 'GH_DPOP_HTU');
  });

  it('percent-encoding case differs only in the hex digits', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client, {
      claims: { htu: 'https://orders.example.test/orders/a%2fb' },
    });
    const request = requestWith(proof, { url: 'https://orders.example.test/orders/a%2Fb' });
    expect(await verifyDpopProof(request, options)).toMatchObject({ ok: true });
  });

  it('an unparseable request URL fails closed', async () => {
    const { options } = verifierSetup();
    const proof = await signProof(client);
    expectFailure(
      await verifyDpopProof(requestWith(proof, { url: 'https://[bad host/orders/42' }), options),
      'GH_DPOP_HTU',
    );
  });
});

describe('assertDpopOptions (validated before any proof is looked at)', () => {
  const replay = new DpopReplayCache({ iatWindowS: WINDOW_S });
  it.each([
    ['HS256 among the algorithms', { algorithms: ['ES256', 'HS256'] }, /"HS256" is not/],
    ['none among the algorithms', { algorithms: ['none'] }, /"none" is not/],
    ['no algorithms', { algorithms: [] }, /at least one/],
    ['a zero iat window', { iatWindowS: 0 }, /iatWindowS/],
    ['a fractional maxProofBytes', { maxProofBytes: 1.5 }, /maxProofBytes/],
    [
      'a replay cache with a shorter window',
      { iatWindowS: WINDOW_S * 2 },
      /options\.replay keeps jtis for a 60s window/,
    ],
  ])('refuses %s', async (_name, overrides, message) => {
    const options = { algorithms: ['ES256'], replay, ...overrides };
    expect(() => {
      assertDpopOptions(options);
    }).toThrow(message);
    const proof = await signProof(client);
    await expect(verifyDpopProof(requestWith(proof), options)).rejects.toThrow(TypeError);
  });
});
