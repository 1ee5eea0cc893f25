import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeNonceCatalog } from '../../../helpers/nonce-catalog.js';
import { requestText } from '../../../helpers/request-text.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  athOf,
  createProofKey,
  signProof,
  type ProofKey,
} from '../../../auth/dpop/dpop-fixtures.js';
import { startNginx, type RunningNginx } from '../../../helpers/nginx.js';
import { startTestGatehouse, type TestGatehouse } from '../../../helpers/test-gatehouse.js';

// DPoP server nonces through a real NGINX (auth_request): the README's two lines
// (auth_request_set $dpop_nonce $upstream_http_dpop_nonce; add_header DPoP-Nonce ... always)
// bring Gatehouse's DPoP-Nonce to the client on the 401 use_dpop_nonce and on the allow.

const PATH = '/secure/7';
let policies: string;
let t: TestGatehouse;
let nginx: RunningNginx;
let upstream: Server;
let key: ProofKey;
let token: string;

beforeAll(async () => {
  policies = await writeNonceCatalog('gatehouse-nginx-nonce-');
  t = await startTestGatehouse({ policySource: policies });
  upstream = createServer((_req, res) => {
    res.end('upstream');
  });
  await new Promise<void>((resolve) => {
    upstream.listen(0, '127.0.0.1', resolve);
  });
  nginx = await startNginx({
    authUrl: `${t.httpBase}/nginx`,
    upstreamUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
  });
  key = await createProofKey();
  token = await t.issuer.sign({ cnf: { jkt: key.jkt } });
});
afterAll(async () => {
  await nginx.stop();
  await new Promise<void>((resolve) => {
    upstream.close(() => {
      resolve();
    });
  });
  await t.close();
  await rm(policies, { recursive: true, force: true });
});

async function viaNginx(nonce: string | undefined) {
  // The helper's nginx sends X-Original-Host $host, without the port: so is the htu.
  const proof = await signProof(key, {
    claims: {
      htm: 'GET',
      htu: `http://127.0.0.1${PATH}`,
      iat: Math.floor(Date.now() / 1000),
      ath: athOf(token),
      ...(nonce === undefined ? {} : { nonce }),
    },
  });
  return requestText(`${nginx.baseUrl}${PATH}`, {
    headers: { authorization: `DPoP ${token}`, dpop: proof },
  });
}

describe('DPoP-Nonce behind NGINX auth_request', () => {
  it('proof without nonce on a nonce API gets use_dpop_nonce and a fresh DPoP-Nonce from NGINX', async () => {
    const denied = await viaNginx(undefined);
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toMatch(/^DPoP .*error="use_dpop_nonce"/);
    expect(denied.headers['dpop-nonce']).toMatch(/^[A-Za-z0-9_-]{24}$/);
  });

  it('proof with the issued nonce is allowed, and the allow carries the nonce', async () => {
    const nonce = String((await viaNginx(undefined)).headers['dpop-nonce']);
    const allowed = await viaNginx(nonce);
    expect(allowed.status).toBe(200);
    expect(allowed.body).toBe('upstream');
    expect(allowed.headers['dpop-nonce']).toBe(nonce);
  });
});
