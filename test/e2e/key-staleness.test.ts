import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import { LastKnownGoodStore } from '../../src/sync/last-known-good.js';
import { askEveryDoor, bearerRequest, type DoorAnswer } from '../helpers/check-doors.js';
import type { JwksServer } from '../helpers/jwks-server.js';
import {
  cleanupsAfterEach,
  startHouse as startSharedHouse,
  startKeyServer,
  stopHouse,
  type House,
} from '../helpers/key-server-house.js';
import { issuerStatus, metricValue } from '../helpers/status-and-metrics.js';
import { createTestIssuer, TEST_ISSUER, type TestIssuer } from '../helpers/token-factory.js';

// issuers[].maxKeyStalenessS: an operator who prefers fail-closed over serving keys of any
// age. Real key server on loopback, real Gatehouse, every door; short limits (3-4 s, so the
// key source refreshes every 1.5-2 s) keep the suite quick.

const cleanups = cleanupsAfterEach();

function startHouse(
  server: JwksServer,
  issuerFields: Record<string, unknown>,
  config: Record<string, unknown> = {},
): Promise<House> {
  return startSharedHouse(cleanups, {
    issuer: { jwksFile: undefined, jwksUrl: server.jwksUrl, ...issuerFields },
    config,
  });
}

function startServer(signer: TestIssuer): Promise<JwksServer> {
  return startKeyServer(cleanups, signer.jwks);
}

/**
 * A fresh last-known-good folder (removed after the test), the persistence config naming
 * it, a key server for a new signer, and a token of that signer.
 */
async function withSavedState(): Promise<{
  stateDir: string;
  persistence: { persistence: { dir: string } };
  server: JwksServer;
  token: string;
}> {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-state-'));
  cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
  const signer = await createTestIssuer();
  const server = await startServer(signer);
  return {
    stateDir,
    persistence: { persistence: { dir: stateDir } },
    server,
    token: await signer.sign(),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function expectStaleEverywhere(answers: readonly DoorAnswer[]): void {
  expect(answers.map((answer) => answer.door)).toEqual([
    'grpc',
    'envoy',
    'json',
    'nginx',
    'traefik',
  ]);
  for (const answer of answers) {
    // 403 without a challenge: the token may be fine, the keys cannot be vouched for.
    expect(answer, answer.door).toMatchObject({
      code: 'GH_ERR_ISSUER_KEYS_STALE',
      status: 403,
      challenge: undefined,
    });
  }
  expect(answers[0]?.grpcCode).toBe(7);
}

async function expectAllowedEverywhere(house: House, token: string): Promise<void> {
  const answers = await askEveryDoor(
    { grpc: house.grpc, httpBase: house.t.httpBase },
    bearerRequest(token),
  );
  for (const answer of answers) expect(answer, answer.door).toMatchObject({ code: 'GH_OK' });
  expect(answers[0]?.grpcCode).toBe(0);
}

describe('issuers[].maxKeyStalenessS', () => {
  it('keys older than maxKeyStalenessS deny with GH_ERR_ISSUER_KEYS_STALE, and allow again once the key server serves', async () => {
    const signer = await createTestIssuer();
    const server = await startServer(signer);
    const house = await startHouse(server, { maxKeyStalenessS: 3 });
    const token = await signer.sign();
    await expectAllowedEverywhere(house, token);

    // The provider goes down: the kept keys serve until they are 3 s old, then deny.
    server.fail(503);
    await waitFor(
      'stale keys',
      async () => (await issuerStatus(house.t.httpBase, TEST_ISSUER)).keysStale,
    );
    expectStaleEverywhere(
      await askEveryDoor({ grpc: house.grpc, httpBase: house.t.httpBase }, bearerRequest(token)),
    );

    const status = await issuerStatus(house.t.httpBase, TEST_ISSUER);
    expect(status).toMatchObject({
      keyIds: ['test-key-1'],
      maxKeyStalenessS: 3,
      keysStale: true,
      lastError: { code: 'GH_OIDC_JWKS_FETCH_FAILED' },
    });
    expect(status.consecutiveFailures).toBeGreaterThanOrEqual(1);
    expect(Date.now() - Date.parse(status.keysRefreshedAt ?? '')).toBeGreaterThan(3000);
    expect(
      await metricValue(
        house.t.httpBase,
        'gatehouse_check_decisions_total{transport="grpc",code="GH_ERR_ISSUER_KEYS_STALE"}',
      ),
    ).toBe(1);

    // The provider is back: the next retry loads the keys and the same token passes.
    server.serve(signer.jwks);
    await waitFor(
      'fresh keys',
      async () => !(await issuerStatus(house.t.httpBase, TEST_ISSUER)).keysStale,
    );
    await expectAllowedEverywhere(house, token);
  });

  it('an unchanged refresh keeps the keys fresh, although it builds no new snapshot', async () => {
    const signer = await createTestIssuer();
    const server = await startServer(signer);
    const house = await startHouse(server, { maxKeyStalenessS: 4 });
    const token = await signer.sign();
    const revision = house.t.gatehouse.store.current()?.revision;
    const base = house.t.httpBase;

    // Well past the limit since the first load, with the same keys served all along.
    await sleep(6000);
    await expectAllowedEverywhere(house, token);

    expect(house.t.gatehouse.store.current()?.revision).toBe(revision);
    const status = await issuerStatus(base, TEST_ISSUER);
    expect(status.keysStale).toBe(false);
    expect(status.fetches).toBeGreaterThanOrEqual(3);
    expect(
      await metricValue(
        base,
        `gatehouse_jwks_refreshes_total{issuer="${TEST_ISSUER}",outcome="unchanged"}`,
      ),
    ).toBeGreaterThanOrEqual(2);
    expect(
      await metricValue(
        base,
        `gatehouse_jwks_refreshes_total{issuer="${TEST_ISSUER}",outcome="changed"}`,
      ),
    ).toBe(1);
    expect(
      await metricValue(
        base,
        `gatehouse_jwks_last_success_timestamp_seconds{issuer="${TEST_ISSUER}"}`,
      ),
    ).toBeGreaterThan(Date.now() / 1000 - 4);
  });

  it('restart from last-known-good does not reset staleness', async () => {
    const { persistence, server, token } = await withSavedState();

    const first = await startHouse(server, { maxKeyStalenessS: 3 }, persistence);
    await expectAllowedEverywhere(first, token);
    const loadedAt = (await issuerStatus(first.t.httpBase, TEST_ISSUER)).keysRefreshedAt;
    expect(loadedAt).not.toBeNull();
    await stopHouse(first);

    // The provider is down, and the saved keys are older than the limit by the time the
    // sidecar comes back. The restart must not make them look fresh.
    server.fail(503);
    await sleep(Math.max(0, Date.parse(loadedAt ?? '') + 3500 - Date.now()));
    const second = await startHouse(server, { maxKeyStalenessS: 3 }, persistence);
    expect(second.t.gatehouse.ready).toBe(true);
    expectStaleEverywhere(
      await askEveryDoor({ grpc: second.grpc, httpBase: second.t.httpBase }, bearerRequest(token)),
    );
    expect(await issuerStatus(second.t.httpBase, TEST_ISSUER)).toMatchObject({
      keyIds: [],
      keysRefreshedAt: loadedAt,
      keysStale: true,
      lastError: { code: 'GH_OIDC_JWKS_FETCH_FAILED' },
    });
    await stopHouse(second);

    // The same restored keys without a limit: they serve (it is their age that denied).
    const third = await startHouse(server, {}, persistence);
    await expectAllowedEverywhere(third, token);
  });

  it('keys restored from a last-known-good file that does not record their load time count as stale', async () => {
    const { stateDir, persistence, server, token } = await withSavedState();
    await stopHouse(await startHouse(server, {}, persistence));

    // A file as an earlier version wrote it: the same keys, no keysLoadedAt.
    const store = new LastKnownGoodStore(stateDir, undefined);
    const saved = await store.load();
    if (!saved.ok) throw new Error(saved.reason);
    const { keysLoadedAt: _dropped, ...older } = saved.state;
    await store.save(older);

    server.fail(503);
    const house = await startHouse(server, { maxKeyStalenessS: 600 }, persistence);
    expectStaleEverywhere(
      await askEveryDoor({ grpc: house.grpc, httpBase: house.t.httpBase }, bearerRequest(token)),
    );
    expect(await issuerStatus(house.t.httpBase, TEST_ISSUER)).toMatchObject({
      keysRefreshedAt: null,
      keysStale: true,
    });
  });

  it('needs a public key origin, and is at least 2 s', () => {
    const issuer = { issuer: TEST_ISSUER, audiences: ['orders-api'], algorithms: ['HS256'] };
    expect(() =>
      parseConfig(
        { issuers: [{ ...issuer, hmacSecretEnv: 'SECRET', maxKeyStalenessS: 60 }] },
        '.',
        {},
      ),
    ).toThrow(/maxKeyStalenessS/);
    expect(() =>
      parseConfig(
        {
          issuers: [
            {
              ...issuer,
              algorithms: ['RS256'],
              jwksUrl: 'https://idp.example/jwks',
              maxKeyStalenessS: 1,
            },
          ],
        },
        '.',
        {},
      ),
    ).toThrow(/maxKeyStalenessS/);
  });
});
