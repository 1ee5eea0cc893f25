import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  IntrospectionClient,
  OAuthClientAuthenticator,
  type ClientAuthOptions,
  type IntrospectionClientOptions,
  type IntrospectionResult,
} from '../../../src/auth/introspection/introspection-client.js';
import { introspectionDenyCode } from '../../../src/auth/introspection/deny-intent.js';
import { grantedScopes } from '../../../src/auth/scopes.js';
import { everythingShown } from '../../net/oauth/helpers.js';
import {
  APP,
  resourceServerClient,
  startAuthorizationServer,
  type AuthorizationServer,
  type ClientMetadata,
} from '../../helpers/authorization-server.js';

/*
 * The introspection client against a real oidc-provider: opaque client credentials
 * tokens, introspected by resource-server clients registered for each authentication
 * method, and revoked through RFC 7009. Requests are counted at the provider.
 */

const INTROSPECTION = '/token/introspection';
const RS_BASIC = { id: 'orders-api', secret: 'orders-api-secret-0123456789' };
const RS_POST = { id: 'orders-api-post', secret: 'orders-api-post-secret-0123' };
const RS_JWT = { id: 'orders-api-jwt', secret: 'orders-api-jwt-secret-of-at-least-32-bytes' };
const RS_PRIVATE_KEY = 'orders-api-private-key';
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });

/** The resource servers: registered clients that may introspect, and get no tokens. */
const RESOURCE_SERVERS: readonly ClientMetadata[] = [
  resourceServerClient(RS_BASIC.id, 'client_secret_basic', { client_secret: RS_BASIC.secret }),
  resourceServerClient(RS_POST.id, 'client_secret_post', { client_secret: RS_POST.secret }),
  resourceServerClient(RS_JWT.id, 'client_secret_jwt', { client_secret: RS_JWT.secret }),
  resourceServerClient(RS_PRIVATE_KEY, 'private_key_jwt', {
    jwks: { keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'rs-1' }] },
  }),
];

let provider: AuthorizationServer;

beforeAll(async () => {
  provider = await startAuthorizationServer({
    clients: RESOURCE_SERVERS,
    introspectors: RESOURCE_SERVERS.map((c) => c.client_id),
  });
});

afterAll(async () => {
  await provider.stop();
});

const authenticators: OAuthClientAuthenticator[] = [];
function client(
  options: Partial<IntrospectionClientOptions> = {},
  auth: ClientAuthOptions = {
    clientId: RS_BASIC.id,
    method: 'client_secret_basic',
    secret: RS_BASIC.secret,
  },
): IntrospectionClient {
  const clientAuth = new OAuthClientAuthenticator(auth);
  authenticators.push(clientAuth);
  return new IntrospectionClient({
    endpoint: provider.introspectionEndpoint,
    clientAuth,
    ...options,
  });
}

afterEach(async () => {
  await Promise.all(authenticators.splice(0).map((a) => a.close()));
});

/** A clock the test moves; starts at the real time, since the provider's clock is real. */
function testClock(): { now: () => number; advance: (seconds: number) => void } {
  let offsetMs = 0;
  return {
    now: () => Date.now() + offsetMs,
    advance: (seconds) => {
      offsetMs += seconds * 1000;
    },
  };
}

function active(result: IntrospectionResult) {
  if (result.kind !== 'active') throw new Error(`expected active, got ${JSON.stringify(result)}`);
  return result.claims;
}

describe('tokens from the real provider', () => {
  it('an active opaque token is active, with the claims the provider holds', async () => {
    const token = await provider.issueToken({ scope: 'orders:read orders:write' });
    const before = Math.floor(Date.now() / 1000);
    const claims = active(await client().introspect(token));

    expect(claims.active).toBe(true);
    expect(claims.client_id).toBe(APP.id);
    expect(claims.scope).toBe('orders:read orders:write');
    expect(claims.token_type).toBe('Bearer');
    expect(claims.iss).toBe(provider.issuer);
    // ttl.ClientCredentials is 600 s.
    expect(claims.exp).toBeGreaterThanOrEqual(before + 599);
    expect(claims.exp).toBeLessThanOrEqual(before + 601);
    expect(typeof claims.iat).toBe('number');
    // The claims feed the scope check as JWT claims do (RFC 7662 section 2.2 `scope`).
    expect([...grantedScopes(claims)]).toEqual(['orders:read', 'orders:write']);
  });

  it('sends Accept: application/json and client_secret_basic (RFC 7662 section 2.1)', async () => {
    const token = await provider.issueToken();
    active(await client().introspect(token));
    const headers = provider.lastHeaders(INTROSPECTION);
    expect(headers?.accept).toBe('application/json');
    expect(headers?.['content-type']).toBe('application/x-www-form-urlencoded');
    expect(headers?.authorization).toMatch(/^Basic /);
  });

  it('a random string is inactive', async () => {
    const result = await client().introspect(randomBytes(32).toString('base64url'));
    expect(result).toEqual({ kind: 'inactive' });
    expect(introspectionDenyCode(result)).toBe('GH_ERR_TOKEN_INACTIVE');
  });

  it('an empty token is inactive without asking', async () => {
    const before = provider.hits(INTROSPECTION);
    expect(await client().introspect('')).toEqual({ kind: 'inactive' });
    expect(provider.hits(INTROSPECTION)).toBe(before);
  });

  describe('each resource-server authentication method is accepted', () => {
    const cases: readonly { name: string; auth: () => ClientAuthOptions }[] = [
      {
        name: 'client_secret_post',
        auth: () => ({
          clientId: RS_POST.id,
          method: 'client_secret_post',
          secret: RS_POST.secret,
        }),
      },
      {
        name: 'client_secret_jwt (aud: the introspection endpoint)',
        auth: () => ({ clientId: RS_JWT.id, method: 'client_secret_jwt', secret: RS_JWT.secret }),
      },
      {
        name: 'private_key_jwt, ES256',
        auth: () => ({
          clientId: RS_PRIVATE_KEY,
          method: 'private_key_jwt',
          privateKey: ec.privateKey,
          keyId: 'rs-1',
        }),
      },
      {
        name: 'private_key_jwt, aud: the issuer',
        auth: () => ({
          clientId: RS_PRIVATE_KEY,
          method: 'private_key_jwt',
          privateKey: ec.privateKey,
          assertionAudience: provider.issuer,
        }),
      },
    ];
    it.each(cases)('$name', async ({ auth }) => {
      const token = await provider.issueToken();
      // Two requests: each carries a fresh assertion (its jti is single-use).
      const introspector = client({ cache: { maxTtlS: 0 } }, auth());
      expect(active(await introspector.introspect(token)).client_id).toBe(APP.id);
      expect(active(await introspector.introspect(token)).client_id).toBe(APP.id);
      expect(introspector.stats().requests).toBe(2);
    });
  });
});

describe('revocation (RFC 7009) and the cache', () => {
  it('a revoked token is answered from the cache until maxTtlS, then inactive, cached for inactiveTtlS', async () => {
    const clock = testClock();
    const introspector = client({ now: clock.now, cache: { maxTtlS: 30, inactiveTtlS: 5 } });
    const token = await provider.issueToken();
    const before = provider.hits(INTROSPECTION);

    active(await introspector.introspect(token));
    await provider.revoke(token);
    // The documented window: the cached answer stands until maxTtlS runs out.
    active(await introspector.introspect(token));
    expect(provider.hits(INTROSPECTION)).toBe(before + 1);

    clock.advance(31);
    expect(await introspector.introspect(token)).toEqual({ kind: 'inactive' });
    expect(provider.hits(INTROSPECTION)).toBe(before + 2);
    // The inactive answer is reused for inactiveTtlS...
    expect(await introspector.introspect(token)).toEqual({ kind: 'inactive' });
    expect(provider.hits(INTROSPECTION)).toBe(before + 2);
    // ...and no longer.
    clock.advance(6);
    expect(await introspector.introspect(token)).toEqual({ kind: 'inactive' });
    expect(provider.hits(INTROSPECTION)).toBe(before + 3);
  });

  it('without an active cache (maxTtlS: 0), a revocation is seen at once', async () => {
    const introspector = client({ cache: { maxTtlS: 0 } });
    const token = await provider.issueToken();
    active(await introspector.introspect(token));
    await provider.revoke(token);
    expect(await introspector.introspect(token)).toEqual({ kind: 'inactive' });
  });

  it('a second introspection of the same token is served from the cache: no request', async () => {
    const introspector = client();
    const token = await provider.issueToken();
    const before = provider.hits(INTROSPECTION);
    const first = await introspector.introspect(token);
    const second = await introspector.introspect(token);
    expect(second).toEqual(first);
    expect(provider.hits(INTROSPECTION)).toBe(before + 1);
    expect(introspector.stats()).toMatchObject({ requests: 1, cacheHits: 1, cachedEntries: 1 });
  });

  it('fifty concurrent introspections of one token make one request', async () => {
    const introspector = client();
    const token = await provider.issueToken();
    const before = provider.hits(INTROSPECTION);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => introspector.introspect(token)),
    );
    expect(provider.hits(INTROSPECTION)).toBe(before + 1);
    for (const result of results) expect(active(result).client_id).toBe(APP.id);
    expect(introspector.stats()).toMatchObject({ requests: 1, sharedRequests: 49 });
  });
});

describe('failures', () => {
  it('the introspecting client with a wrong secret is unavailable, never active, never cached', async () => {
    const token = await provider.issueToken();
    const introspector = client(
      {},
      { clientId: RS_BASIC.id, method: 'client_secret_basic', secret: 'not-the-secret' },
    );
    const results = [await introspector.introspect(token), await introspector.introspect(token)];
    for (const result of results) {
      expect(result).toMatchObject({ kind: 'unavailable', code: 'GH_INTROSPECTION_HTTP_STATUS' });
      expect(introspectionDenyCode(result)).toBe('GH_ERR_INTROSPECTION_UNAVAILABLE');
    }
    // RFC 7662 section 2.3 / RFC 6749 section 5.2.
    expect(results[0]?.kind === 'unavailable' && results[0].reason).toMatch(
      /HTTP 401 invalid_client$/,
    );
    expect(introspector.stats()).toMatchObject({ requests: 2, cacheHits: 0 });
    expect(everythingShown(results)).not.toContain(token);
    expect(everythingShown(results)).not.toContain('not-the-secret');
  });

  it('a client the provider does not allow to introspect gets inactive, not active', async () => {
    // APP is a valid client, but not a resource server (features.introspection.allowedPolicy).
    const token = await provider.issueToken();
    const introspector = client(
      {},
      { clientId: APP.id, method: 'client_secret_basic', secret: APP.secret },
    );
    expect(await introspector.introspect(token)).toEqual({ kind: 'inactive' });
  });

  it('the token is in no result, no stats and no inspection of the client', async () => {
    const token = await provider.issueToken();
    const introspector = client();
    const result = await introspector.introspect(token);
    active(result);
    expect(everythingShown(result)).not.toContain(token);
    expect(everythingShown(introspector)).not.toContain(token);
    expect(everythingShown(introspector.stats())).not.toContain(token);
  });
});
