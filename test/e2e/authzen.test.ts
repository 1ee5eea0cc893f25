import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';

// The OpenID AuthZEN Authorization API 1.0 endpoints of a real Gatehouse (fixture policies,
// a real RS256 issuer): the spec's request and response shapes, mapped onto the same
// pipeline as every other door.

let t: TestGatehouse;
let reader: string;
let writer: string;

beforeAll(async () => {
  t = await startTestGatehouse();
  reader = await t.issuer.sign({ sub: 'alice', roles: ['reader'] });
  writer = await t.issuer.sign({ sub: 'bob', roles: ['writer'] });
});
afterAll(async () => {
  await t.close();
});

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Record<string, unknown> }> {
  const res = await request(`${t.httpBase}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.statusCode,
    json: (await res.body.json()) as Record<string, unknown>,
    headers: res.headers,
  };
}

const subject = (token: string) => ({ type: 'user', id: 'alice', properties: { token } });

describe('POST /access/v1/evaluation', () => {
  it('a reader may GET an order: decision true', async () => {
    const answer = await post('/access/v1/evaluation', {
      subject: subject(reader),
      action: { name: 'GET' },
      resource: { type: 'orders', id: '42' },
      context: { time: '2026-12-01T10:00:00Z' },
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ decision: true });
  });

  it('a reader may not POST an order: decision false, with the deny code in the context', async () => {
    const answer = await post('/access/v1/evaluation', {
      subject: subject(reader),
      action: { name: 'create', properties: { method: 'POST' } },
      resource: { type: 'order', properties: { path: '/orders' } },
    });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      decision: false,
      context: { code: 'GH_ERR_POLICY_DENIED', status: 403 },
    });
  });

  it('a subject named without a token is not authenticated: decision false, 401', async () => {
    const answer = await post('/access/v1/evaluation', {
      subject: { type: 'user', id: 'alice@example.com' },
      action: { name: 'GET' },
      resource: { type: 'orders', id: '42' },
    });
    expect(answer.json).toEqual({
      decision: false,
      context: { code: 'GH_ERR_NO_CREDENTIAL', status: 401 },
    });
  });

  it('a forged token: decision false, invalid token', async () => {
    const [head = '', body = ''] = reader.split('.');
    const answer = await post('/access/v1/evaluation', {
      subject: subject(`${head}.${body}.AAAA`),
      action: { name: 'GET' },
      resource: { type: 'orders', id: '42' },
    });
    expect(answer.json.decision).toBe(false);
    expect(answer.json.context).toMatchObject({ status: 401 });
  });

  it('X-Request-ID is echoed', async () => {
    const answer = await post(
      '/access/v1/evaluation',
      { subject: subject(reader), action: { name: 'GET' }, resource: { type: 'orders', id: '1' } },
      { 'x-request-id': 'req-77' },
    );
    expect(answer.headers['x-request-id']).toBe('req-77');
  });

  it.each([
    ['not JSON', '{'],
    ['an array', '[]'],
    ['no resource', { subject: { type: 'user', id: 'a' }, action: { name: 'GET' } }],
    [
      'an action that is no HTTP method',
      {
        subject: { type: 'user', id: 'a' },
        action: { name: 'can read' },
        resource: { type: 'orders', id: '1' },
      },
    ],
  ])('a malformed request (%s) is a 400 with GH_ERR_INVALID_REQUEST', async (_name, body) => {
    const answer = await post('/access/v1/evaluation', body);
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ error: 'GH_ERR_INVALID_REQUEST', status: 400 });
  });

  it('GET is refused with 405 and Allow: POST', async () => {
    const res = await request(`${t.httpBase}/access/v1/evaluation`);
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('POST');
    await res.body.dump();
  });
});

describe('POST /access/v1/evaluations', () => {
  const batch = (semantic?: string) => ({
    subject: subject(reader),
    action: { name: 'GET' },
    evaluations: [
      { resource: { type: 'orders', id: '1' } },
      { action: { name: 'POST' }, resource: { type: 'x', properties: { path: '/orders' } } },
      { resource: { type: 'orders', id: '2' } },
      {
        subject: subject(writer),
        action: { name: 'POST' },
        resource: { type: 'x', properties: { path: '/orders' } },
      },
    ],
    ...(semantic === undefined ? {} : { options: { evaluations_semantic: semantic } }),
  });

  it('top-level values are defaults each evaluation may replace; execute_all answers every one', async () => {
    const answer = await post('/access/v1/evaluations', batch());
    expect(answer.status).toBe(200);
    const decisions = (answer.json.evaluations as Array<{ decision: boolean }>).map(
      (entry) => entry.decision,
    );
    expect(decisions).toEqual([true, false, true, true]);
  });

  it('deny_on_first_deny stops after the first false', async () => {
    const answer = await post('/access/v1/evaluations', batch('deny_on_first_deny'));
    const decisions = (answer.json.evaluations as Array<{ decision: boolean }>).map(
      (entry) => entry.decision,
    );
    expect(decisions).toEqual([true, false]);
  });

  it('permit_on_first_permit stops after the first true', async () => {
    const answer = await post('/access/v1/evaluations', batch('permit_on_first_permit'));
    expect(answer.json.evaluations).toEqual([{ decision: true }]);
  });

  it('an evaluation naming no request is false in its place; the others are still answered', async () => {
    const answer = await post('/access/v1/evaluations', {
      subject: subject(reader),
      action: { name: 'GET' },
      evaluations: [{ resource: { type: 'orders', id: '1' } }, { resource: {} }],
    });
    const entries = answer.json.evaluations as Array<Record<string, unknown>>;
    expect(entries[0]).toEqual({ decision: true });
    expect(entries[1]).toMatchObject({
      decision: false,
      context: { code: 'GH_ERR_INVALID_REQUEST' },
    });
  });

  it('without an evaluations array it answers as a single evaluation', async () => {
    const answer = await post('/access/v1/evaluations', {
      subject: subject(reader),
      action: { name: 'GET' },
      resource: { type: 'orders', id: '9' },
    });
    expect(answer.json).toEqual({ decision: true });
  });

  it('an unknown evaluations_semantic is a 400', async () => {
    const answer = await post('/access/v1/evaluations', batch('first_wins'));
    expect(answer.status).toBe(400);
  });
});

describe('GET /.well-known/authzen-configuration', () => {
  it('names the PDP and both endpoints', async () => {
    const res = await request(`${t.httpBase}/.well-known/authzen-configuration`);
    expect(res.statusCode).toBe(200);
    const base = t.httpBase;
    expect(await res.body.json()).toEqual({
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
    });
  });
});
