import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, checkInput } from '../check/check-input-factory.js';
import { fixtureBundle } from '../helpers/policy-bundles.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import {
  APP,
  createSigningKey,
  ORDERS_AUDIENCE,
  ORDERS_JWT_ACCESS_TOKENS,
  startAuthorizationServer,
  type AuthorizationServer,
} from '../helpers/authorization-server.js';

// The whole control loop against a real central authorization server: oidc-provider for
// discovery, keys and Gatehouse's own client credentials, and a bundle server that serves
// only to a caller presenting an access token from that provider. This is the shape of
// the README's "OIDC provider plus a bundle server" example.

let provider: AuthorizationServer;
let bundleServer: Server;
let bundleUrl: string;
let bundleRequests = 0;
let refusedBundleRequests = 0;
let t: TestGatehouse;

beforeAll(async () => {
  provider = await startAuthorizationServer({
    ...ORDERS_JWT_ACCESS_TOKENS,
    keys: [await createSigningKey('key-1')],
  });
  const bundle = await fixtureBundle('central-1');
  const jwks = createRemoteJWKSet(new URL(`${provider.issuer}/jwks`));
  bundleServer = createServer((req, res) => {
    bundleRequests++;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const verified =
      token === undefined
        ? Promise.reject(new Error('no token'))
        : jwtVerify(token, jwks, { issuer: provider.issuer, audience: ORDERS_AUDIENCE });
    verified.then(
      () => {
        res.writeHead(200, { etag: '"central-1"' }).end(bundle);
      },
      () => {
        refusedBundleRequests++;
        res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      },
    );
  });
  await new Promise<void>((resolve) => bundleServer.listen(0, '127.0.0.1', resolve));
  bundleUrl = `http://127.0.0.1:${(bundleServer.address() as AddressInfo).port}/bundles/gatehouse.tar.gz`;

  t = await startTestGatehouse({
    config: {
      policies: { dir: '/nonexistent', watch: false },
      persistence: { enabled: false },
      issuers: [
        {
          issuer: provider.issuer,
          audiences: [ORDERS_AUDIENCE],
          algorithms: ['RS256'],
          discovery: true,
          unknownKidCooldownS: 1,
        },
      ],
      centralServer: {
        issuer: provider.issuer,
        clientId: APP.id,
        method: 'client_secret_basic',
        clientSecretEnv: 'GATEHOUSE_TEST_CLIENT_SECRET',
        scope: 'orders:read',
      },
      bundle: { url: bundleUrl, pollMinDelayS: 3600, pollMaxDelayS: 3600, useClientAuth: true },
    },
    env: { GATEHOUSE_TEST_CLIENT_SECRET: APP.secret },
  });
});
afterAll(async () => {
  await t.close();
  bundleServer.closeAllConnections();
  await new Promise((resolve) => bundleServer.close(resolve));
  await provider.stop();
});

async function checkWith(token: string): Promise<{ allowed: boolean; code: string }> {
  const decision = await t.gatehouse.pipeline.check(
    checkInput({ path: '/users/me', headers: bearer(token) }),
  );
  return { allowed: decision.allowed, code: decision.code };
}

describe('sync from a central authorization server', () => {
  it('authenticates to the bundle server with its own client credentials token', () => {
    expect(t.gatehouse.ready).toBe(true);
    expect(t.gatehouse.store.current()?.sourceRevision).toBe('central-1');
    expect(bundleRequests).toBe(1);
    expect(refusedBundleRequests).toBe(0);
    expect(provider.hits('/token')).toBe(1);
  });

  it('finds the keys by discovery and accepts the provider’s access tokens', async () => {
    expect(provider.hits('/.well-known/openid-configuration')).toBeGreaterThanOrEqual(1);
    expect(await checkWith(await provider.issueToken())).toEqual({ allowed: true, code: 'GH_OK' });
  });

  it('a flood of tokens with random unknown kids costs at most one JWKS fetch per cooldown', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the start-up load's cooldown
    const { privateKey } = await generateKeyPair('RS256');
    const before = provider.hits('/jwks');
    const forged = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        new SignJWT({ sub: 'mallory' })
          .setProtectedHeader({ alg: 'RS256', kid: `random-${String(i)}-${String(Math.random())}` })
          .setIssuer(provider.issuer)
          .setAudience(ORDERS_AUDIENCE)
          .setExpirationTime('5m')
          .sign(privateKey),
      ),
    );
    const decisions = await Promise.all(forged.map((token) => checkWith(token)));
    expect(decisions.every((d) => !d.allowed && d.code === 'GH_ERR_TOKEN_KEY_UNKNOWN')).toBe(true);
    const fetches = provider.hits('/jwks') - before;
    console.log(`unknown-kid flood: 200 checks, ${String(fetches)} JWKS fetch(es)`);
    expect(fetches).toBeLessThanOrEqual(1);
  });

  it('a key rotation: new tokens are accepted within one refresh, tokens of the removed key are not', async () => {
    const oldToken = await provider.issueToken();
    expect((await checkWith(oldToken)).allowed).toBe(true);
    provider.use([await createSigningKey('key-2')]); // key-1 removed
    const newToken = await provider.issueToken();
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the cooldown since the flood
    expect(await checkWith(newToken)).toEqual({ allowed: true, code: 'GH_OK' });
    await new Promise((resolve) => setTimeout(resolve, 200)); // the snapshot catches up
    expect(await checkWith(oldToken)).toEqual({ allowed: false, code: 'GH_ERR_TOKEN_KEY_UNKNOWN' });
  });
});
