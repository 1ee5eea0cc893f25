import { generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  clientCredentialsClient,
  startAuthorizationServer,
  type AuthorizationServer,
  type ClientMetadata,
} from '../../helpers/authorization-server.js';
import {
  BUNDLES_RESOURCE,
  BUNDLES_SCOPE,
  BUNDLES_SERVER,
  closedPort,
  everythingShown,
  rejection,
  type SourceOptions,
  tokenSources,
} from './helpers.js';

/*
 * The token source against a real oidc-provider (OpenID-certified), one registered client
 * per authentication method. Every issued token is checked with the provider itself:
 * introspection (RFC 7662) for opaque tokens, its JWKS for JWT access tokens.
 */

const client = (id: string, method: string, extra: Record<string, unknown> = {}): ClientMetadata =>
  clientCredentialsClient(id, method, { scope: `${BUNDLES_SCOPE} keys:read`, ...extra });

// A client_id with ":" and a secret with every character form-encoding changes: without
// RFC 6749 section 2.3.1's encoding step, Basic authentication fails for this client.
const BASIC = { id: 'gatehouse:basic', secret: 'b4sic+secret/with:colon%25 & space=~!*' };
const POST = { id: 'gatehouse-post', secret: 'post-secret-9f8e7d6c5b4a' };
const JWT_SECRET = {
  id: 'gatehouse-secret-jwt',
  secret: 'a-shared-secret-of-more-than-32-bytes-0123456789',
};
const PRIVATE_KEY_JWT = 'gatehouse-private-key-jwt';
const SHORT_LIVED = { id: 'gatehouse-short-lived', secret: 'short-lived-secret-0123456789' };

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const publicJwk = (key: KeyObject, kid: string): JsonWebKey => ({
  ...key.export({ format: 'jwk' }),
  kid,
});
const pem = (key: KeyObject): string => key.export({ format: 'pem', type: 'pkcs8' }).toString();

let provider: AuthorizationServer;

beforeAll(async () => {
  provider = await startAuthorizationServer({
    ...BUNDLES_SERVER,
    clients: [
      client(BASIC.id, 'client_secret_basic', { client_secret: BASIC.secret }),
      client(POST.id, 'client_secret_post', { client_secret: POST.secret }),
      client(JWT_SECRET.id, 'client_secret_jwt', { client_secret: JWT_SECRET.secret }),
      client(PRIVATE_KEY_JWT, 'private_key_jwt', {
        jwks: {
          keys: [
            publicJwk(rsa.publicKey, 'rsa-1'),
            publicJwk(ec.publicKey, 'ec-1'),
            publicJwk(ed.publicKey, 'ed-1'),
          ],
        },
      }),
      client(SHORT_LIVED.id, 'client_secret_basic', { client_secret: SHORT_LIVED.secret }),
    ],
    tokenTtlS: { [SHORT_LIVED.id]: 20 },
  });
});

afterAll(async () => {
  await provider.stop();
});

/** Token sources closed after the test; `source` defaults to the provider's endpoint. */
const sources = tokenSources(() => ({ tokenEndpoint: provider.tokenEndpoint }));
const source = sources.source;

afterEach(async () => {
  vi.useRealTimers();
  await sources.closeAll();
});

describe('each client authentication method gets a token the provider accepts', () => {
  const cases: readonly { name: string; options: () => SourceOptions }[] = [
    {
      name: 'client_secret_basic (id and secret that need form-encoding)',
      options: () => ({ clientId: BASIC.id, method: 'client_secret_basic', secret: BASIC.secret }),
    },
    {
      name: 'client_secret_post',
      options: () => ({ clientId: POST.id, method: 'client_secret_post', secret: POST.secret }),
    },
    {
      name: 'client_secret_jwt (HS256)',
      options: () => ({
        clientId: JWT_SECRET.id,
        method: 'client_secret_jwt',
        secret: JWT_SECRET.secret,
      }),
    },
    {
      name: 'private_key_jwt, RS256 from PEM, no kid',
      options: () => ({
        clientId: PRIVATE_KEY_JWT,
        method: 'private_key_jwt',
        privateKey: pem(rsa.privateKey),
      }),
    },
    {
      name: 'private_key_jwt, PS256 with the same RSA key',
      options: () => ({
        clientId: PRIVATE_KEY_JWT,
        method: 'private_key_jwt',
        privateKey: pem(rsa.privateKey),
        algorithm: 'PS256',
        keyId: 'rsa-1',
      }),
    },
    {
      name: 'private_key_jwt, ES256 from a JWK (kid taken from it)',
      options: () => ({
        clientId: PRIVATE_KEY_JWT,
        method: 'private_key_jwt',
        privateKey: { ...ec.privateKey.export({ format: 'jwk' }), kid: 'ec-1' },
      }),
    },
    {
      name: 'private_key_jwt, EdDSA (Ed25519)',
      options: () => ({
        clientId: PRIVATE_KEY_JWT,
        method: 'private_key_jwt',
        privateKey: pem(ed.privateKey),
      }),
    },
    {
      name: 'private_key_jwt with the issuer as the assertion audience',
      options: () => ({
        clientId: PRIVATE_KEY_JWT,
        method: 'private_key_jwt',
        privateKey: pem(ec.privateKey),
        issuer: provider.issuer,
        assertionAudience: 'issuer',
      }),
    },
  ];

  it.each(cases)('$name', async ({ options }) => {
    const tokens = source({ ...options(), scope: BUNDLES_SCOPE });
    const token = await tokens.getAccessToken();
    const introspection = await provider.introspect(token);
    expect(introspection).toMatchObject({
      active: true,
      client_id: options().clientId,
      scope: BUNDLES_SCOPE,
      token_type: 'Bearer',
    });
    expect(await tokens.authorizationHeader()).toEqual({ authorization: `Bearer ${token}` });
  });

  it('finds the token endpoint through the issuer discovery document', async () => {
    const tokens = sources.exact({
      issuer: provider.issuer,
      clientId: POST.id,
      method: 'client_secret_post',
      secret: POST.secret,
    });
    const token = await tokens.getAccessToken();
    expect(await provider.introspect(token)).toMatchObject({ active: true, client_id: POST.id });
  });

  it('asks for a resource (RFC 8707): a JWT access token for it, verifiable with the provider JWKS', async () => {
    const tokens = source({
      clientId: BASIC.id,
      method: 'client_secret_basic',
      secret: BASIC.secret,
      scope: BUNDLES_SCOPE,
      resource: BUNDLES_RESOURCE,
    });
    const token = await tokens.getAccessToken();
    const { payload, protectedHeader } = await jwtVerify(
      token,
      createRemoteJWKSet(new URL(provider.jwksUri)),
      { issuer: provider.issuer, audience: BUNDLES_RESOURCE, typ: 'at+jwt' },
    );
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload).toMatchObject({ client_id: BASIC.id, scope: BUNDLES_SCOPE });
  });
});

describe('failures', () => {
  it.each([
    ['client_secret_basic', BASIC.id],
    ['client_secret_post', POST.id],
    ['client_secret_jwt', JWT_SECRET.id],
  ] as const)(
    'wrong secret with %s: invalid_client, and the secret is nowhere in the error',
    async (method, clientId) => {
      const wrong = 'wrong-secret-that-must-never-be-shown-0123456789';
      const error = await rejection(source({ clientId, method, secret: wrong }).getAccessToken());
      expect(error.code).toBe('GH_OAUTH_TOKEN_FAILED');
      expect(error.oauthError).toBe('invalid_client');
      expect(error.status).toBe(401);
      expect(error.message).toContain('invalid_client');
      expect(everythingShown(error)).not.toContain(wrong);
    },
  );

  it('private_key_jwt signed with a key the client did not register: invalid_client', async () => {
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const error = await rejection(
      source({
        clientId: PRIVATE_KEY_JWT,
        method: 'private_key_jwt',
        privateKey: pem(stranger.privateKey),
      }).getAccessToken(),
    );
    expect(error.oauthError).toBe('invalid_client');
  });

  it('a scope the client may not have: invalid_scope from the server, passed on', async () => {
    const error = await rejection(
      source({
        clientId: POST.id,
        method: 'client_secret_post',
        secret: POST.secret,
        scope: 'openid',
      }).getAccessToken(),
    );
    expect(error.oauthError).toBe('invalid_scope');
    expect(error.status).toBe(400);
  });

  it('token endpoint down: GH_OAUTH_TOKEN_FAILED naming the endpoint and the network error', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}/token`;
    const error = await rejection(
      source({
        tokenEndpoint: endpoint,
        clientId: POST.id,
        method: 'client_secret_post',
        secret: POST.secret,
      }).getAccessToken(),
    );
    expect(error.code).toBe('GH_OAUTH_TOKEN_FAILED');
    expect(error.message).toContain(endpoint);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.cause).toBeInstanceOf(Error);
    expect(everythingShown(error)).not.toContain(POST.secret);
  });

  it('issuer down: the discovery failure, named as such', async () => {
    const issuer = `http://127.0.0.1:${await closedPort()}`;
    const tokens = sources.exact({
      issuer,
      clientId: POST.id,
      method: 'client_secret_post',
      secret: POST.secret,
    });
    const error = await rejection(tokens.getAccessToken());
    expect(error.message).toMatch(
      /^discovery http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration failed: .*ECONNREFUSED/,
    );
  });

  it('mix-up: a discovery document naming another issuer is refused (OIDC Discovery 4.3)', async () => {
    // Same document (the trailing "/" is dropped to build the URL), but the configured
    // issuer string differs from the one it names: no credentials are sent.
    const before = provider.hits('/token');
    const tokens = sources.exact({
      issuer: `${provider.issuer}/`,
      clientId: POST.id,
      method: 'client_secret_post',
      secret: POST.secret,
    });
    const error = await rejection(tokens.getAccessToken());
    expect(error.message).toContain(`names issuer "${provider.issuer}"`);
    expect(provider.hits('/token')).toBe(before);
  });
});

describe('caching and sharing', () => {
  it('two calls make one token request and return the same token', async () => {
    const tokens = source({ clientId: POST.id, method: 'client_secret_post', secret: POST.secret });
    const before = provider.hits('/token');
    const first = await tokens.getAccessToken();
    const second = await tokens.getAccessToken();
    expect(second).toBe(first);
    expect(provider.hits('/token') - before).toBe(1);
  });

  it('concurrent callers share one request', async () => {
    const tokens = source({
      clientId: JWT_SECRET.id,
      method: 'client_secret_jwt',
      secret: JWT_SECRET.secret,
    });
    const before = provider.hits('/token');
    const results = await Promise.all(Array.from({ length: 10 }, () => tokens.getAccessToken()));
    expect(new Set(results).size).toBe(1);
    expect(provider.hits('/token') - before).toBe(1);
  });

  it('a failure is shared by concurrent callers and not cached: the next call asks again', async () => {
    const tokens = source({
      clientId: POST.id,
      method: 'client_secret_post',
      secret: 'not-the-secret',
    });
    const before = provider.hits('/token');
    const errors = await Promise.all(
      Array.from({ length: 5 }, () => rejection(tokens.getAccessToken())),
    );
    expect(new Set(errors).size).toBe(1);
    expect(provider.hits('/token') - before).toBe(1);
    await rejection(tokens.getAccessToken());
    expect(provider.hits('/token') - before).toBe(2);
  });

  it('after expires_in minus refreshSkewS a new token is fetched (600 s token, 30 s skew)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const tokens = source({
      clientId: BASIC.id,
      method: 'client_secret_basic',
      secret: BASIC.secret,
    });
    const before = provider.hits('/token');
    const first = await tokens.getAccessToken();

    vi.setSystemTime(start + 569_000);
    expect(await tokens.getAccessToken()).toBe(first);
    expect(provider.hits('/token') - before).toBe(1);

    vi.setSystemTime(start + 571_000);
    const second = await tokens.getAccessToken();
    expect(second).not.toBe(first);
    expect(provider.hits('/token') - before).toBe(2);
    expect(await provider.introspect(second)).toMatchObject({ active: true });
  });

  it('a token shorter-lived than the skew is still reused for half its lifetime (20 s token)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const tokens = source({
      clientId: SHORT_LIVED.id,
      method: 'client_secret_basic',
      secret: SHORT_LIVED.secret,
      refreshSkewS: 30,
    });
    const before = provider.hits('/token');
    const first = await tokens.getAccessToken();
    vi.setSystemTime(start + 9_000);
    expect(await tokens.getAccessToken()).toBe(first);
    vi.setSystemTime(start + 11_000);
    expect(await tokens.getAccessToken()).not.toBe(first);
    expect(provider.hits('/token') - before).toBe(2);
  });

  it('invalidate() forgets the token; every request signs a fresh assertion (the provider refuses a replayed jti)', async () => {
    const tokens = source({
      clientId: PRIVATE_KEY_JWT,
      method: 'private_key_jwt',
      privateKey: pem(rsa.privateKey),
    });
    const first = await tokens.getAccessToken();
    tokens.invalidate();
    const second = await tokens.getAccessToken();
    expect(second).not.toBe(first);
  });

  it('close() ends the source: later calls reject', async () => {
    const tokens = source({ clientId: POST.id, method: 'client_secret_post', secret: POST.secret });
    await tokens.getAccessToken();
    await tokens.close();
    const error = await rejection(tokens.getAccessToken());
    expect(error.message).toContain('closed');
  });
});

describe('secrets stay out of sight', () => {
  it('inspecting or serializing the token source shows no secret, key or token', async () => {
    const secretSource = source({
      clientId: POST.id,
      method: 'client_secret_post',
      secret: POST.secret,
    });
    const token = await secretSource.getAccessToken();
    const keySource = source({
      clientId: PRIVATE_KEY_JWT,
      method: 'private_key_jwt',
      privateKey: pem(ec.privateKey),
    });
    await keySource.getAccessToken();
    const shown = everythingShown(secretSource) + everythingShown(keySource);
    expect(shown).not.toContain(POST.secret);
    expect(shown).not.toContain(token);
    expect(shown).not.toContain('PRIVATE KEY');
    expect(shown).not.toContain(String(ec.privateKey.export({ format: 'jwk' }).d));
  });
});
