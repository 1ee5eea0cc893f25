import { generateKeyPairSync } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { assessSigningKeys } from '../../src/auth/usable-signing-keys.js';

// Real keys (jose's generateKeyPair), real imports: which keys of a published set could
// verify a token of the configured algorithms, and why the others could not.

let rsa: JWK;
let p256: JWK;
let p384: JWK;
let ed25519: JWK;

async function publicJwk(alg: string, options: Record<string, unknown> = {}): Promise<JWK> {
  const { publicKey } = await generateKeyPair(alg, { extractable: true, ...options });
  return exportJWK(publicKey);
}

beforeAll(async () => {
  rsa = { ...(await publicJwk('RS256')), kid: 'rsa' };
  p256 = { ...(await publicJwk('ES256')), kid: 'p256' };
  p384 = { ...(await publicJwk('ES384')), kid: 'p384' };
  ed25519 = { ...(await publicJwk('EdDSA', { crv: 'Ed25519' })), kid: 'ed' };
});

describe('assessSigningKeys', () => {
  it('an empty keys array has no usable key', async () => {
    expect(await assessSigningKeys({ keys: [] }, ['RS256'])).toEqual({ usable: [], refused: [] });
  });

  it('only RSA keys when the issuer accepts ES256: none usable, each says why', async () => {
    const result = await assessSigningKeys({ keys: [rsa] }, ['ES256']);
    expect(result.usable).toEqual([]);
    expect(result.refused).toEqual([{ key: 'rsa', reason: 'a RSA key verifies none of ES256' }]);
  });

  it('encryption keys (use: enc) and keys whose key_ops lack verify cannot verify', async () => {
    const result = await assessSigningKeys(
      {
        keys: [
          { ...rsa, kid: 'enc', use: 'enc', alg: 'RSA-OAEP' },
          { ...rsa, kid: 'wrap', key_ops: ['wrapKey'] },
        ],
      },
      ['RS256'],
    );
    expect(result.usable).toEqual([]);
    expect(result.refused.map((entry) => entry.reason)).toEqual([
      'use is "enc", not "sig"',
      'key_ops [wrapKey] lacks "verify"',
    ]);
  });

  it('a key whose alg is not configured is refused even when its type would fit', async () => {
    const result = await assessSigningKeys({ keys: [{ ...rsa, alg: 'PS256' }] }, ['RS256']);
    expect(result.refused[0]?.reason).toMatch(/alg PS256 is not among the configured/);
  });

  it('an EC key on another curve does not verify ES256 (RFC 7518 section 3.4)', async () => {
    const result = await assessSigningKeys({ keys: [p384] }, ['ES256']);
    expect(result.refused[0]?.reason).toBe('a EC P-384 key verifies none of ES256');
  });

  it('an RSA key under 2048 bits is refused, as jose would refuse it when verifying', async () => {
    // jose will not even generate one; node:crypto will.
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const small = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: 'small' };
    const result = await assessSigningKeys({ keys: [small] }, ['RS256']);
    expect(result.refused[0]?.reason).toBe('an RSA key of 1024 bits is under 2048');
  });

  it('a key that does not import (a point off the curve) is refused', async () => {
    const offCurve = { ...p256, kid: 'broken', y: String(p256.x) };
    const result = await assessSigningKeys({ keys: [offCurve] }, ['ES256']);
    expect(result.refused[0]?.reason).toMatch(/^cannot be imported for ES256/);
  });

  it('usable keys next to unusable ones are listed as usable, by kid or position', async () => {
    const { kid: _kid, ...unnamed } = p256;
    const result = await assessSigningKeys(
      { keys: [{ ...rsa, use: 'enc' }, unnamed, ed25519, rsa] },
      ['ES256', 'EdDSA', 'RS256'],
    );
    expect(result.usable).toEqual(['#1', 'ed', 'rsa']);
    expect(result.refused).toHaveLength(1);
  });

  it('HS* algorithms alone make no public key usable', async () => {
    const result = await assessSigningKeys({ keys: [rsa] }, ['HS256']);
    expect(result.refused[0]?.reason).toBe('no public-key algorithm is configured');
  });
});
