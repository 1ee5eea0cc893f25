import { createPublicKey, createSign, KeyObject, type JsonWebKey } from 'node:crypto';
import { CompactSign, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpopReplayCache } from '../../src/auth/dpop/replay-cache.js';
import { CheckPipeline } from '../../src/check/pipeline.js';
import type { Decision, DenyDecision } from '../../src/decision/decision.js';
import { silentLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SnapshotStore } from '../../src/snapshot/snapshot-store.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { b64url, createTestIssuer, TEST_AUDIENCE } from '../helpers/token-factory.js';
import { bearer, checkInput } from './check-input-factory.js';

// The pipeline called directly, transport-free, over a snapshot built from the real
// fixture policies by the real opa compiler.

let t: TestGatehouse;

beforeAll(async () => {
  t = await startTestGatehouse({ config: { grpc: { enabled: false }, http: { enabled: false } } });
});
afterAll(async () => {
  await t.close();
});

function check(overrides: Parameters<typeof checkInput>[0]): Promise<Decision> {
  return t.gatehouse.pipeline.check(checkInput(overrides));
}

function expectDeny(decision: Decision): DenyDecision {
  expect(decision.allowed).toBe(false);
  if (decision.allowed) throw new Error('unreachable');
  return decision;
}

function header(decision: DenyDecision, name: string): string | undefined {
  return decision.headers.find(([n]) => n === name)?.[1];
}

describe('allowed requests', () => {
  it('allows a reader to read an order, passing headers from the policy', async () => {
    const token = await t.issuer.sign();
    const decision = await check({ headers: bearer(token) });
    expect(decision).toMatchObject({
      allowed: true,
      code: 'GH_OK',
      api: { id: 'orders.get', service: 'orders' },
    });
    if (!decision.allowed) throw new Error('unreachable');
    expect(Object.fromEntries(decision.upstreamHeaders)).toEqual({
      'x-user-sub': 'alice',
      'x-order-id': '42',
    });
    // The policy's removal, and every identity header this allow does not set: x-user-sub
    // is set, so it overwrites the client's instead (Envoy removes after it sets).
    expect(decision.upstreamHeadersToRemove).toEqual(
      expect.arrayContaining(['x-internal-debug', 'x-user-email', 'x-http-method-override']),
    );
    expect(decision.upstreamHeadersToRemove).not.toContain('x-user-sub');
    expect(decision.responseHeaders).toEqual([['x-gatehouse-api', 'orders.get']]);
    expect(decision.revision).toBe(t.gatehouse.store.current()?.revision);
  });

  it('matches a literal segment before a template (/users/me before /users/{id})', async () => {
    const token = await t.issuer.sign();
    const me = await check({ path: '/users/me', headers: bearer(token) });
    const byId = await check({ path: '/users/7', headers: bearer(token) });
    expect(me.allowed && Object.fromEntries(me.upstreamHeaders)).toEqual({ 'x-route': 'me' });
    expect(byId.allowed && Object.fromEntries(byId.upstreamHeaders)).toEqual({
      'x-route': 'by-id:7',
    });
  });

  it('lets anonymous requests through an API with auth mode none', async () => {
    expect((await check({ path: '/public/docs' })).allowed).toBe(true);
  });

  it('accepts no token on an optional API but still rejects an invalid one', async () => {
    const anonymous = await check({ path: '/maybe' });
    expect(anonymous.allowed && Object.fromEntries(anonymous.upstreamHeaders)).toEqual({
      'x-caller': 'anonymous',
    });
    const withToken = await check({ path: '/maybe', headers: bearer(await t.issuer.sign()) });
    expect(withToken.allowed && Object.fromEntries(withToken.upstreamHeaders)).toEqual({
      'x-caller': 'alice',
    });
    const forged = await check({ path: '/maybe', headers: bearer(`${await t.issuer.sign()}x`) });
    expect(expectDeny(forged).status).toBe(401);
  });

  it('ignores a non-Bearer scheme and asks for a bearer token', async () => {
    const decision = expectDeny(await check({ headers: { authorization: 'Basic YWxpY2U6cHc=' } }));
    expect(decision.code).toBe('GH_ERR_NO_CREDENTIAL');
  });
});

describe('answers a client can act on', () => {
  it('missing token: 401 with a challenge that has no error attribute (RFC 6750 3.1)', async () => {
    const decision = expectDeny(await check({}));
    expect(decision.code).toBe('GH_ERR_NO_CREDENTIAL');
    expect(decision.status).toBe(401);
    expect(header(decision, 'www-authenticate')).toBe('Bearer realm="test"');
  });

  it('missing scope: 403 insufficient_scope naming the scope', async () => {
    const token = await t.issuer.sign({ scope: 'profile' });
    const decision = expectDeny(await check({ path: '/orders', headers: bearer(token) }));
    expect(decision.code).toBe('GH_ERR_SCOPE_MISSING');
    expect(decision.status).toBe(403);
    expect(header(decision, 'www-authenticate')).toMatch(
      /error="insufficient_scope".*scope="orders:read"/,
    );
  });

  it('scopes may come as an scp array', async () => {
    const token = await t.issuer.sign({ scope: undefined, scp: ['orders:read'] });
    expect((await check({ path: '/orders', headers: bearer(token) })).allowed).toBe(true);
  });

  it('policy object deny: its status, body and headers reach the client', async () => {
    const token = await t.issuer.sign();
    const decision = expectDeny(
      await check({ method: 'POST', path: '/orders', headers: bearer(token) }),
    );
    expect(decision).toMatchObject({
      code: 'GH_ERR_POLICY_DENIED',
      status: 403,
      body: 'read-only',
    });
    expect(header(decision, 'x-reason')).toBe('read-only');
  });

  it('the first denying level names itself: a blocked subject is stopped by the global policy', async () => {
    const token = await t.issuer.sign({ sub: 'mallory' });
    const decision = expectDeny(await check({ headers: bearer(token) }));
    expect(decision.code).toBe('GH_ERR_POLICY_DENIED');
    expect(decision.reason).toBe('denied by global policy test.global');
  });

  it('a service-level deny is named as the service policy', async () => {
    const token = await t.issuer.sign({ sub: '' });
    const decision = expectDeny(await check({ headers: bearer(token) }));
    expect(decision.reason).toBe('denied by service policy test.orders_service');
  });
});

describe('token attacks are denied with 401 invalid_token', () => {
  /** Claims that would make alice an admin of the test issuer for ten minutes. */
  function adminClaims(): Record<string, unknown> {
    return {
      iss: t.issuer.issuer,
      aud: TEST_AUDIENCE,
      sub: 'alice',
      roles: ['admin'],
      exp: Math.floor(Date.now() / 1000) + 600,
    };
  }

  async function expectInvalidToken(
    token: string,
    code: string,
    path = '/orders/1',
  ): Promise<void> {
    const decision = expectDeny(await check({ path, headers: bearer(token) }));
    expect(decision.code).toBe(code);
    expect(decision.status).toBe(401);
    expect(header(decision, 'www-authenticate')).toMatch(
      /^Bearer realm="test", error="invalid_token"/,
    );
  }

  it('alg none', async () => {
    await expectInvalidToken(
      `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(adminClaims())}.`,
      'GH_ERR_TOKEN_ALG',
    );
  });

  it('HS256 signed with the RSA public key as the HMAC secret', async () => {
    const pem = createPublicKey({
      key: t.issuer.publicJwk as JsonWebKey,
      format: 'jwk',
    })
      .export({ type: 'spki', format: 'pem' })
      .toString();
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ sub: 'alice', roles: ['admin'] })
      .setProtectedHeader({ alg: 'HS256', kid: t.issuer.kid })
      .setIssuer(t.issuer.issuer)
      .setAudience(TEST_AUDIENCE)
      .setExpirationTime(now + 600)
      .sign(new TextEncoder().encode(pem));
    await expectInvalidToken(token, 'GH_ERR_TOKEN_ALG');
  });

  it('expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectInvalidToken(
      await t.issuer.sign({ iat: now - 7200, exp: now - 3600 }),
      'GH_ERR_TOKEN_EXPIRED',
    );
  });

  it('expired within the clock skew is still accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await t.issuer.sign({ exp: now - 5 });
    expect((await check({ headers: bearer(token) })).allowed).toBe(true);
  });

  it('not yet valid', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectInvalidToken(
      await t.issuer.sign({ nbf: now + 3600 }),
      'GH_ERR_TOKEN_NOT_YET_VALID',
    );
  });

  it('wrong issuer', async () => {
    const stranger = await createTestIssuer('https://evil.example', t.issuer.kid);
    await expectInvalidToken(await stranger.sign(), 'GH_ERR_TOKEN_ISSUER');
  });

  it('right issuer name, signed by another key with the same kid', async () => {
    const impostor = await createTestIssuer(t.issuer.issuer, t.issuer.kid);
    await expectInvalidToken(await impostor.sign(), 'GH_ERR_TOKEN_SIGNATURE');
  });

  it('wrong audience', async () => {
    await expectInvalidToken(await t.issuer.sign({ aud: 'another-api' }), 'GH_ERR_TOKEN_AUDIENCE');
  });

  it('unknown kid', async () => {
    await expectInvalidToken(
      await t.issuer.sign({}, { header: { kid: 'rotated-away' } }),
      'GH_ERR_TOKEN_KEY_UNKNOWN',
    );
  });

  it('oversized token', async () => {
    const token = await t.issuer.sign({ padding: 'x'.repeat(9000) });
    await expectInvalidToken(token, 'GH_ERR_TOKEN_TOO_LARGE');
  });

  it('tampered payload (signature no longer matches)', async () => {
    const [h, , s] = (await t.issuer.sign()).split('.');
    const forgedPayload = b64url(adminClaims());
    await expectInvalidToken(
      `${h ?? ''}.${forgedPayload}.${s ?? ''}`,
      'GH_ERR_TOKEN_SIGNATURE',
      '/admin',
    );
  });

  it('no exp claim', async () => {
    await expectInvalidToken(await t.issuer.sign({}, { omit: ['exp'] }), 'GH_ERR_TOKEN_CLAIMS');
  });

  it('an encrypted token (JWE compact form)', async () => {
    await expectInvalidToken('eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d', 'GH_ERR_TOKEN_MALFORMED');
  });

  it('a JWS whose payload is not JSON claims', async () => {
    const jws = await new CompactSign(new TextEncoder().encode('not json'))
      .setProtectedHeader({ alg: 'RS256', kid: t.issuer.kid })
      .sign(t.issuer.privateKey);
    await expectInvalidToken(jws, 'GH_ERR_TOKEN_MALFORMED');
  });
});

describe('RFC 8725 / RFC 9068 token hardening', () => {
  async function expectDenied(token: string, code: string): Promise<void> {
    const decision = expectDeny(await check({ headers: bearer(token) }));
    expect(decision.code).toBe(code);
    expect(decision.status).toBe(401);
  }

  it.each(['jwk', 'jku', 'x5u'])('a token carrying a "%s" key hint in its header', async (hint) => {
    const value = hint === 'jwk' ? t.issuer.publicJwk : 'https://evil.example/keys';
    await expectDenied(
      await t.issuer.sign({}, { header: { [hint]: value } }),
      'GH_ERR_TOKEN_HEADER',
    );
  });

  it('a DPoP proof presented as an access token', async () => {
    await expectDenied(
      await t.issuer.sign({}, { header: { typ: 'dpop+jwt' } }),
      'GH_ERR_TOKEN_HEADER',
    );
  });

  it('an unknown critical header parameter', async () => {
    // jose will not sign with an unknown crit parameter, so sign by hand with node:crypto.
    const now = Math.floor(Date.now() / 1000);
    const signingInput = `${b64url({ alg: 'RS256', kid: t.issuer.kid, crit: ['x-unknown'], 'x-unknown': true })}.${b64url(
      {
        iss: t.issuer.issuer,
        aud: TEST_AUDIENCE,
        sub: 'alice',
        roles: ['reader'],
        exp: now + 600,
      },
    )}`;
    const signature = createSign('RSA-SHA256')
      .update(signingInput)
      .sign(KeyObject.from(t.issuer.privateKey))
      .toString('base64url');
    await expectDenied(`${signingInput}.${signature}`, 'GH_ERR_TOKEN_MALFORMED');
  });

  it('an ID token (audience is the client, not this API)', async () => {
    await expectDenied(
      await t.issuer.sign(
        { aud: 'web-client', nonce: 'n-0S6_WzA2Mj', auth_time: 1 },
        { header: { typ: 'JWT' } },
      ),
      'GH_ERR_TOKEN_AUDIENCE',
    );
  });

  it.each([
    ['a string exp', { exp: String(Math.floor(Date.now() / 1000) + 600) }],
    ['a huge exp', { exp: 1e15 }],
    ['a non-string sub', { sub: 42 }],
  ])('%s', async (_, claims) => {
    // Deliberately ill-typed claims: what a forger or a broken issuer would send.
    await expectDenied(await t.issuer.sign(claims as unknown as JWTPayload), 'GH_ERR_TOKEN_CLAIMS');
  });

  it('a repeated token is served from the verified-token cache', async () => {
    const token = await t.issuer.sign({ sub: 'cache-me' });
    const snapshot = t.gatehouse.store.current();
    const cache = snapshot && t.gatehouse.pipeline.tokenCacheFor(snapshot);
    const before = cache?.hits ?? 0;
    expect((await check({ headers: bearer(token) })).allowed).toBe(true);
    expect((await check({ headers: bearer(token) })).allowed).toBe(true);
    expect(cache?.hits).toBe(before + 1);
  });
});

describe('typ at+jwt required (RFC 9068)', () => {
  let strict: TestGatehouse;
  beforeAll(async () => {
    strict = await startTestGatehouse({
      config: { grpc: { enabled: false }, http: { enabled: false } },
      issuer: { requireTypAtJwt: true },
    });
  });
  afterAll(async () => {
    await strict.close();
  });

  it('refuses a JWT whose typ is not at+jwt, accepts one that is', async () => {
    const plain = await strict.issuer.sign({}, { header: { typ: 'JWT' } });
    const denied = expectDeny(
      await strict.gatehouse.pipeline.check(checkInput({ headers: bearer(plain) })),
    );
    expect(denied.code).toBe('GH_ERR_TOKEN_HEADER');
    const at = await strict.issuer.sign();
    expect(
      (await strict.gatehouse.pipeline.check(checkInput({ headers: bearer(at) }))).allowed,
    ).toBe(true);
  });
});

describe('claims to headers', () => {
  function upstream(decision: Decision): Record<string, string> {
    if (!decision.allowed) throw new Error(`denied: ${decision.code}`);
    return Object.fromEntries(decision.upstreamHeaders);
  }

  it('maps verified claims to upstream headers, service and API mappings together', async () => {
    const token = await t.issuer.sign({
      email: 'alice@example.com',
      tenant: { id: 't-1' },
      roles: ['reader', 'writer'],
    });
    const decision = await check({ path: '/profile', headers: bearer(token) });
    expect(upstream(decision)).toEqual({
      'x-user-sub': 'alice',
      'x-user-roles': 'reader,writer',
      'x-user-email': 'alice@example.com',
      'x-tenant': 't-1',
    });
  });

  it('a client-sent x-user-sub never reaches the upstream: overwritten when set, else removed', async () => {
    const token = await t.issuer.sign();
    const decision = await check({
      path: '/profile',
      headers: { ...bearer(token), 'x-user-sub': 'mallory', 'x-tenant': 'evil' },
    });
    if (!decision.allowed) throw new Error('expected allow');
    // Set from claims: our value replaces the client's (and is not removed after it is set).
    expect(upstream(decision)['x-user-sub']).toBe('alice');
    expect(decision.upstreamHeadersToRemove).not.toContain('x-user-sub');
    // No tenant claim: no value, and the client's x-tenant is removed.
    expect(upstream(decision)['x-tenant']).toBeUndefined();
    expect(decision.upstreamHeadersToRemove).toContain('x-tenant');
  });

  it('a claim value containing \\r\\n (header injection) denies with GH_ERR_CLAIM_NOT_REPRESENTABLE', async () => {
    const token = await t.issuer.sign({ email: 'a@example.com\r\nx-admin: true' });
    const decision = expectDeny(await check({ path: '/profile', headers: bearer(token) }));
    expect(decision).toMatchObject({ code: 'GH_ERR_CLAIM_NOT_REPRESENTABLE', status: 403 });
    expect(decision.reason).not.toContain('x-admin');
  });

  it('a missing claim sets no header, and the header name is still removed', async () => {
    const decision = await check({ path: '/profile', headers: bearer(await t.issuer.sign()) });
    expect(upstream(decision)['x-tenant']).toBeUndefined();
    expect(decision.allowed && decision.upstreamHeadersToRemove).toContain('x-tenant');
  });
});

describe('scopes: any-of', () => {
  it('one of the listed scopes is enough', async () => {
    const token = await t.issuer.sign({ scope: 'profile admin:all' });
    expect((await check({ path: '/reports', headers: bearer(token) })).allowed).toBe(true);
  });

  it('none of them is a 403 insufficient_scope naming them', async () => {
    const token = await t.issuer.sign({ scope: 'profile' });
    const decision = expectDeny(await check({ path: '/reports', headers: bearer(token) }));
    expect(decision.code).toBe('GH_ERR_SCOPE_MISSING');
    expect(header(decision, 'www-authenticate')).toMatch(/scope="reports:read admin:all"/);
  });
});

describe('malformed requests are denied with 400', () => {
  it('two Authorization headers (joined with a comma, as Envoy sends them)', async () => {
    const a = await t.issuer.sign();
    const decision = expectDeny(
      await check({ headers: { authorization: `Bearer ${a},Bearer ${a}` } }),
    );
    expect(decision.code).toBe('GH_ERR_INVALID_REQUEST');
    expect(decision.status).toBe(400);
    expect(header(decision, 'www-authenticate')).toMatch(/error="invalid_request"/);
  });

  it.each([
    ['/public%2Fadmin', 'encoded slash'],
    ['/public%2fadmin', 'encoded slash, lower case'],
    ['/admin%00', 'encoded NUL'],
    ['/public%5Cadmin', 'encoded backslash'],
    ['/public\\admin', 'backslash'],
    ['/orders/%0d%0a1', 'encoded CR LF'],
    ['orders/1', 'no leading slash'],
  ])('%s (%s)', async (path) => {
    const decision = expectDeny(await check({ path, headers: bearer(await t.issuer.sign()) }));
    expect(decision.code).toBe('GH_ERR_PATH_INVALID');
    expect(decision.status).toBe(400);
  });
});

describe('path tricks reach the API they really name', () => {
  it.each([
    '//admin',
    '/public/../admin',
    '/public/%2e%2e/admin',
    '/public/./../admin',
    '/admin#/public/x',
    '/admin?/public/x',
  ])('%s is decided by the admin API and denied to a reader', async (path) => {
    const decision = expectDeny(await check({ path, headers: bearer(await t.issuer.sign()) }));
    expect(decision.code).toBe('GH_ERR_POLICY_DENIED');
    expect(decision.status).toBe(403);
    expect(decision.api?.id).toBe('admin.root');
  });

  it('and an admin token passes /public/../admin as the admin API', async () => {
    const decision = await check({
      path: '/public/../admin',
      headers: bearer(await t.issuer.sign({ roles: ['admin'] })),
    });
    expect(decision).toMatchObject({ allowed: true, api: { id: 'admin.root' } });
  });
});

describe('unknown APIs and broken policies deny', () => {
  it('an unknown API is denied with 403', async () => {
    const decision = expectDeny(
      await check({ path: '/nowhere', headers: bearer(await t.issuer.sign()) }),
    );
    expect(decision.code).toBe('GH_ERR_API_UNKNOWN');
    expect(decision.status).toBe(403);
  });

  it('a method the API does not define is an unknown API', async () => {
    const decision = expectDeny(
      await check({ method: 'DELETE', path: '/orders/1', headers: bearer(await t.issuer.sign()) }),
    );
    expect(decision.code).toBe('GH_ERR_API_UNKNOWN');
  });

  it.each([
    ['/broken/conflict', 'GH_ERR_POLICY_ERROR'],
    ['/broken/junk', 'GH_ERR_POLICY_RESULT_INVALID'],
    ['/broken/status', 'GH_ERR_POLICY_RESULT_INVALID'],
    ['/broken/header', 'GH_ERR_POLICY_RESULT_INVALID'],
  ])('%s denies with %s and a 403', async (path, code) => {
    const decision = expectDeny(await check({ path, headers: bearer(await t.issuer.sign()) }));
    expect(decision.code).toBe(code);
    expect(decision.status).toBe(403);
    expect(decision.headers.some(([, v]) => v.includes('\n'))).toBe(false);
  });
});

describe('fail closed without a snapshot', () => {
  it('denies every check with an explicit 403 and is not ready', async () => {
    const pipeline = new CheckPipeline(new SnapshotStore(), {
      realm: 'test',
      allowUnknownApis: true,
      maxTokenBytes: 8192,
      clockSkewS: 30,
      tokenCache: { maxEntries: 10_000, maxTtlS: 300 },
      logger: silentLogger(),
      metrics: new Metrics(),
      dpop: {
        algorithms: ['ES256'],
        iatWindowS: 60,
        replay: new DpopReplayCache({ iatWindowS: 60 }),
      },
    });
    expect(pipeline.isReady()).toBe(false);
    const decision = expectDeny(await pipeline.check(checkInput({ path: '/public/docs' })));
    expect(decision.code).toBe('GH_ERR_NO_SNAPSHOT');
    expect(decision.status).toBe(403);
  });
});

describe('allowUnknownApis', () => {
  let open: TestGatehouse;
  beforeAll(async () => {
    open = await startTestGatehouse({
      config: {
        grpc: { enabled: false },
        http: { enabled: false },
        routing: { allowUnknownApis: true },
      },
    });
  });
  afterAll(async () => {
    await open.close();
  });

  it('lets an unknown API through the global policy only, with an optional token', async () => {
    const decision = await open.gatehouse.pipeline.check(checkInput({ path: '/nowhere' }));
    expect(decision).toMatchObject({ allowed: true, api: undefined });
  });

  it('still denies what the global policy denies, and still rejects a bad token', async () => {
    const blocked = await open.issuer.sign({ sub: 'mallory' });
    const denied = expectDeny(
      await open.gatehouse.pipeline.check(
        checkInput({ path: '/nowhere', headers: bearer(blocked) }),
      ),
    );
    expect(denied.reason).toBe('denied by global policy test.global');
    const expired = await open.issuer.sign({ exp: Math.floor(Date.now() / 1000) - 3600 });
    expect(
      expectDeny(
        await open.gatehouse.pipeline.check(
          checkInput({ path: '/nowhere', headers: bearer(expired) }),
        ),
      ).status,
    ).toBe(401);
  });
});
