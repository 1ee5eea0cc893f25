import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Client } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatehouse } from '../../src/app.js';
import { DpopNonces } from '../../src/auth/dpop/nonce.js';
import { ConfigError, parseConfig } from '../../src/config/load-config.js';
import { silentLogger } from '../../src/observability/logger.js';
import { athOf, createProofKey, signProof, type ProofKey } from '../auth/dpop/dpop-fixtures.js';
import { writeNonceCatalog } from '../helpers/nonce-catalog.js';
import { askDoor, DOORS, type Door, type DoorRequest } from '../helpers/check-doors.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { connect } from '../transport/grpc/grpc-test-client.js';

// DPoP server nonces (RFC 9449 sections 8 and 9) on an API with `auth.dpopNonce: required`,
// with real proofs, through every door: a proof without the nonce, or with an expired or
// forged one, gets 401 `DPoP error="use_dpop_nonce"` and a fresh `DPoP-Nonce`; with it, the
// request is allowed. Two Gatehouses with the same secret accept each other's nonces.

const HOST = 'api.example.com';
const NONCE_PATH = '/secure/7';
const PLAIN_PATH = '/orders/42';
const SECRET = 'the nonce secret all replicas share, 32+ bytes';
const LIFETIME_S = 60;

let policies: string;
let a: TestGatehouse;
let b: TestGatehouse;
let grpcA: Client;
let grpcB: Client;
let key: ProofKey;

async function start(): Promise<TestGatehouse> {
  return startTestGatehouse({
    policySource: policies,
    config: { tokens: { dpop: { nonce: { secretEnv: 'NONCE_SECRET', lifetimeS: LIFETIME_S } } } },
    env: { NONCE_SECRET: SECRET },
  });
}

beforeAll(async () => {
  policies = await writeNonceCatalog('gatehouse-nonce-policies-');
  [a, b] = await Promise.all([start(), start()]);
  grpcA = connect(a.gatehouse.grpcPort ?? 0);
  grpcB = connect(b.gatehouse.grpcPort ?? 0);
  key = await createProofKey();
});
afterAll(async () => {
  grpcA.close();
  grpcB.close();
  await Promise.all([a.close(), b.close()]);
  await rm(policies, { recursive: true, force: true });
});

/** A DPoP request to `path` at Gatehouse `t`, with a fresh proof carrying `nonce`, if any. */
async function dpopRequest(
  t: TestGatehouse,
  urlPath: string,
  nonce: string | undefined,
): Promise<DoorRequest> {
  const token = await t.issuer.sign({ cnf: { jkt: key.jkt } });
  const proof = await signProof(key, {
    claims: {
      htm: 'GET',
      htu: `https://${HOST}${urlPath}`,
      iat: Math.floor(Date.now() / 1000),
      ath: athOf(token),
      ...(nonce === undefined ? {} : { nonce }),
    },
  });
  return {
    method: 'GET',
    host: HOST,
    path: urlPath,
    scheme: 'https',
    headers: { authorization: `DPoP ${token}`, dpop: proof },
  };
}

function ask(door: Door, t: TestGatehouse, req: DoorRequest) {
  return askDoor(door, { httpBase: t.httpBase, grpc: t === a ? grpcA : grpcB }, req);
}

function expectNonceChallenge(answer: Awaited<ReturnType<typeof ask>>, door: Door): string {
  expect(answer, door).toMatchObject({ allowed: false, status: 401, code: 'GH_ERR_DPOP_NONCE' });
  if (door === 'grpc') expect(answer.grpcCode).toBe(16);
  expect(answer.clientHeaders['www-authenticate']).toMatch(
    /^DPoP realm="test", error="use_dpop_nonce", error_description="[^"]+"$/,
  );
  const nonce = answer.clientHeaders['dpop-nonce'];
  expect(nonce, `${door}: DPoP-Nonce`).toMatch(/^[A-Za-z0-9_-]+$/);
  return nonce ?? '';
}

describe('DPoP server nonces (RFC 9449 section 9)', () => {
  it.each(DOORS)(
    '%s: proof without nonce on a nonce API gets use_dpop_nonce and a fresh DPoP-Nonce',
    async (door) => {
      expectNonceChallenge(await ask(door, a, await dpopRequest(a, NONCE_PATH, undefined)), door);
    },
  );

  it.each(DOORS)('%s: proof with the issued nonce is allowed', async (door) => {
    const nonce = expectNonceChallenge(
      await ask(door, a, await dpopRequest(a, NONCE_PATH, undefined)),
      door,
    );
    const allowed = await ask(door, a, await dpopRequest(a, NONCE_PATH, nonce));
    expect(allowed, door).toMatchObject({ allowed: true, status: 200, code: 'GH_OK' });
    if (door === 'grpc') expect(allowed.grpcCode).toBe(0);
    // The allow carries the nonce to use next (gRPC response_headers_to_add, the Envoy and
    // NGINX 200, /v1/check responseHeaders). Traefik cannot pass it to the client on a 2xx.
    if (door !== 'traefik') expect(allowed.clientHeaders['dpop-nonce'], door).toBe(nonce);
  });

  it.each(DOORS)('%s: expired nonce refused', async (door) => {
    // Issued with the right secret, two windows and a second ago: past its lifetime.
    const expired = new DpopNonces({
      secret: Buffer.from(SECRET),
      lifetimeS: LIFETIME_S,
      now: () => Date.now() - (2 * LIFETIME_S + 1) * 1000,
    }).current();
    const answer = await ask(door, a, await dpopRequest(a, NONCE_PATH, expired));
    expect(expectNonceChallenge(answer, door)).not.toBe(expired);
  });

  it.each(DOORS)('%s: nonce from another secret (forged) refused', async (door) => {
    const forged = new DpopNonces({
      secret: Buffer.from('an attacker guessing at the secret, 32+ bytes'),
      lifetimeS: LIFETIME_S,
    }).current();
    expectNonceChallenge(await ask(door, a, await dpopRequest(a, NONCE_PATH, forged)), door);
  });

  it.each(DOORS)(
    '%s: nonce issued by another Gatehouse with the same secret accepted',
    async (door) => {
      const fromB = expectNonceChallenge(
        await ask(door, b, await dpopRequest(b, NONCE_PATH, undefined)),
        door,
      );
      const atA = await ask(door, a, await dpopRequest(a, NONCE_PATH, fromB));
      expect(atA, door).toMatchObject({ allowed: true, status: 200 });
    },
  );

  it.each(DOORS)('%s: API without dpopNonce needs none', async (door) => {
    const answer = await ask(door, a, await dpopRequest(a, PLAIN_PATH, undefined));
    expect(answer, door).toMatchObject({ allowed: true, status: 200 });
    expect(answer.clientHeaders['dpop-nonce']).toBeUndefined();
  });

  it('a proof with the nonce is still used once: a replay is invalid_dpop_proof', async () => {
    const first = await ask('grpc', a, await dpopRequest(a, NONCE_PATH, undefined));
    const nonce = expectNonceChallenge(first, 'grpc');
    const req = await dpopRequest(a, NONCE_PATH, nonce);
    expect((await ask('grpc', a, req)).allowed).toBe(true);
    expect(await ask('grpc', a, req)).toMatchObject({ allowed: false, code: 'GH_ERR_DPOP_PROOF' });
  });
});

describe('the nonce secret', () => {
  it.each([
    ['unset', {}],
    ['shorter than 32 bytes', { NONCE_SECRET: 'too short' }],
  ])('a secretEnv whose variable is %s stops the start', async (_, env) => {
    const config = parseConfig(
      {
        log: { level: 'silent' },
        grpc: { enabled: false },
        http: { enabled: false },
        persistence: { enabled: false },
        tokens: { dpop: { nonce: { secretEnv: 'NONCE_SECRET' } } },
      },
      tmpdir(),
      env,
    );
    await expect(startGatehouse(config, { logger: silentLogger(), env })).rejects.toThrow(
      ConfigError,
    );
  });
});
