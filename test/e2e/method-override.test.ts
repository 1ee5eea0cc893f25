import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { athOf, createProofKey, signProof } from '../auth/dpop/dpop-fixtures.js';
import { checkInput } from '../check/check-input-factory.js';
import { DOORS } from '../helpers/check-doors.js';
import { startDoorGatehouse, type DoorGatehouse } from '../helpers/door-gatehouse.js';
import type { TestGatehouse } from '../helpers/test-gatehouse.js';

// routing.methodOverride: authorize. A POST carrying X-HTTP-Method-Override is routed and
// authorized as the method it names, through every door of a real Gatehouse. (The default,
// strip, is covered in identity-headers.test.ts.)

let doors: DoorGatehouse;
let t: TestGatehouse;

beforeAll(async () => {
  doors = await startDoorGatehouse({ config: { routing: { methodOverride: 'authorize' } } });
  t = doors.t;
});
afterAll(() => doors.close());

async function token(roles: string[]): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await t.issuer.sign({ roles })}` };
}

describe.each(DOORS)('routing.methodOverride: authorize (%s)', (door) => {
  it('a writer POST overridden to DELETE is decided as DELETE /orders: no such API, 403', async () => {
    // Allowed as a POST; the upstream would have performed a DELETE nobody authorized.
    const answer = await doors.ask(door, 'POST', '/orders', {
      ...(await token(['writer'])),
      'x-http-method-override': 'DELETE',
    });
    expect(answer).toMatchObject({ allowed: false, status: 403, code: 'GH_ERR_API_UNKNOWN' });
  });

  it('a reader POST overridden to GET is authorized as GET /orders, the override passed on', async () => {
    // As a POST the reader would be refused (orders are read-only for readers).
    const answer = await doors.ask(door, 'POST', '/orders', {
      ...(await token(['reader'])),
      'x-method-override': 'get',
    });
    expect(answer.allowed).toBe(true);
    expect(answer.upstreamHeaders['x-method-override']).toBe('GET');
    if (answer.removedHeaders !== undefined) {
      expect(answer.removedHeaders).not.toContain('x-method-override');
      expect(answer.removedHeaders).toEqual(expect.arrayContaining(['x-http-method-override']));
    }
  });

  it.each([
    ['two methods in one header', { 'x-http-method-override': 'GET, DELETE' }],
    ['not a method token', { 'x-http-method-override': 'DEL ETE' }],
    ['headers that disagree', { 'x-http-method-override': 'GET', 'x-http-method': 'DELETE' }],
  ])('a malformed override (%s) is 400 GH_ERR_INVALID_REQUEST', async (_, override) => {
    const answer = await doors.ask(door, 'POST', '/orders', {
      ...(await token(['writer'])),
      ...override,
    });
    // NGINX auth_request only knows 401 and 403: the 400 reaches it folded into a 403.
    expect(answer).toMatchObject({
      allowed: false,
      status: door === 'nginx' ? 403 : 400,
      code: 'GH_ERR_INVALID_REQUEST',
    });
  });

  it('an override on a GET is not honoured: decided as GET, and the override removed', async () => {
    const answer = await doors.ask(door, 'GET', '/orders/42', {
      ...(await token(['reader'])),
      'x-http-method-override': 'DELETE',
    });
    expect(answer.allowed).toBe(true);
    expect(answer.upstreamHeaders['x-http-method-override']).toBeUndefined();
    if (answer.removedHeaders !== undefined)
      expect(answer.removedHeaders).toContain('x-http-method-override');
  });
});

describe('an override does not change what a DPoP proof is checked against', () => {
  it('a DPoP proof for the POST actually sent passes; one naming the override method is refused', async () => {
    const key = await createProofKey();
    const bound = await t.issuer.sign({ roles: ['reader'], cnf: { jkt: key.jkt } });
    const proofFor = (htm: string): Promise<string> =>
      signProof(key, {
        claims: {
          htm,
          htu: 'https://api.example.com/orders',
          iat: Math.floor(Date.now() / 1000),
          ath: athOf(bound),
        },
      });
    const request = async (htm: string) =>
      t.gatehouse.pipeline.check(
        checkInput({
          method: 'POST',
          path: '/orders',
          headers: {
            authorization: `DPoP ${bound}`,
            dpop: await proofFor(htm),
            'x-http-method-override': 'GET',
          },
        }),
      );
    // RFC 9449 section 4.3: htm is the method of the HTTP request the proof came with.
    expect(await request('POST')).toMatchObject({ allowed: true, api: { id: 'orders.list' } });
    expect(await request('GET')).toMatchObject({ allowed: false, code: 'GH_ERR_DPOP_PROOF' });
  });
});
