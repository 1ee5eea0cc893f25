import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@grpc/grpc-js';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import { athOf, createProofKey, signProof, type ProofKey } from '../auth/dpop/dpop-fixtures.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { connect, unary } from '../transport/grpc/grpc-test-client.js';
import { checkInput } from './check-input-factory.js';

// DPoP (RFC 9449) through the pipeline and over the real gRPC server: a DPoP-bound token
// with a fresh proof passes; a replayed proof, a proof for another path, a missing ath, or
// the token sent as Bearer are refused with the DPoP or invalid_token challenge.

const URL_PATH = '/orders/42';
const HOST = 'api.example.com';
let t: TestGatehouse;
let key: ProofKey;
let token: string;
let client: Client;
const protos = loadProtos();

beforeAll(async () => {
  t = await startTestGatehouse();
  key = await createProofKey();
  token = await t.issuer.sign({ cnf: { jkt: key.jkt } });
  client = connect(t.gatehouse.grpcPort ?? 0);
});
afterAll(async () => {
  client.close();
  await t.close();
});

async function proof(overrides: Record<string, unknown> = {}): Promise<string> {
  return signProof(key, {
    claims: {
      htm: 'GET',
      htu: `https://${HOST}${URL_PATH}`,
      iat: Math.floor(Date.now() / 1000),
      ath: athOf(token),
      ...overrides,
    },
  });
}

async function check(headers: Record<string, string>) {
  return t.gatehouse.pipeline.check(checkInput({ host: HOST, path: `${URL_PATH}?x=1`, headers }));
}

describe('DPoP-bound tokens', () => {
  it('a bound token with a fresh proof for this request is allowed', async () => {
    expect((await check({ authorization: `DPoP ${token}`, dpop: await proof() })).allowed).toBe(
      true,
    );
  });

  it('replayed DPoP jti', async () => {
    const once = await proof();
    expect((await check({ authorization: `DPoP ${token}`, dpop: once })).allowed).toBe(true);
    const again = await check({ authorization: `DPoP ${token}`, dpop: once });
    expect(again).toMatchObject({ allowed: false, code: 'GH_ERR_DPOP_PROOF', status: 401 });
    if (!again.allowed) {
      expect(again.headers.find(([n]) => n === 'www-authenticate')?.[1]).toMatch(
        /^DPoP .*error="invalid_dpop_proof"/,
      );
    }
  });

  it('re-encoded DPoP proof signature with non-zero trailing bits is refused', async () => {
    // ES256: 86 characters, 4 unused bits in the last one (RFC 4648 section 3.5).
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respell = (jws: string) =>
      `${jws.slice(0, -1)}${alphabet.charAt((alphabet.indexOf(jws.charAt(jws.length - 1)) & ~0b1111) | 1)}`;
    const fresh = await proof();
    // First use of this jti, so only the spelling can refuse it.
    const decision = await check({ authorization: `DPoP ${token}`, dpop: respell(fresh) });
    expect(decision).toMatchObject({ allowed: false, code: 'GH_ERR_DPOP_PROOF', status: 401 });
    expect((await check({ authorization: `DPoP ${token}`, dpop: fresh })).allowed).toBe(true);
    // And the access token re-spelled, with a good proof for it.
    const respelledToken = respell(token);
    const forToken = await proof({ ath: athOf(respelledToken) });
    expect(await check({ authorization: `DPoP ${respelledToken}`, dpop: forToken })).toMatchObject({
      allowed: false,
      code: 'GH_ERR_TOKEN_MALFORMED',
      status: 401,
    });
  });

  it('DPoP htu with a different path', async () => {
    const decision = await check({
      authorization: `DPoP ${token}`,
      dpop: await proof({ htu: `https://${HOST}/admin` }),
    });
    expect(decision).toMatchObject({ allowed: false, code: 'GH_ERR_DPOP_PROOF' });
  });

  it('DPoP ath mismatch', async () => {
    const decision = await check({
      authorization: `DPoP ${token}`,
      dpop: await proof({ ath: athOf('another-token') }),
    });
    expect(decision).toMatchObject({ allowed: false, code: 'GH_ERR_DPOP_PROOF' });
  });

  it('DPoP scheme without a proof', async () => {
    expect(await check({ authorization: `DPoP ${token}` })).toMatchObject({
      allowed: false,
      code: 'GH_ERR_DPOP_PROOF',
    });
  });

  it('a DPoP-bound token sent as Bearer', async () => {
    const decision = await check({ authorization: `Bearer ${token}` });
    expect(decision).toMatchObject({ allowed: false, code: 'GH_ERR_TOKEN_BINDING', status: 401 });
  });

  it('a proof signed by another key than the token is bound to', async () => {
    const stranger = await createProofKey();
    const foreign = await signProof(stranger, {
      claims: {
        htm: 'GET',
        htu: `https://${HOST}${URL_PATH}`,
        iat: Math.floor(Date.now() / 1000),
        ath: athOf(token),
      },
    });
    expect(await check({ authorization: `DPoP ${token}`, dpop: foreign })).toMatchObject({
      allowed: false,
      code: 'GH_ERR_TOKEN_BINDING',
    });
  });

  it('over gRPC: allowed with a proof, UNAUTHENTICATED with a DPoP challenge on replay', async () => {
    const once = await proof();
    const request = {
      attributes: {
        request: {
          http: {
            method: 'GET',
            path: URL_PATH,
            host: HOST,
            scheme: 'https',
            headers: { authorization: `DPoP ${token}`, dpop: once },
          },
        },
      },
    };
    const first = await unary(client, protos.authorization.Check, request);
    expect(first.response?.status.code).toBe(0);
    const replay = await unary(client, protos.authorization.Check, request);
    expect(replay.response?.status.code).toBe(16);
    const challenge = replay.response?.denied_response?.headers.find(
      (h) => h.header.key === 'www-authenticate',
    );
    expect(challenge?.header.value).toMatch(/^DPoP /);
  });
});
