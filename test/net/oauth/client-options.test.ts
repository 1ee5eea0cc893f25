import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../src/config/load-config.js';
import {
  ClientCredentialsTokenSource,
  type ClientCredentialsOptions,
} from '../../../src/net/oauth/client-credentials.js';
import { basicAuthorization, formUrlEncode } from '../../../src/net/oauth/client-secret.js';
import { OAUTH_CLIENT_ERRORS } from '../../../src/net/oauth/errors.js';
import { loadSigningKey, type AssertionAlgorithm } from '../../../src/net/oauth/signing-key.js';
import { thrown, withConfigDefaults } from './helpers.js';

describe('client_secret_basic encoding (RFC 6749 section 2.3.1)', () => {
  it.each([
    ['plain', 'plain'],
    ['with space', 'with+space'],
    ['a:b', 'a%3Ab'],
    ['a+b', 'a%2Bb'],
    ['100%', '100%25'],
    ['a/b?c=d&e', 'a%2Fb%3Fc%3Dd%26e'],
    ["~!*()'", '%7E%21*%28%29%27'],
    ['-._', '-._'],
    ['é', '%C3%A9'],
  ])('formUrlEncode(%j) = %j', (input, encoded) => {
    expect(formUrlEncode(input)).toBe(encoded);
  });

  it("matches the RFC's own example", () => {
    expect(basicAuthorization('s6BhdRkqt3', '7Fjfp0ZBr1KtDRbnfVdmIw')).toBe(
      'Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3',
    );
  });

  it('encodes before base64: a ":" in the client_id cannot move the split point', () => {
    const header = basicAuthorization('id:with:colons', 'secret');
    const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
    expect(decoded).toBe('id%3Awith%3Acolons:secret');
  });
});

describe('the centralServer config is validated once, by the schema, naming the option', () => {
  // These checks ran in the token source's constructor until the schema took them over
  // (issue 8): the message is the same, prefixed with the option's path in the config.
  const base = {
    tokenEndpoint: 'https://as.example/token',
    clientId: 'gatehouse',
    method: 'client_secret_basic',
    clientSecretEnv: 'GH_SECRET',
  } as const;
  const problems = (centralServer: Record<string, unknown>): readonly string[] => {
    try {
      parseConfig({ centralServer }, '/', {});
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).problems;
    }
    throw new Error('expected a ConfigError');
  };

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'an unknown method',
      { method: 'password' },
      /^centralServer\.method: must be one of client_secret_basic, /,
    ],
    ['an empty clientId', { clientId: '' }, /^centralServer\.clientId: is required$/],
    [
      'a non-ASCII clientId',
      { clientId: 'gåtehouse' },
      /^centralServer\.clientId: must be printable ASCII/,
    ],
    [
      'no endpoint',
      { tokenEndpoint: undefined },
      /^centralServer: set issuer \(discovery\) or tokenEndpoint$/,
    ],
    [
      'plain http to a remote host',
      { tokenEndpoint: 'http://as.example/token' },
      /^centralServer\.tokenEndpoint: must use https \(http only for loopback hosts\)$/,
    ],
    [
      'credentials in the URL',
      { tokenEndpoint: 'https://u:p@as.example/token' },
      /^centralServer\.tokenEndpoint: must not carry credentials/,
    ],
    [
      'a fragment',
      { tokenEndpoint: 'https://as.example/token#x' },
      /^centralServer\.tokenEndpoint: must not have a fragment$/,
    ],
    ['a relative issuer', { issuer: '/issuer' }, /^centralServer\.issuer: is not an absolute URL$/],
    [
      'no secret',
      { clientSecretEnv: undefined },
      /^centralServer\.clientSecretEnv: is required for client_secret_basic$/,
    ],
    [
      'a secret with tls_client_auth',
      { method: 'tls_client_auth', certFile: 'c.pem', keyFile: 'k.pem' },
      /^centralServer\.clientSecretEnv: is set but tls_client_auth does not use a client secret$/,
    ],
    [
      'private_key_jwt without a key',
      { method: 'private_key_jwt', clientSecretEnv: undefined },
      /^centralServer\.privateKeyFile: is required for private_key_jwt$/,
    ],
    [
      'a private key with a secret method',
      { privateKeyFile: 'key.pem' },
      /^centralServer\.privateKeyFile: is set but only private_key_jwt uses it/,
    ],
    [
      'an unknown algorithm',
      {
        method: 'private_key_jwt',
        clientSecretEnv: undefined,
        privateKeyFile: 'key.pem',
        privateKeyAlgorithm: 'HS256',
      },
      /^centralServer\.privateKeyAlgorithm: must be one of RS256, PS256, ES256, EdDSA$/,
    ],
    [
      'an unknown assertionAudience',
      { method: 'client_secret_jwt', assertionAudience: 'anyone' },
      /^centralServer\.assertionAudience: must be token_endpoint or issuer$/,
    ],
    [
      'assertionAudience issuer without an issuer',
      { method: 'client_secret_jwt', assertionAudience: 'issuer' },
      /^centralServer\.assertionAudience: is issuer, so issuer must be set$/,
    ],
    [
      'assertionAudience without an assertion',
      { assertionAudience: 'issuer' },
      /^centralServer\.assertionAudience: is set but client_secret_basic sends no client assertion$/,
    ],
    [
      'a malformed scope',
      { scope: 'a  b' },
      /^centralServer\.scope: must be scope tokens separated by single spaces/,
    ],
    [
      'a relative resource',
      { resource: ['https://ok.example/', 'bundles'] },
      /^centralServer\.resource\.1: "bundles" is not an absolute URI without a fragment/,
    ],
    [
      'a zero timeout',
      { requestTimeoutMs: 0 },
      /^centralServer\.requestTimeoutMs: Too small: expected number to be >=100$/,
    ],
    [
      'a negative skew',
      { refreshSkewS: -1 },
      /^centralServer\.refreshSkewS: Too small: expected number to be >=0$/,
    ],
  ])('refuses %s', (_name, override, message) => {
    const found = problems({ ...base, ...override });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it.each(['http://127.0.0.1:8080/token', 'http://localhost/token', 'http://[::1]:9000/token'])(
    'allows plain http to loopback: %s',
    (tokenEndpoint) => {
      expect(
        parseConfig({ centralServer: { ...base, tokenEndpoint } }, '/', {}).centralServer,
      ).toMatchObject({ tokenEndpoint });
      expect(
        () => new ClientCredentialsTokenSource(withConfigDefaults({ ...codeBase, tokenEndpoint })),
      ).not.toThrow();
    },
  );
});

const codeBase = {
  tokenEndpoint: 'https://as.example/token',
  clientId: 'gatehouse',
  method: 'client_secret_basic',
  secret: 'secret',
} as const;

describe('the credential material is checked at construction, naming the option', () => {
  // What the schema cannot see: the secret (from the environment), keys and certificates.
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it.each<[string, Partial<ClientCredentialsOptions>, RegExp]>([
    ['no secret', { secret: undefined }, /^secret: is required for client_secret_basic$/],
    [
      'a non-ASCII secret',
      { secret: 'sécret' },
      /^secret: must be printable ASCII \(RFC 6749 Appendix A\.2\)$/,
    ],
    [
      'a short HS256 secret',
      { method: 'client_secret_jwt', secret: 'x'.repeat(31) },
      /^secret: must be at least 32 bytes for client_secret_jwt/,
    ],
    [
      'private_key_jwt without a key',
      { method: 'private_key_jwt', secret: undefined },
      /^privateKey: is required for private_key_jwt$/,
    ],
    [
      'a private key that does not fit the algorithm',
      {
        method: 'private_key_jwt',
        secret: undefined,
        privateKey: rsa.privateKey,
        algorithm: 'ES256',
      },
      /^algorithm: ES256 needs a P-256 key, got rsa/,
    ],
    [
      'a certificate without its key',
      { cert: '-----BEGIN CERTIFICATE-----' },
      /^key: cert and key go together/,
    ],
    ['an unusable CA', { ca: 'not a certificate' }, /^ca: holds no PEM certificate$/],
  ])('refuses %s', (_name, override, message) => {
    const error = thrown(
      () => new ClientCredentialsTokenSource(withConfigDefaults({ ...codeBase, ...override })),
    );
    expect(error.code).toBe('GH_OAUTH_CONFIG_INVALID');
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('sécret');
  });
});

describe('private_key_jwt signing keys', () => {
  const rsaKey = (bits = 2048): KeyObject =>
    generateKeyPairSync('rsa', { modulusLength: bits }).privateKey;
  const ecKey = (curve: string): KeyObject =>
    generateKeyPairSync('ec', { namedCurve: curve }).privateKey;

  it.each<[string, () => KeyObject, AssertionAlgorithm]>([
    ['RSA', () => rsaKey(), 'RS256'],
    ['RSA-PSS', () => generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey, 'PS256'],
    ['P-256', () => ecKey('P-256'), 'ES256'],
    ['Ed25519', () => generateKeyPairSync('ed25519').privateKey, 'EdDSA'],
    ['Ed448', () => generateKeyPairSync('ed448').privateKey, 'EdDSA'],
  ])('a %s key defaults to %s', (_name, make, algorithm) => {
    expect(loadSigningKey(make(), undefined, undefined).algorithm).toBe(algorithm);
  });

  it('takes alg and kid from a JWK, and an explicit keyId wins', () => {
    const jwk = { ...rsaKey().export({ format: 'jwk' }), alg: 'PS256', kid: 'k1' };
    expect(loadSigningKey(jwk, undefined, undefined)).toMatchObject({
      algorithm: 'PS256',
      keyId: 'k1',
    });
    expect(loadSigningKey(jwk, 'RS256', 'k2')).toMatchObject({ algorithm: 'RS256', keyId: 'k2' });
  });

  it.each<[string, () => KeyObject | string, AssertionAlgorithm | undefined, RegExp]>([
    [
      'RS256 with a P-256 key',
      () => ecKey('P-256'),
      'RS256',
      /^algorithm: RS256 needs an RSA key, got ec prime256v1$/,
    ],
    [
      'ES256 with a P-384 key',
      () => ecKey('P-384'),
      'ES256',
      /^algorithm: ES256 needs a P-256 key, got ec secp384r1$/,
    ],
    [
      'EdDSA with an RSA key',
      () => rsaKey(),
      'EdDSA',
      /^algorithm: EdDSA needs an Ed25519 or Ed448 key, got rsa$/,
    ],
    [
      'RS256 with a 1024-bit RSA key (RFC 7518 3.3)',
      () => rsaKey(1024),
      'RS256',
      /at least 2048 bits, got 1024$/,
    ],
    [
      'a P-384 key with no algorithm',
      () => ecKey('P-384'),
      undefined,
      /^privateKey: a ec secp384r1 key has no supported algorithm/,
    ],
    [
      'a public key',
      () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
      undefined,
      /^privateKey: must be a private key, got a public key$/,
    ],
    [
      'text that is not a key',
      () => '-----BEGIN PRIVATE KEY-----\nS3CRETMATERIAL\n-----END PRIVATE KEY-----',
      undefined,
      /^privateKey: is not a usable private key/,
    ],
  ])('refuses %s', (_name, make, algorithm, message) => {
    const error = thrown(() => loadSigningKey(make(), algorithm, undefined));
    expect(error.code).toBe('GH_OAUTH_CONFIG_INVALID');
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('S3CRETMATERIAL');
  });
});

describe('error catalogue', () => {
  it('every GH_OAUTH_* code raised in src/net/oauth is documented in OAUTH_CLIENT_ERRORS', async () => {
    const dir = path.resolve(
      path.dirname(fileURLToPath(import.meta.url)),
      '../../../src/net/oauth',
    );
    const used = new Set<string>();
    for (const file of await readdir(dir)) {
      const text = await readFile(path.join(dir, file), 'utf8');
      for (const match of text.matchAll(/'(GH_OAUTH_[A-Z_]+)'/g)) used.add(match[1] ?? '');
    }
    expect([...used].sort()).toEqual(Object.keys(OAUTH_CLIENT_ERRORS).sort());
  });
});
