import type { OutgoingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginx, type RunningNginx } from '../../../helpers/nginx.js';
import { startTestGatehouse, type TestGatehouse } from '../../../helpers/test-gatehouse.js';
import {
  bearer,
  startRecordingUpstream,
  throughProxy,
  type RecordingUpstream,
  type ThroughProxy,
} from '../../../helpers/through-proxy.js';

// End to end, and everything here is real: nginx from Debian (ngx_http_auth_request_module)
// in front of a node:http upstream, asking a real Gatehouse (HTTP and gRPC on port 0)
// that evaluates the fixture policies compiled by the real opa CLI. No doubles: the
// client speaks HTTP to nginx, and each case asserts what the client and the upstream saw,
// plus the deny code Gatehouse counted for the nginx transport.

let t: TestGatehouse;
let nginx: RunningNginx;
let upstream: RecordingUpstream;
let reader: string;
/** Stops what started, newest first, so a failed start-up still cleans up. */
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  t = await startTestGatehouse();
  cleanups.unshift(() => t.close());
  // Echo what arrived, so the test can see exactly what nginx forwarded.
  upstream = await startRecordingUpstream({ echo: true });
  cleanups.unshift(() => upstream.close());
  nginx = await startNginx({
    authUrl: `${t.httpBase}/nginx`,
    upstreamUrl: `http://127.0.0.1:${upstream.port}`,
  });
  cleanups.unshift(() => nginx.stop());
  reader = await t.issuer.sign();
});

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

/**
 * Sends the request and reports what the client got, whether the upstream was reached,
 * and whether Gatehouse decided on it with `code` (exactly one more such decision).
 */
function through(
  target: string,
  headers: OutgoingHttpHeaders,
  code: string,
): Promise<ThroughProxy> {
  return throughProxy(
    { proxyBaseUrl: nginx.baseUrl, upstream, gatehouseHttpBase: t.httpBase, transport: 'nginx' },
    target,
    headers,
    code,
  );
}

describe('allowed requests reach the upstream with the verified subject', () => {
  it('passes a reader GET /orders/42 and sets X-User-Sub from Gatehouse', async () => {
    const { res, seen, counted } = await through('/orders/42', bearer(reader), 'GH_OK');
    expect(res.status).toBe(200);
    expect(counted).toBe(1);
    expect(seen).toMatchObject({ method: 'GET', url: '/orders/42' });
    expect(seen?.headers['x-user-sub']).toBe('alice');
    expect(JSON.parse(res.body)).toMatchObject({ url: '/orders/42' });
  });

  it('spoofed X-User-Sub: the client value never reaches the upstream', async () => {
    const { res, seen } = await through(
      '/orders/42',
      { ...bearer(reader), 'x-user-sub': 'mallory' },
      'GH_OK',
    );
    expect(res.status).toBe(200);
    expect(seen?.headers['x-user-sub']).toBe('alice');
  });

  it('spoofed identity headers on an API without that mapping never reach the upstream', async () => {
    // users.get maps no claim at all; the documented config sets each identity header from
    // Gatehouse's answer, which carries none of them here.
    const { res, seen } = await through(
      '/users/7',
      {
        ...bearer(reader),
        'x-user-sub': 'admin',
        'x-forwarded-user': 'root',
        'remote-user': 'root',
        'x-auth-request-email': 'ceo@example.com',
        'x-tenant': 'other-tenant',
      },
      'GH_OK',
    );
    expect(res.status).toBe(200);
    expect(seen?.url).toBe('/users/7');
    for (const name of [
      'x-user-sub',
      'x-forwarded-user',
      'remote-user',
      'x-auth-request-email',
      'x-tenant',
    ]) {
      expect(seen?.headers[name], name).toBeUndefined();
    }
  });

  it('spoofed identity headers on an auth-none API never reach the upstream', async () => {
    const { res, seen } = await through(
      '/public/docs',
      { 'x-user-sub': 'admin', 'x-user-email': 'ceo@example.com' },
      'GH_OK',
    );
    expect(res.status).toBe(200);
    expect(seen?.headers['x-user-sub']).toBeUndefined();
    expect(seen?.headers['x-user-email']).toBeUndefined();
  });

  it('a non-ASCII claim arrives at the upstream percent-encoded as UTF-8', async () => {
    const token = await t.issuer.sign({ email: 'zoë@example.com', tenant: { id: 'ü-1' } });
    const { res, seen } = await through(
      '/profile',
      { ...bearer(token), 'x-user-email': 'ceo@example.com' },
      'GH_OK',
    );
    expect(res.status).toBe(200);
    expect(seen?.headers['x-user-email']).toBe('zo%C3%AB@example.com');
    expect(seen?.headers['x-tenant']).toBe('%C3%BC-1');
    expect(seen?.headers['x-user-sub']).toBe('alice');
  });

  it('X-HTTP-Method-Override never reaches the upstream (routing.methodOverride: strip)', async () => {
    const { res, seen } = await through(
      '/orders/42',
      { ...bearer(reader), 'x-http-method-override': 'DELETE', 'x-method-override': 'DELETE' },
      'GH_OK',
    );
    expect(res.status).toBe(200);
    expect(seen?.headers['x-http-method-override']).toBeUndefined();
    expect(seen?.headers['x-method-override']).toBeUndefined();
  });

  it('lets an anonymous request through an auth-none API, target unchanged', async () => {
    const { res, seen, counted } = await through('/public/docs?x=1', {}, 'GH_OK');
    expect(res.status).toBe(200);
    expect(counted).toBe(1);
    expect(seen?.url).toBe('/public/docs?x=1');
  });
});

describe('401: the challenge reaches the client, the upstream is never hit', () => {
  it('no token: 401 with WWW-Authenticate: Bearer realm="test"', async () => {
    const { res, seen, counted } = await through('/orders/42', {}, 'GH_ERR_NO_CREDENTIAL');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="test"');
    expect(counted).toBe(1);
    expect(seen).toBeUndefined();
  });

  it('expired token: 401 with error="invalid_token"', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await t.issuer.sign({ iat: now - 7200, exp: now - 3600 });
    const { res, seen, counted } = await through(
      '/orders/42',
      bearer(expired),
      'GH_ERR_TOKEN_EXPIRED',
    );
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="test"/);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(counted).toBe(1);
    expect(seen).toBeUndefined();
  });
});

describe('403: denied requests never reach the upstream', () => {
  it('a claim with CR LF (header injection) is denied: GH_ERR_CLAIM_NOT_REPRESENTABLE', async () => {
    const token = await t.issuer.sign({ email: 'a@example.com\r\nx-admin: true' });
    const { res, seen, counted } = await through(
      '/profile',
      bearer(token),
      'GH_ERR_CLAIM_NOT_REPRESENTABLE',
    );
    expect(res.status).toBe(403);
    expect(counted).toBe(1);
    expect(seen).toBeUndefined();
  });

  it('a reader on GET /admin is forbidden by the policy', async () => {
    const { res, seen, counted } = await through('/admin', bearer(reader), 'GH_ERR_POLICY_DENIED');
    expect(res.status).toBe(403);
    expect(counted).toBe(1);
    expect(seen).toBeUndefined();
  });

  it('double slash: GET //admin is /admin to Gatehouse, so the reader is denied', async () => {
    const { res, seen, counted } = await through('//admin', bearer(reader), 'GH_ERR_POLICY_DENIED');
    expect(res.status).toBe(403);
    expect(counted).toBe(1);
    expect(seen).toBeUndefined();
  });

  it('encoded dot segments: /public/%2e%2e/admin is /admin, not the public API', async () => {
    // Anonymous would pass /public/{page}; with a reader token, /admin must deny it.
    const { res, seen, counted } = await through(
      '/public/%2e%2e/admin',
      bearer(reader),
      'GH_ERR_POLICY_DENIED',
    );
    expect(res.status).toBe(403);
    expect(counted).toBe(1);
    expect(seen).toBeUndefined();
  });

  it('encoded dot segments, anonymous: /public/%2e%2e/admin asks for a token', async () => {
    const { res, seen, counted } = await through(
      '/public/%2e%2e/admin',
      {},
      'GH_ERR_NO_CREDENTIAL',
    );
    expect(res.status).toBe(401);
    expect(counted).toBe(1);
    expect(seen).toBeUndefined();
  });

  it('encoded slash: /public%2Fadmin is a 400 in Gatehouse, a 403 through nginx', async () => {
    const { res, seen, counted } = await through(
      '/public%2Fadmin',
      bearer(reader),
      'GH_ERR_PATH_INVALID',
    );
    expect(res.status).toBe(403);
    expect(counted).toBe(1);
    expect(seen).toBeUndefined();
  });

  it('spoofed X-Original-URI: the client cannot name the path Gatehouse decides on', async () => {
    const { res, seen, counted } = await through(
      '/admin',
      { 'x-original-uri': '/public/docs', 'x-original-method': 'GET' },
      'GH_ERR_NO_CREDENTIAL',
    );
    expect(res.status).toBe(401);
    expect(counted).toBe(1);
    expect(seen).toBeUndefined();
  });

  it('an unknown API (GET /nowhere) is denied even with a valid token', async () => {
    const { res, seen, counted } = await through('/nowhere', bearer(reader), 'GH_ERR_API_UNKNOWN');
    expect(res.status).toBe(403);
    expect(counted).toBe(1);
    expect(seen).toBeUndefined();
  });
});
