import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { bearer, checkInput } from '../check/check-input-factory.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { TEST_AUDIENCE } from '../helpers/token-factory.js';

// Real restarts: one Gatehouse saves its snapshot's inputs, the next one starts with its
// sources gone and must serve them at once.

const running: TestGatehouse[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.close()));
});

async function start(options: Parameters<typeof startTestGatehouse>[0]): Promise<TestGatehouse> {
  const t = await startTestGatehouse(options);
  running.push(t);
  return t;
}

describe('last-known-good on disk', () => {
  it('a restart with the policy source gone serves the persisted snapshot and is ready', async () => {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-state-'));
    const first = await start({ config: { persistence: { dir: stateDir } } });
    const revision = first.gatehouse.store.current()?.revision;
    const token = await first.issuer.sign();
    await first.close();
    running.splice(0);

    // The same keys, but no policy folder and no key file any more.
    await rm(first.policyDir, { recursive: true, force: true });
    const second = await start({
      config: {
        persistence: { dir: stateDir },
        policies: { dir: path.join(stateDir, 'missing'), watch: false },
        issuers: [{ ...first.config.issuers[0], jwksFile: path.join(stateDir, 'missing.json') }],
      },
    });
    expect(second.gatehouse.ready).toBe(true);
    expect(second.gatehouse.store.current()?.revision).toBe(revision);
    const allowed = await second.gatehouse.pipeline.check(checkInput({ headers: bearer(token) }));
    expect(allowed.allowed).toBe(true);
    const denied = await second.gatehouse.pipeline.check(
      checkInput({ path: '/admin', headers: bearer(token) }),
    );
    expect(denied).toMatchObject({ allowed: false, code: 'GH_ERR_POLICY_DENIED' });
  });

  it('a corrupt last-known-good file is ignored, never loaded', async () => {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-state-'));
    const first = await start({ config: { persistence: { dir: stateDir } } });
    await first.close();
    running.splice(0);
    await writeFile(
      path.join(stateDir, 'last-known-good.json'),
      '{"format":"gatehouse-last-known-good","version":1,"digestAlgorithm":"sha256","digest":"00","payload":"{}"}',
    );
    const second = await start({
      config: {
        persistence: { dir: stateDir },
        policies: { dir: path.join(stateDir, 'missing'), watch: false },
      },
    });
    expect(second.gatehouse.ready).toBe(false);
    const decision = await second.gatehouse.pipeline.check(checkInput({}));
    expect(decision).toMatchObject({ allowed: false, code: 'GH_ERR_NO_SNAPSHOT' });
  });
});

/**
 * The issuer rotates: publishes a new ES256 key (kid rotated-in) beside its keys in the
 * Gatehouse's JWKS file, and returns a reader token signed by it.
 */
async function rotateInEs256Key(t: TestGatehouse): Promise<string> {
  const jwksFile = t.config.issuers[0]?.jwksFile ?? '';
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const newJwk = { ...(await exportJWK(publicKey)), kid: 'rotated-in', alg: 'ES256' };
  await writeFile(jwksFile, JSON.stringify({ keys: [...t.issuer.jwks.keys, newJwk] }));
  return new SignJWT({ sub: 'alice', roles: ['reader'], scope: 'orders:read' })
    .setProtectedHeader({ alg: 'ES256', kid: 'rotated-in' })
    .setIssuer(t.issuer.issuer)
    .setAudience(TEST_AUDIENCE)
    .setExpirationTime('5m')
    .sign(privateKey);
}

describe('unknown kid', () => {
  it('a token signed by a newly published key is accepted at once, without waiting for the refresh interval', async () => {
    const t = await start({});
    // The issuer rotates: a new key is published next to the old one.
    const token = await rotateInEs256Key(t);
    // ES256 must be allowed for the issuer: the test config allows RS256 only, so expect
    // the algorithm deny first, proving the refresh path is not a way around the alg list.
    const decision = await t.gatehouse.pipeline.check(checkInput({ headers: bearer(token) }));
    expect(decision).toMatchObject({ allowed: false, code: 'GH_ERR_TOKEN_ALG' });
  });

  it('with the algorithm allowed, the rotated-in key verifies after one on-demand refresh', async () => {
    const t = await start({ issuer: { algorithms: ['RS256', 'ES256'], unknownKidCooldownS: 1 } });
    // The start-up load counts as a refresh: wait out the cooldown, as a long-running
    // Gatehouse would have.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const token = await rotateInEs256Key(t);
    const decision = await t.gatehouse.pipeline.check(checkInput({ headers: bearer(token) }));
    expect(decision.allowed).toBe(true);
    // ...and the snapshot catches up with the new key in the background.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(t.gatehouse.store.current()?.issuers.get(t.issuer.issuer)?.keyIds).toContain(
      'rotated-in',
    );
  });
});
