import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METHOD_OVERRIDE_HEADERS } from '../../src/check/method-override.js';
import { DOORS, type DoorAnswer } from '../helpers/check-doors.js';
import { startDoorGatehouse, type DoorGatehouse } from '../helpers/door-gatehouse.js';
import type { TestGatehouse } from '../helpers/test-gatehouse.js';

// Spoofed identity headers, claims that are not plain ASCII, and method overrides, through
// every check door of one real Gatehouse (real gRPC client, real HTTP requests, the fixture
// policies compiled by opa). Unknown APIs are let through here, so that case is covered too.

let doors: DoorGatehouse;
let t: TestGatehouse;

beforeAll(async () => {
  doors = await startDoorGatehouse({ config: { routing: { allowUnknownApis: true } } });
  t = doors.t;
});
afterAll(() => doors.close());

async function bearer(claims: Record<string, unknown> = {}): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await t.issuer.sign(claims)}` };
}

/**
 * The client's header cannot reach the upstream: gRPC and Envoy's HTTP mode are told to remove
 * it; NGINX and Traefik get no value for it, so the documented config (proxy_set_header from
 * the answer; authResponseHeaders) replaces the client's with nothing.
 */
function expectStripped(answer: DoorAnswer, name: string): void {
  expect(answer.allowed).toBe(true);
  expect(answer.upstreamHeaders[name]).toBeUndefined();
  if (answer.removedHeaders !== undefined) expect(answer.removedHeaders).toContain(name);
}

describe.each(DOORS)('client-sent identity headers never reach the upstream (%s)', (door) => {
  it('client-sent x-user-sub on an API without that mapping is removed', async () => {
    // users.get maps no claim to x-user-sub; the profile APIs do, and the default list has it.
    const answer = await doors.ask(door, 'GET', '/users/7', {
      ...(await bearer()),
      'x-user-sub': 'admin',
    });
    expectStripped(answer, 'x-user-sub');
    expect(answer.upstreamHeaders['x-route']).toBe('by-id:7');
  });

  it('client-sent identity headers on an auth-none API are removed', async () => {
    const answer = await doors.ask(door, 'GET', '/public/docs', {
      'x-user-sub': 'admin',
      'x-forwarded-user': 'root',
      'remote-user': 'root',
      'x-user-email': 'ceo@example.com',
    });
    for (const name of ['x-user-sub', 'x-forwarded-user', 'remote-user', 'x-user-email']) {
      expectStripped(answer, name);
    }
  });

  it('client-sent x-user-sub on a request no API matches (allowUnknownApis) is removed', async () => {
    const answer = await doors.ask(door, 'GET', '/nowhere', { 'x-user-sub': 'admin' });
    expectStripped(answer, 'x-user-sub');
  });

  it('a claim the API maps replaces the client value (set, not removed after setting)', async () => {
    const answer = await doors.ask(door, 'GET', '/profile', {
      ...(await bearer()),
      'x-user-sub': 'admin',
      'x-tenant': 'other-tenant',
    });
    expect(answer.upstreamHeaders['x-user-sub']).toBe('alice');
    if (answer.removedHeaders !== undefined)
      expect(answer.removedHeaders).not.toContain('x-user-sub');
    // The token has no tenant claim: no value, and the client's x-tenant is removed.
    expectStripped(answer, 'x-tenant');
  });

  it('a non-ASCII claim arrives percent-encoded as UTF-8, the same on every door', async () => {
    const answer = await doors.ask(
      door,
      'GET',
      '/profile',
      await bearer({ email: 'zoë@example.com', roles: ['reader', 'Прочие, все'] }),
    );
    expect(answer.allowed).toBe(true);
    expect(answer.upstreamHeaders['x-user-email']).toBe('zo%C3%AB@example.com');
    expect(answer.upstreamHeaders['x-user-roles']).toBe(
      'reader,%D0%9F%D1%80%D0%BE%D1%87%D0%B8%D0%B5%2C%20%D0%B2%D1%81%D0%B5',
    );
  });

  it('a claim with CR LF (header injection) denies with GH_ERR_CLAIM_NOT_REPRESENTABLE, 403', async () => {
    const answer = await doors.ask(
      door,
      'GET',
      '/profile',
      await bearer({ email: 'a@example.com\r\nx-admin: true' }),
    );
    expect(answer).toMatchObject({
      allowed: false,
      status: 403,
      code: 'GH_ERR_CLAIM_NOT_REPRESENTABLE',
    });
    if (door === 'grpc') expect(answer.grpcCode).toBe(7);
  });

  it('a claim mapped to a header that holds an object denies with GH_ERR_CLAIM_NOT_REPRESENTABLE', async () => {
    const answer = await doors.ask(
      door,
      'GET',
      '/profile',
      await bearer({ tenant: { id: { x: 1 } } }),
    );
    expect(answer).toMatchObject({ status: 403, code: 'GH_ERR_CLAIM_NOT_REPRESENTABLE' });
  });

  it('X-HTTP-Method-Override on an allowed POST is removed (routing.methodOverride: strip)', async () => {
    const answer = await doors.ask(door, 'POST', '/orders', {
      ...(await bearer({ roles: ['writer'] })),
      'x-http-method-override': 'DELETE',
      'x-http-method': 'DELETE',
      'x-method-override': 'DELETE',
    });
    for (const name of METHOD_OVERRIDE_HEADERS) expectStripped(answer, name);
  });
});
