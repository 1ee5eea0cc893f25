import { writeFile } from 'node:fs/promises';
import { exportJWK, generateKeyPair, type JSONWebKeySet, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { askEveryDoor, bearerRequest } from '../helpers/check-doors.js';
import type { JwksServer } from '../helpers/jwks-server.js';
import {
  cleanupsAfterEach,
  startHouse as startSharedHouse,
  startKeyServer,
  type House,
} from '../helpers/key-server-house.js';
import {
  issuerStatus as readIssuerStatus,
  metricValue,
  type IssuerStatus,
} from '../helpers/status-and-metrics.js';
import { createTestIssuer, TEST_ISSUER, type TestIssuer } from '../helpers/token-factory.js';

// A provider that publishes a key set no token can be verified with (an outage of a
// different kind: a broken deployment, a misconfigured rotation, a tampered file) must not
// take every valid token of the issuer down with it. Real key servers on loopback, a real
// JWKS file, a real Gatehouse asked through gRPC and every HTTP door.

const cleanups = cleanupsAfterEach();

function startHouse(issuerFields: Record<string, unknown>): Promise<House> {
  return startSharedHouse(cleanups, { issuer: { unknownKidCooldownS: 1, ...issuerFields } });
}

function startServer(jwks: JSONWebKeySet): Promise<JwksServer> {
  return startKeyServer(cleanups, jwks);
}

/** The issuer the house is configured for, with a key the test publishes itself. */
function issuer(name = TEST_ISSUER): Promise<TestIssuer> {
  return createTestIssuer(name, 'test-key-1');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Makes the key source load now: a token naming a kid nobody published asks for a refresh
 * (after the 1 s cooldown). It is refused either way.
 */
async function forceRefresh(house: House, signer: TestIssuer): Promise<void> {
  await sleep(1100);
  const probe = await signer.sign({}, { header: { kid: 'not-published' } });
  const answers = await askEveryDoor(
    { grpc: house.grpc, httpBase: house.t.httpBase },
    bearerRequest(probe),
  );
  expect(answers[0]).toMatchObject({ code: 'GH_ERR_TOKEN_KEY_UNKNOWN', status: 401 });
}

function issuerStatus(house: House, name = TEST_ISSUER): Promise<IssuerStatus> {
  return readIssuerStatus(house.t.httpBase, name);
}

function metric(house: House, series: string): Promise<number> {
  return metricValue(house.t.httpBase, series);
}

/** What an operator must see: the refusal in /status and /metrics, the old keys in place. */
async function expectRefusalShown(house: House, name = TEST_ISSUER): Promise<void> {
  const status = await issuerStatus(house, name);
  expect(status.lastError?.code).toBe('GH_OIDC_JWKS_UNUSABLE');
  expect(status.consecutiveFailures).toBeGreaterThanOrEqual(1);
  // Retried on the backoff, not at the next interval only.
  expect(status.nextAttemptAt).toBeGreaterThan(Date.now() - 1000);
  expect(status.nextAttemptAt).toBeLessThan(Date.now() + 5000);
  expect(status.keyIds).toEqual(['test-key-1']);
  expect(
    await metric(
      house,
      `gatehouse_jwks_refresh_failures_total{issuer="${name}",reason="GH_OIDC_JWKS_UNUSABLE"}`,
    ),
  ).toBeGreaterThanOrEqual(1);
  expect(
    await metric(house, `gatehouse_jwks_refreshes_total{issuer="${name}",outcome="failed"}`),
  ).toBeGreaterThanOrEqual(1);
}

async function expectAllowedEverywhere(house: House, token: string): Promise<void> {
  const answers = await askEveryDoor(
    { grpc: house.grpc, httpBase: house.t.httpBase },
    bearerRequest(token),
  );
  for (const answer of answers) expect(answer, answer.door).toMatchObject({ code: 'GH_OK' });
  expect(answers[0]).toMatchObject({ door: 'grpc', grpcCode: 0, status: 200 });
}

async function publicJwk(alg: string, fields: Partial<JWK>): Promise<JWK> {
  const { publicKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(publicKey)), ...fields };
}

describe('a key refresh without a usable signing key is refused as an update', () => {
  it('JWKS refresh with an empty keys array keeps the previous keys', async () => {
    const signer = await issuer();
    const server = await startServer(signer.jwks);
    const house = await startHouse({ jwksFile: undefined, jwksUrl: server.jwksUrl });
    const token = await signer.sign();
    await expectAllowedEverywhere(house, token);

    server.serve({ keys: [] });
    await forceRefresh(house, signer);

    await expectAllowedEverywhere(house, token);
    await expectRefusalShown(house);
    expect((await issuerStatus(house)).lastError?.message).toMatch(/"keys" array is empty/);
  });

  it('refresh with only encryption keys is refused', async () => {
    const signer = await issuer();
    const server = await startServer(signer.jwks);
    const house = await startHouse({ jwksFile: undefined, jwksUrl: server.jwksUrl });
    const token = await signer.sign();
    await expectAllowedEverywhere(house, token);

    // The provider's encryption key, published alone (RFC 7517 section 4.2: use "enc").
    const enc = await publicJwk('RSA-OAEP-256', { kid: 'enc-1', use: 'enc', alg: 'RSA-OAEP-256' });
    server.serve({ keys: [enc] });
    await forceRefresh(house, signer);

    await expectAllowedEverywhere(house, token);
    await expectRefusalShown(house);
    expect((await issuerStatus(house)).lastError?.message).toMatch(/enc-1: use is "enc"/);
  });

  it('refresh with only keys of an unconfigured algorithm is refused', async () => {
    const signer = await issuer();
    const server = await startServer(signer.jwks);
    // The issuer is configured for RS256 only; the refresh brings ES256 keys alone.
    const house = await startHouse({ jwksFile: undefined, jwksUrl: server.jwksUrl });
    const token = await signer.sign();
    await expectAllowedEverywhere(house, token);

    const es256 = await publicJwk('ES256', { kid: 'ec-1', alg: 'ES256', use: 'sig' });
    const untagged = await publicJwk('ES256', { kid: 'ec-2' });
    server.serve({ keys: [es256, untagged] });
    await forceRefresh(house, signer);

    await expectAllowedEverywhere(house, token);
    await expectRefusalShown(house);
    expect((await issuerStatus(house)).lastError?.message).toMatch(
      /ec-1: alg ES256 is not among the configured algorithms \(RS256\); ec-2: a EC P-256 key verifies none of RS256/,
    );
  });

  it('a JWKS file rewritten with an empty keys array keeps the previous keys', async () => {
    const house = await startHouse({});
    const signer = house.t.issuer;
    const token = await signer.sign();
    await expectAllowedEverywhere(house, token);

    const jwksFile = house.t.config.issuers[0]?.jwksFile ?? '';
    await writeFile(jwksFile, JSON.stringify({ keys: [] }));
    await forceRefresh(house, signer);

    await expectAllowedEverywhere(house, token);
    await expectRefusalShown(house);
  });

  it('discovery: a jwks_uri serving a key that does not import for the configured ES256 is refused', async () => {
    const server = await startServer({ keys: [] });
    const rsaSigner = await issuer(server.origin);
    // Published first: the RS256 key, under an issuer that accepts RS256 and ES256.
    server.serve(rsaSigner.jwks);
    const house = await startHouse({
      issuer: server.origin,
      jwksFile: undefined,
      discovery: true,
      algorithms: ['RS256', 'ES256'],
    });
    const token = await rsaSigner.sign();
    await expectAllowedEverywhere(house, token);

    const ec = await publicJwk('ES256', { kid: 'broken', alg: 'ES256' });
    server.serve({ keys: [{ ...ec, y: ec.x }] });
    await forceRefresh(house, rsaSigner);

    await expectAllowedEverywhere(house, token);
    await expectRefusalShown(house, server.origin);
    expect((await issuerStatus(house, server.origin)).lastError?.message).toMatch(
      /broken: cannot be imported for ES256/,
    );
  });

  it('a first load without a usable key is a failure: tokens deny as signed by an unknown key, until the keys come', async () => {
    const signer = await issuer();
    const enc = await publicJwk('RSA-OAEP-256', { kid: 'enc-1', use: 'enc' });
    const server = await startServer({ keys: [enc] });
    const house = await startHouse({ jwksFile: undefined, jwksUrl: server.jwksUrl });
    const token = await signer.sign();

    const answers = await askEveryDoor(
      { grpc: house.grpc, httpBase: house.t.httpBase },
      bearerRequest(token),
    );
    for (const answer of answers) {
      expect(answer, answer.door).toMatchObject({ code: 'GH_ERR_TOKEN_KEY_UNKNOWN', status: 401 });
    }
    const status = await issuerStatus(house);
    expect(status).toMatchObject({ keyIds: [], lastError: { code: 'GH_OIDC_JWKS_UNUSABLE' } });

    // The provider fixes its set: the backoff retry (1 s, then 2 s, ...) picks it up.
    server.serve(signer.jwks);
    const deadline = Date.now() + 8000;
    while ((await issuerStatus(house)).keyIds.length === 0 && Date.now() < deadline) {
      await sleep(200);
    }
    await expectAllowedEverywhere(house, token);
  });
});
