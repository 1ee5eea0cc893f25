import type { OutgoingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itDeniesEachAttack } from '../../../helpers/proxy-deny-cases.js';
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

describe('401 and 403: denied requests never reach the upstream', () => {
  // nginx answers auth_request's 401/403 with its own page, not Gatehouse's body.
  itDeniesEachAttack('nginx', () => ({ through, issuer: t.issuer, reader }), {
    bodyNamesTheCode: false,
  });
});
