import { Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestText, type TextResponse } from '../../helpers/request-text.js';
import { startTestGatehouse, type TestGatehouse } from '../../helpers/test-gatehouse.js';

// A real Gatehouse on port 0 and real HTTP requests, for each HTTP check protocol.

let t: TestGatehouse;
let reader: string;

beforeAll(async () => {
  t = await startTestGatehouse();
  reader = await t.issuer.sign();
});
afterAll(async () => {
  await t.close();
});

function call(
  path: string,
  headers: Record<string, string> | string[] = {},
  method = 'GET',
  body?: string,
): Promise<TextResponse> {
  return requestText(`${t.httpBase}${path}`, { method, headers, body });
}

/**
 * The reader's request through /envoy: it must be allowed (200) with x-user-sub from the
 * token; returns the answer and its x-envoy-auth-headers-to-remove list.
 */
async function envoyAllowsReader(path: string): Promise<{ res: TextResponse; removed: string[] }> {
  const res = await call(path, { authorization: `Bearer ${reader}` });
  expect(res.status).toBe(200);
  expect(res.headers['x-user-sub']).toBe('alice');
  return { res, removed: String(res.headers['x-envoy-auth-headers-to-remove']).split(',') };
}

describe('Envoy HTTP service mode (path prefix /envoy)', () => {
  it('allows with 200 and the upstream headers, listing headers to remove', async () => {
    const { res, removed } = await envoyAllowsReader('/envoy/orders/42?expand=items');
    expect(res.headers['x-order-id']).toBe('42');
    // The policy's removal plus the identity headers this allow does not set (x-user-sub is
    // set, and Envoy would remove it after setting it).
    expect(removed).toEqual(expect.arrayContaining(['x-internal-debug', 'x-user-email']));
    expect(removed).not.toContain('x-user-sub');
  });

  it('claims to headers: a header it sets is not also listed to remove (Envoy removes after setting)', async () => {
    const { res, removed } = await envoyAllowsReader('/envoy/profile');
    expect(res.headers['x-user-roles']).toBe('reader');
    // Mapped but with no claim in the token: stripped from the client's request, not set;
    // the headers this allow sets are not in the list.
    expect(removed).toEqual(expect.arrayContaining(['x-user-email', 'x-tenant']));
    expect(removed).not.toContain('x-user-sub');
    expect(removed).not.toContain('x-user-roles');
  });

  it('denies a missing token with 401 and a Bearer challenge', async () => {
    const res = await call('/envoy/orders/42');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="test"');
    expect(JSON.parse(res.body)).toMatchObject({ error: 'GH_ERR_NO_CREDENTIAL' });
  });

  it('denies a reader on the admin API with 403', async () => {
    const res = await call('/envoy/admin', { authorization: `Bearer ${reader}` });
    expect(res.status).toBe(403);
  });
});

describe('Traefik forwardAuth', () => {
  const forwarded = (uri: string, method = 'GET'): Record<string, string> => ({
    'x-forwarded-method': method,
    'x-forwarded-uri': uri,
    'x-forwarded-host': 'api.example.com',
    'x-forwarded-proto': 'https',
  });

  it('allows with 200 and the headers to copy upstream', async () => {
    const res = await call('/traefik', {
      ...forwarded('/orders/7'),
      authorization: `Bearer ${reader}`,
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-user-sub']).toBe('alice');
  });

  it('answers 401 with the challenge, which Traefik returns to the client', async () => {
    const res = await call('/traefik', forwarded('/orders/7'));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="test"');
  });

  it('denies two Authorization headers with 400 invalid_request', async () => {
    const res = await call('/traefik', [
      ...Object.entries(forwarded('/orders/7')).flat(),
      'authorization',
      `Bearer ${reader}`,
      'authorization',
      `Bearer ${reader}`,
    ]);
    expect(res.status).toBe(400);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_request"/);
  });

  it('refuses a forwardAuth call without X-Forwarded-Uri as a malformed request', async () => {
    const res = await call('/traefik', {
      'x-forwarded-method': 'GET',
      authorization: `Bearer ${reader}`,
    });
    expect(res.status).toBe(400);
  });
});

describe('NGINX auth_request adapter', () => {
  it('maps a 400 deny to 403 (nginx treats other statuses as errors) and says what it was', async () => {
    const res = await call('/nginx', {
      'x-original-uri': '/public%2Fadmin',
      'x-original-method': 'GET',
      authorization: `Bearer ${reader}`,
    });
    expect(res.status).toBe(403);
    expect(res.headers['x-gatehouse-status']).toBe('400');
  });
});

describe('JSON decision API', () => {
  it('answers an allow as JSON', async () => {
    const res = await call(
      '/v1/check',
      { 'content-type': 'application/json' },
      'POST',
      JSON.stringify({
        method: 'GET',
        path: '/orders/9',
        host: 'api.example.com',
        headers: { Authorization: `Bearer ${reader}` },
      }),
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({
      allowed: true,
      code: 'GH_OK',
      api: { id: 'orders.get' },
      upstreamHeaders: { 'x-user-sub': 'alice', 'x-order-id': '9' },
    });
  });

  it('answers a deny as JSON with the status a proxy should send', async () => {
    const res = await call(
      '/v1/check',
      {},
      'POST',
      JSON.stringify({ method: 'GET', path: '/orders/9', host: 'h' }),
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({
      allowed: false,
      code: 'GH_ERR_NO_CREDENTIAL',
      status: 401,
    });
  });

  it('rejects a body that is not a check request with 400, and GET with 405', async () => {
    expect((await call('/v1/check', {}, 'POST', '{"method": 1}')).status).toBe(400);
    expect((await call('/v1/check', {}, 'POST', 'not json')).status).toBe(400);
    expect((await call('/v1/check')).status).toBe(405);
  });
});

describe('health, readiness and metrics', () => {
  it('is live and ready once a snapshot is active', async () => {
    expect((await call('/healthz')).status).toBe(200);
    expect((await call('/readyz')).status).toBe(200);
  });

  it('counts decisions by deny code', async () => {
    await call('/envoy/orders/1');
    const res = await call('/metrics');
    expect(res.status).toBe(200);
    expect(res.body).toMatch(
      /gatehouse_check_decisions_total\{transport="http-envoy",code="GH_ERR_NO_CREDENTIAL"\} \d+/,
    );
  });

  it('reports the snapshot and each source on /status', async () => {
    const res = await call('/status');
    expect(res.status).toBe(200);
    const status = JSON.parse(res.body) as {
      ready: boolean;
      snapshot: { revision: string };
      policySource: { kind: string };
      issuers: Record<string, { keyIds: string[] }>;
    };
    expect(status.ready).toBe(true);
    expect(status.snapshot.revision).toBe(t.gatehouse.store.current()?.revision);
    expect(status.policySource.kind).toBe('folder');
    expect(status.issuers[t.issuer.issuer]?.keyIds).toEqual([t.issuer.kid]);
  });

  it('answers 404 for paths that are not endpoints', async () => {
    expect((await call('/nope')).status).toBe(404);
  });
});

describe('forwarded headers from an untrusted peer', () => {
  let strict: TestGatehouse;
  beforeAll(async () => {
    // Only 192.0.2.0/24 (TEST-NET-1) is trusted, so this test's loopback client is not.
    strict = await startTestGatehouse({
      config: { http: { host: '127.0.0.1', port: 0, trustedProxies: ['192.0.2.0/24'] } },
    });
  });
  afterAll(async () => {
    await strict.close();
  });

  it.each(['/traefik', '/nginx'])(
    '%s: a spoofed forwarded path is denied with 403, whatever the token',
    async (path) => {
      const admin = await strict.issuer.sign({ roles: ['admin'] });
      const response = await request(`${strict.httpBase}${path}`, {
        headers: {
          'x-forwarded-method': 'GET',
          'x-forwarded-uri': '/public/docs',
          'x-original-method': 'GET',
          'x-original-uri': '/public/docs',
          authorization: `Bearer ${admin}`,
        },
      });
      expect(response.statusCode).toBe(403);
      expect(JSON.parse(await response.body.text())).toMatchObject({
        error: 'GH_ERR_UNTRUSTED_PROXY',
      });
    },
  );

  it('a spoofed forwarded path is denied on every request of one kept-alive connection, not only the first', async () => {
    // The trust decision is remembered per socket: the second and later requests on the
    // same connection must get the same answer as the first.
    const client = new Client(strict.httpBase, { pipelining: 1 });
    try {
      const admin = await strict.issuer.sign({ roles: ['admin'] });
      for (let i = 0; i < 3; i++) {
        const response = await client.request({
          method: 'GET',
          path: '/nginx',
          headers: {
            'x-original-method': 'GET',
            'x-original-uri': '/public/docs',
            authorization: `Bearer ${admin}`,
          },
        });
        expect(response.statusCode).toBe(403);
        expect(JSON.parse(await response.body.text())).toMatchObject({
          error: 'GH_ERR_UNTRUSTED_PROXY',
        });
      }
    } finally {
      await client.close();
    }
  });

  it('Envoy HTTP mode does not depend on forwarded headers and still works', async () => {
    const response = await request(`${strict.httpBase}/envoy/public/docs`);
    expect(response.statusCode).toBe(200);
    await response.body.dump();
  });
});
