import type { Client } from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  resourceServerClient,
  startAuthorizationServer,
  type AuthorizationServer,
} from '../helpers/authorization-server.js';
import { startScriptedServer, type ScriptedServer } from '../auth/introspection/scripted-server.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { bearerUsersMeCheck, connect } from '../transport/grpc/grpc-test-client.js';

// Opaque tokens end to end: the real oidc-provider issues them and answers RFC 7662
// introspection; Gatehouse introspects as its own registered client, over HTTP and gRPC.
// A scripted server plays the broken introspection endpoints.

const RS = { id: 'gatehouse-rs', secret: 'gatehouse-rs-secret-0123456789abcdef' };
let provider: AuthorizationServer;
let t: TestGatehouse;
let client: Client;

function config(issuer: string, endpoint?: string, timeoutMs = 2000): Record<string, unknown> {
  return {
    issuers: [
      {
        issuer,
        audiences: ['orders-api'],
        introspection: { ...(endpoint === undefined ? {} : { endpoint }), timeoutMs },
      },
    ],
    centralServer: {
      issuer,
      clientId: RS.id,
      method: 'client_secret_basic',
      clientSecretEnv: 'RS_SECRET',
    },
  };
}

beforeAll(async () => {
  provider = await startAuthorizationServer({
    clients: [resourceServerClient(RS.id, 'client_secret_basic', { client_secret: RS.secret })],
    introspectors: [RS.id],
  });
  // The endpoint is found by discovery: the config names only the issuer.
  t = await startTestGatehouse({ config: config(provider.issuer), env: { RS_SECRET: RS.secret } });
  client = connect(t.gatehouse.grpcPort ?? 0);
});
afterAll(async () => {
  client.close();
  await t.close();
  await provider.stop();
});

async function httpCheck(
  gatehouse: TestGatehouse,
  token: string,
): Promise<{ status: number; body: string }> {
  const response = await request(`${gatehouse.httpBase}/envoy/users/me`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.statusCode, body: await response.body.text() };
}

describe('opaque tokens by introspection (RFC 7662)', () => {
  it('an active token from the provider is allowed, over HTTP and gRPC', async () => {
    const token = await provider.issueToken({ scope: 'orders:read' });
    expect((await httpCheck(t, token)).status).toBe(200);
    const { response } = await bearerUsersMeCheck(client, token);
    expect(response?.status.code).toBe(0);
  });

  it('a repeated token is answered from the cache: one introspection', async () => {
    const token = await provider.issueToken({ scope: 'orders:read' });
    const before = provider.hits('/token/introspection');
    await httpCheck(t, token);
    await httpCheck(t, token);
    await httpCheck(t, token);
    expect(provider.hits('/token/introspection') - before).toBe(1);
  });

  it('an unknown token is inactive: 401 invalid_token', async () => {
    const result = await httpCheck(t, 'not-a-token-the-provider-ever-issued');
    expect(result.status).toBe(401);
    expect(JSON.parse(result.body)).toMatchObject({ error: 'GH_ERR_TOKEN_INACTIVE' });
  });
});

describe('introspection failures deny, never allow', () => {
  let scripted: ScriptedServer;
  let broken: TestGatehouse;
  beforeAll(async () => {
    scripted = await startScriptedServer(() => ({ body: { active: true, sub: 'x' } }));
    broken = await startTestGatehouse({
      config: config(provider.issuer, scripted.endpoint, 300),
      env: { RS_SECRET: RS.secret },
    });
  });
  afterAll(async () => {
    await broken.close();
    await scripted.close();
  });

  it.each([
    [
      'introspection response with active: false',
      () => ({ body: { active: false } }),
      401,
      'GH_ERR_TOKEN_INACTIVE',
    ],
    [
      'malformed introspection JSON',
      () => ({ body: '{"active": tru' }),
      403,
      'GH_ERR_INTROSPECTION_UNAVAILABLE',
    ],
    ['introspection timeout', () => 'hang' as const, 403, 'GH_ERR_INTROSPECTION_UNAVAILABLE'],
    [
      'introspection answering 500',
      () => ({ status: 500, body: { error: 'server_error' } }),
      403,
      'GH_ERR_INTROSPECTION_UNAVAILABLE',
    ],
  ])('%s', async (_, script, status, code) => {
    scripted.script(script);
    const result = await httpCheck(broken, `opaque-${String(Math.random())}`);
    expect(result.status).toBe(status);
    expect(JSON.parse(result.body)).toMatchObject({ error: code });
  });

  it('a cached token after its exp is not served from the cache', async () => {
    const exp = Math.floor(Date.now() / 1000) + 1;
    scripted.script(() => ({ body: { active: true, sub: 'alice', exp } }));
    const token = `short-lived-${String(Math.random())}`;
    expect((await httpCheck(broken, token)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const after = await httpCheck(broken, token);
    expect(after.status).toBe(401);
  });
});
