import type { Client } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import {
  HeaderAppendAction,
  ServingStatus,
  type CheckRequestMessage,
  type HeaderValueOptionMessage,
} from '../../src/transport/grpc/wire-types.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { connect, unary } from '../transport/grpc/grpc-test-client.js';

// The whole house over gRPC: a real grpc-js client speaking our ext_authz protos to a real
// Gatehouse (pipeline, opa-compiled fixture policies, RS256 keys on disk). Nothing is faked.

const protos = loadProtos();
let t: TestGatehouse;
let client: Client;

beforeAll(async () => {
  t = await startTestGatehouse();
  client = connect(t.gatehouse.grpcPort ?? 0);
});
afterAll(async () => {
  client.close();
  await t.close();
});

function checkRequest(path: string, headers: Record<string, string> = {}): CheckRequestMessage {
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 50000 } } },
      request: {
        http: {
          id: 'e2e',
          method: 'GET',
          path,
          host: 'api.example.com',
          scheme: 'https',
          protocol: 'HTTP/2',
          headers: { ':authority': 'api.example.com', ':path': path, ':method': 'GET', ...headers },
        },
      },
    },
  };
}

function headerValue(
  headers: readonly HeaderValueOptionMessage[] | undefined,
  name: string,
): string | undefined {
  return headers?.find((h) => h.header.key === name)?.header.value;
}

async function check(path: string, headers: Record<string, string> = {}) {
  const result = await unary(client, protos.authorization.Check, checkRequest(path, headers));
  if (result.error !== undefined)
    throw new Error(`gRPC error ${result.error.code}: never expected`);
  return result.response;
}

describe('Envoy ext_authz v3 over gRPC, end to end', () => {
  it('no token: status UNAUTHENTICATED (16) and a 401 denied response with the challenge', async () => {
    const response = await check('/orders/42');
    expect(response.status.code).toBe(16);
    expect(response.denied_response?.status.code).toBe(401);
    expect(headerValue(response.denied_response?.headers, 'www-authenticate')).toBe(
      'Bearer realm="test"',
    );
  });

  it('valid reader token: OK, with the policy headers overwriting client-sent ones', async () => {
    const token = await t.issuer.sign();
    const response = await check('/orders/42', {
      authorization: `Bearer ${token}`,
      'x-user-sub': 'mallory',
    });
    expect(response.status.code).toBe(0);
    const userSub = (response.ok_response?.headers ?? []).find(
      (h) => h.header.key === 'x-user-sub',
    );
    expect(userSub?.header.value).toBe('alice');
    // OVERWRITE_IF_EXISTS_OR_ADD: the client's own x-user-sub cannot survive.
    expect(userSub?.append_action).toBe(HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD);
    // The policy's removal plus identity headers not set here; never the x-user-sub it sets.
    expect(response.ok_response?.headers_to_remove).toEqual(
      expect.arrayContaining(['x-internal-debug', 'x-user-email']),
    );
    expect(response.ok_response?.headers_to_remove).not.toContain('x-user-sub');
  });

  it('policy deny: PERMISSION_DENIED (7) and a 403 denied response', async () => {
    const token = await t.issuer.sign();
    const response = await check('/admin', { authorization: `Bearer ${token}` });
    expect(response.status.code).toBe(7);
    expect(response.denied_response?.status.code).toBe(403);
  });

  it('expired token: 16 and invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await t.issuer.sign({ iat: now - 7200, exp: now - 3600 });
    const response = await check('/orders/42', { authorization: `Bearer ${token}` });
    expect(response.status.code).toBe(16);
    expect(JSON.stringify(response.denied_response?.headers)).toContain(
      'error=\\"invalid_token\\"',
    );
  });

  it.each(['//admin', '/public/../admin', '/public/%2e%2e/admin'])(
    '%s is the admin API: 7 and 403',
    async (path) => {
      const response = await check(path, { authorization: `Bearer ${await t.issuer.sign()}` });
      expect(response.status.code).toBe(7);
      expect(response.denied_response?.status.code).toBe(403);
    },
  );

  it('malformed path: 7 and a 400 denied response', async () => {
    const response = await check('/public%2Fadmin', {
      authorization: `Bearer ${await t.issuer.sign()}`,
    });
    expect(response.status.code).toBe(7);
    expect(response.denied_response?.status.code).toBe(400);
  });

  it('health answers SERVING once the snapshot is active', async () => {
    const result = await unary(client, protos.health.Check, { service: '' });
    expect(result.response?.status).toBe(ServingStatus.SERVING);
  });
});
