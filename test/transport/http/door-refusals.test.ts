import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENY_CODES } from '../../../src/decision/deny-codes.js';
import { requestText } from '../../helpers/request-text.js';
import { metricValue } from '../../helpers/status-and-metrics.js';
import { startTestGatehouse, type TestGatehouse } from '../../helpers/test-gatehouse.js';

// What an HTTP door refuses before the pipeline (a body over http.maxBodyBytes, a call that
// is not a check request) is answered from the deny table like any deny: one code per
// situation, the same status on every door, the table's JSON body, logged and counted.

const MAX_BODY_BYTES = 1024;
const OVERSIZED = 'x'.repeat(MAX_BODY_BYTES + 1);
let t: TestGatehouse;

beforeAll(async () => {
  t = await startTestGatehouse({
    config: {
      http: {
        host: '127.0.0.1',
        port: 0,
        maxBodyBytes: MAX_BODY_BYTES,
        trustedProxies: ['127.0.0.1/32'],
      },
    },
  });
});
afterAll(async () => {
  await t.close();
});

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: { error?: string; message?: string; status?: number };
}

async function call(
  path: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  const response = await requestText(`${t.httpBase}${path}`, { method, headers, body });
  return { ...response, body: JSON.parse(response.body) as Answer['body'] };
}

const DOORS: ReadonlyArray<readonly [string, string, Record<string, string>]> = [
  ['/envoy (Envoy HTTP service)', '/envoy/orders/42', { host: 'api.example.com' }],
  [
    '/traefik (forwardAuth)',
    '/traefik',
    { 'x-forwarded-method': 'POST', 'x-forwarded-uri': '/orders/42' },
  ],
  ['/v1/check (JSON)', '/v1/check', { 'content-type': 'application/json' }],
];

describe('a body over http.maxBodyBytes', () => {
  it.each(DOORS)(
    '%s: 413 GH_ERR_BODY_TOO_LARGE from the deny table',
    async (_door, path, headers) => {
      const answer = await call(path, 'POST', headers, OVERSIZED);
      expect(answer.status).toBe(413);
      expect(answer.body).toEqual({
        error: 'GH_ERR_BODY_TOO_LARGE',
        message: DENY_CODES.GH_ERR_BODY_TOO_LARGE.message,
        status: 413,
      });
    },
  );

  it('/nginx (auth_request knows only 401 and 403): 403 with X-Gatehouse-Status: 413', async () => {
    const answer = await call(
      '/nginx',
      'POST',
      { 'x-original-uri': '/orders/42', 'x-original-method': 'POST' },
      OVERSIZED,
    );
    expect(answer.status).toBe(403);
    expect(answer.headers['x-gatehouse-status']).toBe('413');
    expect(answer.body.error).toBe('GH_ERR_BODY_TOO_LARGE');
  });

  it('is counted like any deny, by door', async () => {
    const series = 'gatehouse_check_decisions_total{transport="json",code="GH_ERR_BODY_TOO_LARGE"}';
    const before = await metricValue(t.probesBase, series);
    await call('/v1/check', 'POST', {}, OVERSIZED);
    expect(await metricValue(t.probesBase, series)).toBe(before + 1);
  });
});

/** A POST whose body goes out chunked (RFC 9112 7.1): no Content-Length header at all. */
function postChunked(
  path: string,
  headers: Record<string, string>,
  chunks: readonly string[],
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${t.httpBase}${path}`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: JSON.parse(text) as Answer['body'],
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

// The doors skip reading a request that has no body by its framing (neither
// Transfer-Encoding nor Content-Length): a chunked body has no Content-Length, and must
// still be read and limited.
describe('a chunked body over http.maxBodyBytes (no Content-Length)', () => {
  it.each(DOORS.filter(([door]) => !door.startsWith('/v1/check')))(
    '%s: 413 GH_ERR_BODY_TOO_LARGE, the body was read',
    async (_door, path, headers) => {
      const half = OVERSIZED.slice(0, MAX_BODY_BYTES / 2);
      const answer = await postChunked(path, headers, [half, half, 'xx']);
      expect(answer.status).toBe(413);
      expect(answer.body.error).toBe('GH_ERR_BODY_TOO_LARGE');
    },
  );
});

describe('/v1/check calls that are not check requests', () => {
  it('GET: 405 GH_ERR_METHOD_NOT_ALLOWED with Allow: POST', async () => {
    const answer = await call('/v1/check', 'GET', {});
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe('POST');
    expect(answer.body).toMatchObject({ error: 'GH_ERR_METHOD_NOT_ALLOWED', status: 405 });
  });

  it.each([
    ['not JSON', 'not json'],
    ['a JSON array', '[]'],
    ['"method" not a string', '{"method": 1, "path": "/", "host": "h"}'],
  ])(
    '%s: 400 GH_ERR_INVALID_REQUEST, as a malformed call on the other doors',
    async (_what, body) => {
      const answer = await call('/v1/check', 'POST', { 'content-type': 'application/json' }, body);
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: 'GH_ERR_INVALID_REQUEST', status: 400 });
      expect(answer.headers['www-authenticate']).toMatch(/error="invalid_request"/);
    },
  );

  it('/traefik without X-Forwarded-Uri: the same 400 GH_ERR_INVALID_REQUEST', async () => {
    const answer = await call('/traefik', 'GET', {});
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'GH_ERR_INVALID_REQUEST', status: 400 });
  });
});
