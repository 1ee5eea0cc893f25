import { randomBytes } from 'node:crypto';
import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { introspectionDenyCode } from '../../../src/auth/introspection/deny-intent.js';
import {
  IntrospectionClient,
  OAuthClientAuthenticator,
  type ClientAuthenticator,
  type ClientAuthOptions,
  type IntrospectionClientOptions,
  type IntrospectionFailureCode,
  type IntrospectionResult,
} from '../../../src/auth/introspection/introspection-client.js';
import { closedPort, everythingShown } from '../../net/oauth/helpers.js';
import {
  seconds,
  startScriptedServer,
  type Script,
  type ScriptedAnswer,
  type ScriptedServer,
} from './scripted-server.js';

/*
 * The introspection client against a scripted node:http endpoint: the answers a real
 * authorization server does not give on demand (wrong member types, a hang, an `exp` in
 * the past), the exact request on the wire, and the cache on a clock the test moves.
 */

const BASIC: ClientAuthOptions = {
  clientId: 'orders-api',
  method: 'client_secret_basic',
  secret: 'orders-api-secret',
};

let server: ScriptedServer;
beforeAll(async () => {
  server = await startScriptedServer(() => ({ body: { active: false } }));
});
afterAll(async () => {
  await server.close();
});

/** A fresh token per test: the cache can never carry one test's answer into another. */
let token: string;
beforeEach(() => {
  token = randomBytes(24).toString('base64url');
  server.script(() => ({ body: { active: false } }));
});

const authenticators: OAuthClientAuthenticator[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(authenticators.splice(0).map((a) => a.close()));
});

function client(
  options: Partial<IntrospectionClientOptions> = {},
  auth: ClientAuthOptions = BASIC,
): IntrospectionClient {
  const clientAuth = new OAuthClientAuthenticator(auth);
  authenticators.push(clientAuth);
  return new IntrospectionClient({ endpoint: server.endpoint, clientAuth, ...options });
}

/** A clock the test moves, in milliseconds since the epoch. */
function testClock(startMs = 1_800_000_000_000): {
  now: () => number;
  advance: (seconds: number) => void;
} {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (s) => {
      nowMs += s * 1000;
    },
  };
}

function answer(body: unknown, extra: Omit<Exclude<ScriptedAnswer, 'hang'>, 'body'> = {}): Script {
  return () => ({ body, ...extra });
}

const future = (): number => seconds(Date.now()) + 3600;
const past = (): number => seconds(Date.now()) - 60;

function expectUnavailable(result: IntrospectionResult, code: IntrospectionFailureCode): void {
  expect(result).toMatchObject({ kind: 'unavailable', code });
  expect(introspectionDenyCode(result)).toBe('GH_ERR_INTROSPECTION_UNAVAILABLE');
  // The reason is for logs: it never quotes the token.
  expect(everythingShown(result)).not.toContain(token);
}

describe('the request (RFC 7662 section 2.1)', () => {
  it('is a form POST of token and token_type_hint, asking for JSON, with client_secret_basic', async () => {
    await client().introspect(token);
    const request = server.requests.at(-1);
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/introspect');
    expect(request?.headers.accept).toBe('application/json');
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request?.headers.authorization).toBe(
      `Basic ${Buffer.from('orders-api:orders-api-secret').toString('base64')}`,
    );
    expect([...(request?.form.entries() ?? [])]).toEqual([
      ['token', token],
      ['token_type_hint', 'access_token'],
    ]);
  });

  it('client_secret_post puts the credentials in the body, not a header', async () => {
    await client(
      {},
      { clientId: 'rs', method: 'client_secret_post', secret: 'post-secret' },
    ).introspect(token);
    const request = server.requests.at(-1);
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.form.get('client_id')).toBe('rs');
    expect(request?.form.get('client_secret')).toBe('post-secret');
    expect(request?.form.get('token')).toBe(token);
  });

  it('client_secret_jwt signs a fresh assertion per request, for the endpoint', async () => {
    const introspector = client(
      { cache: { inactiveTtlS: 0 } },
      { clientId: 'rs', method: 'client_secret_jwt', secret: 'x'.repeat(32) },
    );
    await introspector.introspect(token);
    await introspector.introspect(token);
    const [first, second] = server.requests.slice(-2).map((request) => {
      expect(request.form.get('client_assertion_type')).toBe(
        'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      );
      return decodeJwt(request.form.get('client_assertion') ?? '');
    });
    expect(first).toMatchObject({ iss: 'rs', sub: 'rs', aud: server.endpoint });
    expect(first?.jti).not.toBe(second?.jti);
  });

  it('private_key_jwt takes an explicit assertion audience', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await client(
      {},
      {
        clientId: 'rs',
        method: 'private_key_jwt',
        privateKey,
        assertionAudience: 'https://as.example',
      },
    ).introspect(token);
    const assertion = server.requests.at(-1)?.form.get('client_assertion') ?? '';
    expect(decodeJwt(assertion).aud).toBe('https://as.example');
  });

  it('takes any ClientAuthenticator; one that throws makes the answer unavailable', async () => {
    const failing: ClientAuthenticator = {
      authenticate: () => Promise.reject(new Error('the signing key is gone')),
      dispatcher: () => undefined,
    };
    const before = server.requests.length;
    const result = await new IntrospectionClient({
      endpoint: server.endpoint,
      clientAuth: failing,
    }).introspect(token);
    expectUnavailable(result, 'GH_INTROSPECTION_CLIENT_AUTH');
    expect(server.requests.length).toBe(before);
  });
});

describe('strict parsing of the answer (RFC 7662 section 2.2)', () => {
  const cases: readonly {
    name: string;
    script: () => Script;
    expected: 'inactive' | IntrospectionFailureCode;
  }[] = [
    { name: 'active: false', script: () => answer({ active: false }), expected: 'inactive' },
    {
      name: 'active: false, whatever else is there',
      script: () => answer({ active: false, exp: 'soon', scope: 42 }),
      expected: 'inactive',
    },
    {
      name: 'malformed JSON',
      script: () => answer('{"active": tru'),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: 'active: "true" (a string)',
      script: () => answer({ active: 'true', client_id: 'app' }),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: 'active: 1',
      script: () => answer({ active: 1 }),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: 'no active member',
      script: () => answer({ client_id: 'app', exp: future() }),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: 'a JSON array',
      script: () => answer([{ active: true }]),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: 'active with a string exp',
      script: () => answer({ active: true, exp: String(future()) }),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: 'active with a string iat',
      script: () => answer({ active: true, iat: '1700000000' }),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: 'active with a scope array',
      script: () => answer({ active: true, scope: ['orders:read'] }),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: 'active with a numeric client_id',
      script: () => answer({ active: true, client_id: 42 }),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: 'active with a null sub',
      script: () => answer({ active: true, sub: null }),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: 'active with exp in the past',
      script: () => answer({ active: true, exp: past() }),
      expected: 'inactive',
    },
    {
      name: 'active with nbf in the future',
      script: () => answer({ active: true, nbf: future(), exp: future() + 60 }),
      expected: 'inactive',
    },
    {
      name: '200 with text/html (a proxy page)',
      script: () => answer('<html>ok</html>', { contentType: 'text/html' }),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: '200 with a JWT response (RFC 9701), not asked for',
      script: () =>
        answer('eyJhbGciOi.x.y', { contentType: 'application/token-introspection+jwt' }),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
    {
      name: 'HTTP 500',
      script: () => answer({ error: 'server_error' }, { status: 500 }),
      expected: 'GH_INTROSPECTION_HTTP_STATUS',
    },
    {
      name: 'HTTP 401 invalid_client, with active: true in the body',
      script: () => answer({ error: 'invalid_client', active: true }, { status: 401 }),
      expected: 'GH_INTROSPECTION_HTTP_STATUS',
    },
    {
      name: 'HTTP 204',
      script: () => answer('', { status: 204 }),
      expected: 'GH_INTROSPECTION_HTTP_STATUS',
    },
    {
      name: '200 with an empty body',
      script: () => answer(''),
      expected: 'GH_INTROSPECTION_MALFORMED',
    },
  ];

  it.each(cases)('$name: $expected', async ({ script, expected }) => {
    server.script(script());
    const result = await client().introspect(token);
    if (expected === 'inactive') {
      expect(result).toEqual({ kind: 'inactive' });
      expect(introspectionDenyCode(result)).toBe('GH_ERR_TOKEN_INACTIVE');
    } else {
      expectUnavailable(result, expected);
    }
  });

  it('an active answer keeps every member, frozen', async () => {
    const body = {
      active: true,
      scope: 'orders:read orders:write',
      client_id: 'app',
      sub: 'user-1',
      exp: future(),
      iat: seconds(Date.now()),
      aud: ['orders-api', 'billing-api'],
      iss: 'https://as.example',
      cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' },
      ext: { tenant: 'acme' },
    };
    server.script(answer(body));
    const result = await client().introspect(token);
    expect(result).toEqual({ kind: 'active', claims: body });
    if (result.kind !== 'active') return;
    expect(Object.isFrozen(result.claims)).toBe(true);
    expect(Object.isFrozen(result.claims.cnf)).toBe(true);
    expect(Object.isFrozen(result.claims.aud)).toBe(true);
  });

  it('an error echoing the token is quoted redacted', async () => {
    server.script((request) => ({
      status: 400,
      body: { error: request.form.get('token') ?? '' },
    }));
    const result = await client().introspect(token);
    expectUnavailable(result, 'GH_INTROSPECTION_HTTP_STATUS');
    expect(result.kind === 'unavailable' && result.reason).toMatch(/HTTP 400 \[redacted\]$/);
  });

  it('an answer over maxResponseBytes is unavailable', async () => {
    // Chunked: fetchBytes' early refusal of a declared Content-Length destroys the body
    // without an error listener (an uncaught AbortError), a bug outside this module.
    server.script(answer({ active: true, padding: 'x'.repeat(2000) }, { chunked: true }));
    expectUnavailable(
      await client({ maxResponseBytes: 1000 }).introspect(token),
      'GH_INTROSPECTION_NETWORK',
    );
  });
});

describe('timeouts and network failures', () => {
  it('a server that never answers is unavailable within timeoutMs', async () => {
    server.script(() => 'hang');
    const startedAt = performance.now();
    const result = await client({ timeoutMs: 300 }).introspect(token);
    const elapsed = performance.now() - startedAt;
    expectUnavailable(result, 'GH_INTROSPECTION_TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(300 + 300);
  });

  it('a timed-out answer is not cached: the next call asks again', async () => {
    server.script(() => 'hang');
    const introspector = client({ timeoutMs: 200 });
    expectUnavailable(await introspector.introspect(token), 'GH_INTROSPECTION_TIMEOUT');
    server.script(answer({ active: true, exp: future() }));
    expect((await introspector.introspect(token)).kind).toBe('active');
    expect(introspector.stats().requests).toBe(2);
  });

  it('connection refused is unavailable', async () => {
    const port = await closedPort();
    const clientAuth = new OAuthClientAuthenticator(BASIC);
    authenticators.push(clientAuth);
    const result = await new IntrospectionClient({
      endpoint: `http://127.0.0.1:${port}/introspect`,
      clientAuth,
    }).introspect(token);
    expectUnavailable(result, 'GH_INTROSPECTION_NETWORK');
  });
});

describe('the cache', () => {
  it('an active answer is reused until exp; after exp it is not served, and is inactive without a request', async () => {
    const clock = testClock();
    server.script(answer({ active: true, exp: seconds(clock.now()) + 100 }));
    const introspector = client({ now: clock.now });
    expect((await introspector.introspect(token)).kind).toBe('active');
    clock.advance(99);
    expect((await introspector.introspect(token)).kind).toBe('active');
    expect(introspector.stats()).toMatchObject({ requests: 1, cacheHits: 1 });
    clock.advance(1);
    expect(await introspector.introspect(token)).toEqual({ kind: 'inactive' });
    expect(introspector.stats()).toMatchObject({ requests: 1, cacheHits: 1 });
  });

  it('with a faked Date (the default clock), an entry past exp is not served either', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_800_000_000_000);
    server.script(answer({ active: true, exp: 1_800_000_000 + 60 }));
    const introspector = client();
    expect((await introspector.introspect(token)).kind).toBe('active');
    vi.setSystemTime(1_800_000_000_000 + 60_000);
    expect(await introspector.introspect(token)).toEqual({ kind: 'inactive' });
    expect(introspector.stats().cacheHits).toBe(0);
  });

  it('an active answer is reused for at most maxTtlS, then introspected again', async () => {
    const clock = testClock();
    server.script(answer({ active: true, exp: seconds(clock.now()) + 3600 }));
    const introspector = client({ now: clock.now, cache: { maxTtlS: 300 } });
    await introspector.introspect(token);
    clock.advance(299);
    await introspector.introspect(token);
    expect(introspector.stats()).toMatchObject({ requests: 1, cacheHits: 1 });
    clock.advance(2);
    expect((await introspector.introspect(token)).kind).toBe('active');
    expect(introspector.stats()).toMatchObject({ requests: 2, cacheHits: 1 });
  });

  it('an active answer without exp is reused for min(maxTtlS, 60) seconds', async () => {
    const clock = testClock();
    server.script(answer({ active: true, client_id: 'app' }));
    const introspector = client({ now: clock.now });
    await introspector.introspect(token);
    clock.advance(59);
    await introspector.introspect(token);
    expect(introspector.stats().requests).toBe(1);
    clock.advance(2);
    await introspector.introspect(token);
    expect(introspector.stats().requests).toBe(2);

    const short = client({ now: clock.now, cache: { maxTtlS: 20 } });
    await short.introspect(token);
    clock.advance(21);
    await short.introspect(token);
    expect(short.stats()).toMatchObject({ requests: 2, cacheHits: 0 });
  });

  it('an inactive answer is reused for inactiveTtlS only', async () => {
    const clock = testClock();
    const introspector = client({ now: clock.now, cache: { inactiveTtlS: 10 } });
    await introspector.introspect(token);
    clock.advance(9);
    await introspector.introspect(token);
    expect(introspector.stats()).toMatchObject({ requests: 1, cacheHits: 1 });
    clock.advance(2);
    await introspector.introspect(token);
    expect(introspector.stats()).toMatchObject({ requests: 2, cacheHits: 1 });
  });

  it('an active answer with exp in the past is never cached as active', async () => {
    const clock = testClock();
    server.script(answer({ active: true, exp: seconds(clock.now()) - 1 }));
    const introspector = client({ now: clock.now });
    expect(await introspector.introspect(token)).toEqual({ kind: 'inactive' });
    expect(await introspector.introspect(token)).toEqual({ kind: 'inactive' });
    expect(introspector.stats()).toMatchObject({ requests: 1, cacheHits: 1 });
  });

  it('an unavailable answer is never cached', async () => {
    server.script(answer({ error: 'temporarily_unavailable' }, { status: 503 }));
    const introspector = client();
    expectUnavailable(await introspector.introspect(token), 'GH_INTROSPECTION_HTTP_STATUS');
    server.script(answer({ active: true, exp: future() }));
    expect((await introspector.introspect(token)).kind).toBe('active');
    expect(introspector.stats()).toMatchObject({ requests: 2, cacheHits: 0 });
  });

  it('keeps at most maxEntries answers, dropping the least recently used', async () => {
    server.script(answer({ active: true, exp: future() }));
    const introspector = client({ cache: { maxEntries: 2 } });
    const [a, b, c] = ['token-a', 'token-b', 'token-c'];
    for (const t of [a, b, c]) await introspector.introspect(t);
    expect(introspector.stats().cachedEntries).toBe(2);
    await introspector.introspect(c);
    await introspector.introspect(a);
    expect(introspector.stats()).toMatchObject({ requests: 4, cacheHits: 1 });
  });

  it('concurrent callers share one request, and share an unavailable answer too', async () => {
    server.script(answer({ error: 'server_error' }, { status: 500, delayMs: 50 }));
    const introspector = client();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => introspector.introspect(token)),
    );
    for (const result of results) expectUnavailable(result, 'GH_INTROSPECTION_HTTP_STATUS');
    expect(introspector.stats()).toMatchObject({ requests: 1, sharedRequests: 19 });
    server.script(answer({ active: true, exp: future() }, { delayMs: 20 }));
    const again = await Promise.all(
      Array.from({ length: 5 }, () => introspector.introspect(token)),
    );
    for (const result of again) expect(result.kind).toBe('active');
    expect(introspector.stats()).toMatchObject({ requests: 2, sharedRequests: 23 });
  });

  it('a closed client answers unavailable and forgets its cache', async () => {
    server.script(answer({ active: true, exp: future() }));
    const introspector = client();
    await introspector.introspect(token);
    introspector.close();
    expectUnavailable(await introspector.introspect(token), 'GH_INTROSPECTION_CLOSED');
    expect(introspector.stats().cachedEntries).toBe(0);
  });
});
