import { randomBytes } from 'node:crypto';
import type { Client } from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startScriptedServer, type ScriptedServer } from '../auth/introspection/scripted-server.js';
import { askDoor, DOORS, type DoorRequest } from '../helpers/check-doors.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { connect } from '../transport/grpc/grpc-test-client.js';

// Introspection amplification: every opaque token the cache has not seen costs the issuer one
// request. A flood of random tokens is held to issuers[].introspection.maxCallsPerS by a
// token bucket; what the bucket refuses is denied unasked (403
// GH_ERR_INTROSPECTION_THROTTLED), and what the cache knows still works. The
// introspection endpoint is a real HTTP server that counts what it receives.

const ISSUER = 'https://as.example.test';
const RATE = 5;
const BURST = 5;
const GOOD_TOKEN = 'the-one-good-opaque-token-0123456789';
const INACTIVE_TOKEN = 'a-revoked-opaque-token-0123456789';

let endpoint: ScriptedServer;
let t: TestGatehouse;
let grpc: Client;

beforeAll(async () => {
  endpoint = await startScriptedServer(() => ({ body: { active: false } }));
  t = await startTestGatehouse({
    config: {
      issuers: [
        {
          issuer: ISSUER,
          audiences: ['orders-api'],
          introspection: {
            endpoint: endpoint.endpoint,
            maxCallsPerS: RATE,
            maxCallsBurst: BURST,
            inactiveCacheTtlS: 10,
          },
        },
      ],
      centralServer: {
        tokenEndpoint: 'http://127.0.0.1:1/token',
        clientId: 'gatehouse',
        method: 'client_secret_basic',
        clientSecretEnv: 'RS_SECRET',
      },
    },
    env: { RS_SECRET: 'rs-secret-0123456789' },
  });
  grpc = connect(t.gatehouse.grpcPort ?? 0);
});
afterAll(async () => {
  grpc.close();
  await t.close();
  await endpoint.close();
});

beforeEach(async () => {
  endpoint.script((req) =>
    req.form.get('token') === GOOD_TOKEN
      ? { body: { active: true, sub: 'alice', iss: ISSUER } }
      : { body: { active: false } },
  );
  // Let the bucket fill up again between tests: BURST / RATE seconds, and a little more.
  await new Promise((resolve) => setTimeout(resolve, (BURST / RATE) * 1000 + 100));
});

function received(): number {
  return endpoint.requests.length;
}

function opaque(token: string): DoorRequest {
  return {
    method: 'GET',
    host: 'api.example.com',
    path: '/users/me',
    scheme: 'https',
    headers: { authorization: `Bearer ${token}` },
  };
}

function randomToken(): string {
  return `flood-${randomBytes(16).toString('base64url')}`;
}

/** The rate-limited count of the introspection metric, as Prometheus scrapes it. */
async function rateLimitedMetric(): Promise<number> {
  const text = await (await request(`${t.httpBase}/metrics`)).body.text();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('gatehouse_introspection_requests_total{') &&
        l.includes(`issuer="${ISSUER}"`) &&
        l.includes('outcome="rate_limited"'),
    );
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('introspection is bounded per issuer (token bucket)', () => {
  it('random opaque token flood is capped at maxCallsPerS calls per second', async () => {
    const before = received();
    const metricBefore = await rateLimitedMetric();
    const started = performance.now();
    const answers = [];
    // Three waves of 20 random tokens over about two seconds, through every door.
    for (let wave = 0; wave < 3; wave++) {
      const batch = Array.from({ length: 20 }, (_, i) =>
        askDoor(
          DOORS[i % DOORS.length] ?? 'envoy',
          { httpBase: t.httpBase, grpc },
          opaque(randomToken()),
        ),
      );
      answers.push(...(await Promise.all(batch)));
      if (wave < 2) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const elapsedS = (performance.now() - started) / 1000;
    const calls = received() - before;

    // The bucket's bound: the burst, plus RATE per second since; and it was reached.
    expect(calls).toBeLessThanOrEqual(BURST + Math.ceil(RATE * elapsedS));
    expect(calls).toBeGreaterThanOrEqual(BURST);
    expect(answers.every((a) => !a.allowed)).toBe(true);
    const limited = answers.filter((a) => a.code === 'GH_ERR_INTROSPECTION_THROTTLED');
    const inactive = answers.filter((a) => a.code === 'GH_ERR_TOKEN_INACTIVE');
    expect(limited.length + inactive.length).toBe(answers.length);
    expect(inactive.length).toBe(calls);
    expect(limited.length).toBe(answers.length - calls);
    for (const answer of limited) {
      expect(answer.status).toBe(403);
      if (answer.grpcCode !== undefined) expect(answer.grpcCode).toBe(7);
    }
    expect((await rateLimitedMetric()) - metricBefore).toBe(limited.length);

    // The bucket is spent now: every door says so, with its status and gRPC code.
    const perDoor = await Promise.all(
      DOORS.map(async (door) => {
        const tries = await Promise.all(
          Array.from({ length: BURST }, () =>
            askDoor(door, { httpBase: t.httpBase, grpc }, opaque(randomToken())),
          ),
        );
        return [door, tries.find((a) => a.code === 'GH_ERR_INTROSPECTION_THROTTLED')] as const;
      }),
    );
    for (const [door, answer] of perDoor) {
      expect(answer, door).toMatchObject({ allowed: false, status: 403 });
      if (door === 'grpc') expect(answer?.grpcCode).toBe(7);
    }
  });

  it('repeated inactive token is answered from the negative cache', async () => {
    const before = received();
    for (const door of DOORS) {
      const answer = await askDoor(door, { httpBase: t.httpBase, grpc }, opaque(INACTIVE_TOKEN));
      expect(answer).toMatchObject({ allowed: false, status: 401, code: 'GH_ERR_TOKEN_INACTIVE' });
      if (door === 'grpc') expect(answer.grpcCode).toBe(16);
    }
    // One request for five checks: the other four were answered from the inactive cache.
    expect(received() - before).toBe(1);
  });

  it('cached active token still allowed while the bucket is empty', async () => {
    const target = { httpBase: t.httpBase, grpc };
    expect((await askDoor('envoy', target, opaque(GOOD_TOKEN))).allowed).toBe(true);
    // Spend the bucket, and check it is spent: new tokens are refused unasked (a slow
    // machine may refill a call or two meanwhile, so a few are tried at once).
    await Promise.all(
      Array.from({ length: BURST * 2 }, () => askDoor('json', target, opaque(randomToken()))),
    );
    const probes = await Promise.all(
      Array.from({ length: BURST }, () => askDoor('json', target, opaque(randomToken()))),
    );
    expect(
      probes.some((p) => p.status === 403 && p.code === 'GH_ERR_INTROSPECTION_THROTTLED'),
    ).toBe(true);
    const before = received();
    for (const door of DOORS) {
      const answer = await askDoor(door, target, opaque(GOOD_TOKEN));
      expect(answer, door).toMatchObject({ allowed: true, status: 200, code: 'GH_OK' });
      if (door === 'grpc') expect(answer.grpcCode).toBe(0);
    }
    expect(received() - before).toBe(0);
  });

  it('callers joining a request in flight take nothing from the bucket', async () => {
    const target = { httpBase: t.httpBase, grpc };
    endpoint.script(() => ({ body: { active: false }, delayMs: 200 }));
    const token = randomToken();
    const before = received();
    const answers = await Promise.all(
      Array.from({ length: BURST * 3 }, () => askDoor('envoy', target, opaque(token))),
    );
    expect(received() - before).toBe(1);
    expect(answers.every((a) => a.code === 'GH_ERR_TOKEN_INACTIVE')).toBe(true);
  });
});
