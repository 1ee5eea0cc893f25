import { randomUUID } from 'node:crypto';
import { exportJWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDpopBinding } from '../../../src/auth/dpop/bound-token.js';
import type { DpopFailureCode } from '../../../src/auth/dpop/dpop-failures.js';
import { readDpopCredential, readDpopProof } from '../../../src/auth/dpop/dpop-credential.js';
import { DpopReplayCache } from '../../../src/auth/dpop/replay-cache.js';
import {
  verifyDpopProof,
  type DpopVerifyOptions,
} from '../../../src/auth/dpop/verify-dpop-proof.js';
import { buildIssuerKeys } from '../../../src/auth/issuer-keys.js';
import { b64url } from '../../helpers/token-factory.js';
import {
  createSigningKey,
  ORDERS_JWT_ACCESS_TOKENS,
  startAuthorizationServer,
  type AuthorizationServer,
} from '../../helpers/authorization-server.js';
import { issuerConfig, verifyWith } from '../../sync/oidc/issuer-config.js';
import {
  athOf,
  createProofKey,
  signProof,
  type ProofKey,
  type ProofSpec,
} from './dpop-fixtures.js';

/**
 * End to end: a real authorization server issues a DPoP-bound JWT access token to a client
 * that proves its key at the token endpoint (RFC 9449 section 5); the resource server side
 * (Gatehouse's JWT verifier, then the DPoP checks) accepts the client's request and
 * rejects what an attacker holding the token, or a captured proof, can send.
 */

const RESOURCE_URL = 'https://orders.example.test/orders/42';

let provider: AuthorizationServer;
let client: ProofKey;
let attacker: ProofKey;
let boundToken: string;
let unboundToken: string;
let verifyAccessToken: (token: string) => Promise<JWTPayload>;

beforeAll(async () => {
  provider = await startAuthorizationServer({
    ...ORDERS_JWT_ACCESS_TOKENS,
    keys: [await createSigningKey('dpop-as-key')],
    dpop: true,
  });
  client = await createProofKey('ES256');
  attacker = await createProofKey('ES256');

  const keys = buildIssuerKeys(issuerConfig(provider.issuer), await provider.jwks(), undefined);
  verifyAccessToken = async (token) => {
    const verified = await verifyWith(token, keys);
    if (!verified.ok) throw new Error(`access token rejected: ${verified.reason}`);
    return verified.claims;
  };

  // RFC 9449 section 4.2: the token request's proof has no ath (there is no token yet).
  const tokenProof = await signProof(client, {
    claims: {
      htm: 'POST',
      htu: provider.tokenEndpoint,
      iat: Math.floor(Date.now() / 1000),
      ath: undefined,
    },
  });
  const bound = await provider.requestToken({ dpop: tokenProof });
  expect(bound.status, JSON.stringify(bound.body)).toBe(200);
  expect(bound.body.token_type).toBe('DPoP');
  boundToken = String(bound.body.access_token);

  const unbound = await provider.requestToken();
  expect(unbound.body.token_type).toBe('Bearer');
  unboundToken = String(unbound.body.access_token);
});

afterAll(async () => {
  await provider.stop();
});

interface ResourceRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly method: string;
  readonly url: string;
}

type Outcome =
  | { readonly ok: true; readonly claims: JWTPayload }
  | { readonly ok: false; readonly code: string };

/**
 * The resource server's decision for one request, in the order an integration runs it:
 * read the credential and the proof, verify the access token, verify the proof, then
 * check the token's binding against the proof key.
 */
async function authorize(request: ResourceRequest, options: DpopVerifyOptions): Promise<Outcome> {
  const dpop = readDpopCredential(request.headers);
  const bearer = /^Bearer +(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  if (dpop.kind === 'malformed') return { ok: false, code: 'malformed credential' };
  const scheme = dpop.kind === 'dpop' ? 'DPoP' : 'Bearer';
  const token = dpop.kind === 'dpop' ? dpop.token : bearer;
  if (token === undefined) return { ok: false, code: 'no credential' };
  const claims = await verifyAccessToken(token);

  let jkt: string | undefined;
  const proofHeader = readDpopProof(request.headers);
  if (proofHeader.kind === 'malformed') return { ok: false, code: proofHeader.code };
  if (scheme === 'DPoP' && proofHeader.kind === 'proof') {
    const proof = await verifyDpopProof(
      { proof: proofHeader.proof, method: request.method, url: request.url, accessToken: token },
      options,
    );
    if (!proof.ok) return proof;
    jkt = proof.jkt;
  }
  const binding = checkDpopBinding(claims, jkt, scheme);
  return binding.ok ? { ok: true, claims } : binding;
}

function freshOptions(): DpopVerifyOptions {
  return {
    algorithms: ['ES256', 'EdDSA', 'Ed25519'],
    iatWindowS: 60,
    replay: new DpopReplayCache(),
  };
}

/** A proof for GET RESOURCE_URL with `token`, made now; `spec` changes it. */
function proofFor(key: ProofKey, token: string, spec: ProofSpec = {}): Promise<string> {
  return signProof(key, {
    ...spec,
    claims: {
      jti: randomUUID(),
      htm: 'GET',
      htu: RESOURCE_URL,
      iat: Math.floor(Date.now() / 1000),
      ath: athOf(token),
      ...spec.claims,
    },
  });
}

function dpopRequest(
  token: string,
  proof: string,
  method = 'GET',
  url = RESOURCE_URL,
): ResourceRequest {
  return { headers: { authorization: `DPoP ${token}`, dpop: proof }, method, url };
}

describe('oidc-provider issues a DPoP-bound JWT access token (RFC 9449 sections 5, 6.1)', () => {
  it('binds the token to the client key: cnf.jkt is its RFC 7638 thumbprint', async () => {
    const claims = await verifyAccessToken(boundToken);
    expect(claims.cnf).toEqual({ jkt: client.jkt });
  });

  it('accepts the client request to the resource, query string and all', async () => {
    const proof = await proofFor(client, boundToken);
    const request = dpopRequest(boundToken, proof, 'GET', `${RESOURCE_URL}?expand=items`);
    const outcome = await authorize(request, freshOptions());
    expect(outcome).toMatchObject({ ok: true, claims: { cnf: { jkt: client.jkt } } });
  });

  it('oidc-provider refuses an unsigned proof at its token endpoint', async () => {
    const unsigned = await provider.requestToken({
      dpop: `${b64url({ alg: 'none', typ: 'dpop+jwt', jwk: client.publicJwk })}.${b64url({})}.`,
    });
    expect(unsigned.status).toBe(400);
    expect(unsigned.body.error).toBe('invalid_dpop_proof');
  });
});

describe('the resource server rejects attacks with the real token', () => {
  it('replayed jti (a captured request sent again)', async () => {
    const options = freshOptions();
    const request = dpopRequest(boundToken, await proofFor(client, boundToken));
    expect(await authorize(request, options)).toMatchObject({ ok: true });
    expect(await authorize(request, options)).toMatchObject({
      ok: false,
      code: 'GH_DPOP_REPLAYED',
    });
  });

  it('DPoP-bound token sent as Bearer (stolen token, downgraded)', async () => {
    const request = {
      headers: { authorization: `Bearer ${boundToken}` },
      method: 'GET',
      url: RESOURCE_URL,
    };
    expect(await authorize(request, freshOptions())).toMatchObject({
      ok: false,
      code: 'GH_DPOP_BOUND_TOKEN_AS_BEARER',
    });
  });

  it('cnf.jkt mismatch (stolen token, with a valid proof by the thief’s own key)', async () => {
    const request = dpopRequest(boundToken, await proofFor(attacker, boundToken));
    expect(await authorize(request, freshOptions())).toMatchObject({
      ok: false,
      code: 'GH_DPOP_JKT_MISMATCH',
    });
  });

  it('DPoP scheme with an unbound token', async () => {
    const request = dpopRequest(unboundToken, await proofFor(client, unboundToken));
    expect(await authorize(request, freshOptions())).toMatchObject({
      ok: false,
      code: 'GH_DPOP_TOKEN_NOT_BOUND',
    });
  });

  it('the token request proof reused at the resource', async () => {
    const tokenProof = await proofFor(client, boundToken, {
      claims: { htm: 'POST', htu: provider.tokenEndpoint, ath: undefined },
    });
    const request = dpopRequest(boundToken, tokenProof, 'POST', provider.tokenEndpoint);
    // No ath: a token request proof never binds an access token (section 4.2).
    expect(await authorize(request, freshOptions())).toMatchObject({
      ok: false,
      code: 'GH_DPOP_CLAIMS',
    });
  });

  const now = (): number => Math.floor(Date.now() / 1000);
  it.each<[string, () => Promise<ResourceRequest>, DpopFailureCode]>([
    [
      'htu with a different path',
      async () =>
        dpopRequest(
          boundToken,
          await proofFor(client, boundToken, {
            claims: { htu: 'https://orders.example.test/orders/43' },
          }),
        ),
      'GH_DPOP_HTU',
    ],
    [
      'htu with a different host',
      async () =>
        dpopRequest(
          boundToken,
          await proofFor(client, boundToken, {
            claims: { htu: 'https://evil.example.test/orders/42' },
          }),
        ),
      'GH_DPOP_HTU',
    ],
    [
      'htm mismatch',
      async () => dpopRequest(boundToken, await proofFor(client, boundToken), 'DELETE'),
      'GH_DPOP_HTM',
    ],
    [
      'ath mismatch',
      async () => dpopRequest(boundToken, await proofFor(client, unboundToken)),
      'GH_DPOP_ATH',
    ],
    [
      'iat too old',
      async () =>
        dpopRequest(
          boundToken,
          await proofFor(client, boundToken, { claims: { iat: now() - 120 } }),
        ),
      'GH_DPOP_IAT_TOO_OLD',
    ],
    [
      'iat in the future',
      async () =>
        dpopRequest(
          boundToken,
          await proofFor(client, boundToken, { claims: { iat: now() + 120 } }),
        ),
      'GH_DPOP_IAT_IN_FUTURE',
    ],
    [
      'typ missing',
      async () =>
        dpopRequest(boundToken, await proofFor(client, boundToken, { header: { typ: undefined } })),
      'GH_DPOP_TYP',
    ],
    [
      'alg none',
      () => {
        const claims = {
          jti: randomUUID(),
          htm: 'GET',
          htu: RESOURCE_URL,
          iat: now(),
          ath: athOf(boundToken),
        };
        const unsigned = `${b64url({ alg: 'none', typ: 'dpop+jwt', jwk: client.publicJwk })}.${b64url(claims)}.`;
        return Promise.resolve(dpopRequest(boundToken, unsigned));
      },
      'GH_DPOP_ALG',
    ],
    [
      'HS256 proof',
      async () => {
        const secret = new TextEncoder().encode('an-attacker-chosen-hmac-secret-32b');
        const jwk = { kty: 'oct', k: Buffer.from(secret).toString('base64url') };
        return dpopRequest(
          boundToken,
          await proofFor(client, boundToken, { header: { alg: 'HS256', jwk }, signingKey: secret }),
        );
      },
      'GH_DPOP_ALG',
    ],
    [
      'proof with a private jwk',
      async () =>
        dpopRequest(
          boundToken,
          await proofFor(client, boundToken, {
            header: { jwk: await exportJWK(client.privateKey) },
          }),
        ),
      'GH_DPOP_JWK_PRIVATE',
    ],
    [
      'proof without jwk',
      async () =>
        dpopRequest(boundToken, await proofFor(client, boundToken, { header: { jwk: undefined } })),
      'GH_DPOP_JWK_MISSING',
    ],
    [
      'signature by a different key than the embedded jwk',
      async () =>
        dpopRequest(
          boundToken,
          await proofFor(client, boundToken, { signingKey: attacker.privateKey }),
        ),
      'GH_DPOP_SIGNATURE',
    ],
    [
      'two proofs',
      async () =>
        dpopRequest(
          boundToken,
          `${await proofFor(client, boundToken)},${await proofFor(client, boundToken)}`,
        ),
      'GH_DPOP_MULTIPLE_PROOFS',
    ],
    [
      'oversized proof',
      async () =>
        dpopRequest(
          boundToken,
          await proofFor(client, boundToken, { claims: { pad: 'x'.repeat(9000) } }),
        ),
      'GH_DPOP_PROOF_TOO_LARGE',
    ],
  ])('%s', async (_name, build, code) => {
    expect(await authorize(await build(), freshOptions())).toMatchObject({ ok: false, code });
  });
});
