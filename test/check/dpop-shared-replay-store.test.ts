import type { Client } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { athOf, createProofKey, signProof, type ProofKey } from '../auth/dpop/dpop-fixtures.js';
import { askDoor, DOORS, type Door, type DoorRequest } from '../helpers/check-doors.js';
import { startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { waitFor } from '../helpers/wait-for.js';
import { connect } from '../transport/grpc/grpc-test-client.js';

// Replicas behind one gateway share the DPoP replay store (tokens.dpop.replayStore.redis, a
// real redis-server): a proof used at one replica is refused at the other (RFC 9449 11.1).
// With the store down every DPoP check is denied with GH_ERR_DPOP_REPLAY_UNCHECKED (never
// allowed unchecked), and checks pass again once it is back.

const HOST = 'api.example.com';
const PATH = '/orders/42';

let redis: RunningRedis;
let a: TestGatehouse;
let b: TestGatehouse;
let grpcA: Client;
let grpcB: Client;
let key: ProofKey;

beforeAll(async () => {
  redis = await startRedis();
  const config = {
    tokens: { dpop: { replayStore: { redis: { url: redis.url, timeoutMs: 500 } } } },
  };
  a = await startTestGatehouse({ config });
  // b trusts a's issuer keys: the same tokens are good at both replicas.
  b = await startTestGatehouse({ config, issuer: { jwksFile: a.config.issuers[0]?.jwksFile } });
  grpcA = connect(a.gatehouse.grpcPort ?? 0);
  grpcB = connect(b.gatehouse.grpcPort ?? 0);
  key = await createProofKey();
}, 60_000);
afterAll(async () => {
  grpcA.close();
  grpcB.close();
  await Promise.all([a.close(), b.close()]);
  await redis.close();
});

/** A DPoP-bound token with a fresh proof (a new jti each call), good at either replica. */
async function dpopRequest(): Promise<DoorRequest> {
  const token = await a.issuer.sign({ cnf: { jkt: key.jkt } });
  const proof = await signProof(key, {
    claims: {
      htm: 'GET',
      htu: `https://${HOST}${PATH}`,
      iat: Math.floor(Date.now() / 1000),
      ath: athOf(token),
    },
  });
  return {
    method: 'GET',
    host: HOST,
    path: PATH,
    scheme: 'https',
    headers: { authorization: `DPoP ${token}`, dpop: proof },
  };
}

function ask(door: Door, t: TestGatehouse, req: DoorRequest) {
  return askDoor(door, { httpBase: t.httpBase, grpc: t === a ? grpcA : grpcB }, req);
}

describe('DPoP replay store shared by replicas (Redis)', () => {
  it.each(DOORS)(
    '%s: a proof used at one replica and replayed to the other is refused',
    async (door) => {
      const req = await dpopRequest();
      const first = await ask(door, a, req);
      expect(first, door).toMatchObject({ allowed: true, status: 200, code: 'GH_OK' });
      const replayed = await ask(door, b, req);
      expect(replayed, door).toMatchObject({
        allowed: false,
        status: 401,
        code: 'GH_ERR_DPOP_PROOF',
      });
      if (door === 'grpc') expect(replayed.grpcCode).toBe(16);
    },
  );

  it('store down: every door denies DPoP with GH_ERR_DPOP_REPLAY_UNCHECKED; store back: allowed again', async () => {
    await redis.stop();
    for (const door of DOORS) {
      for (const t of [a, b]) {
        const answer = await ask(door, t, await dpopRequest());
        expect(answer, door).toMatchObject({
          allowed: false,
          status: 403,
          code: 'GH_ERR_DPOP_REPLAY_UNCHECKED',
        });
        if (door === 'grpc') expect(answer.grpcCode).toBe(7);
        // No DPoP challenge: a new proof would fare no better.
        expect(answer.clientHeaders['www-authenticate'], door).toBeUndefined();
      }
    }
    await redis.start();
    for (const t of [a, b]) {
      await waitFor('the replica to reach the store again', async () => {
        return (await ask('grpc', t, await dpopRequest())).allowed;
      });
    }
    for (const door of DOORS) {
      const answer = await ask(door, b, await dpopRequest());
      expect(answer, door).toMatchObject({ allowed: true, status: 200, code: 'GH_OK' });
    }
  }, 60_000);
});
