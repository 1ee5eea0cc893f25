import { createHash, randomUUID } from 'node:crypto';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
} from 'jose';
import { expect } from 'vitest';
import type { DpopFailureCode } from '../../../src/auth/dpop/dpop-failures.js';
import { DpopReplayCache } from '../../../src/auth/dpop/replay-cache.js';
import type { DpopVerifyOptions } from '../../../src/auth/dpop/verify-dpop-proof.js';

/** The request every proof is made for, unless a test says otherwise. */
export const METHOD = 'GET';
export const RESOURCE_URL = 'https://orders.example.test/orders/42';
export const ACCESS_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.a-stand-in-access-token.c2ln';
/** A fixed "now", epoch seconds: proofs and the verifier agree on it. */
export const NOW = 1_750_000_000;
export const WINDOW_S = 60;

/** A client's DPoP key pair, as a client library would hold it (RFC 9449 section 2). */
export interface ProofKey {
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  /** RFC 7638 thumbprint of publicJwk: what cnf.jkt carries for this key. */
  readonly jkt: string;
}

export async function createProofKey(alg = 'ES256'): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { alg, privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk) };
}

/** RFC 9449 section 4.2: ath = base64url(SHA-256(ASCII(access token))). */
export function athOf(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

export interface ProofSpec {
  /** Claims replacing or adding to the defaults; undefined removes a claim. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Header members replacing or adding to the defaults; undefined removes one. */
  readonly header?: Readonly<Record<string, unknown>>;
  /** Signs with this key instead of the one whose public half is embedded. */
  readonly signingKey?: CryptoKey | Uint8Array;
}

/**
 * A DPoP proof JWT as a client builds one (RFC 9449 section 4.2) for METHOD RESOURCE_URL
 * with ACCESS_TOKEN at NOW, signed with `key` and carrying its public jwk.
 */
export async function signProof(key: ProofKey, spec: ProofSpec = {}): Promise<string> {
  const claims = withoutUndefined({
    jti: randomUUID(),
    htm: METHOD,
    htu: RESOURCE_URL,
    iat: NOW,
    ath: athOf(ACCESS_TOKEN),
    ...spec.claims,
  });
  const header = withoutUndefined({
    alg: key.alg,
    typ: 'dpop+jwt',
    jwk: key.publicJwk,
    ...spec.header,
  });
  const alg = header.alg;
  if (typeof alg !== 'string') throw new Error('a signed proof needs an alg');
  return new SignJWT(claims)
    .setProtectedHeader({ ...header, alg })
    .sign(spec.signingKey ?? key.privateKey);
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

export interface VerifierSetup {
  readonly options: DpopVerifyOptions;
  readonly replay: DpopReplayCache;
}

/** Verifier options as an integrator would configure them, with a fresh replay cache. */
export function verifierSetup(overrides: Partial<DpopVerifyOptions> = {}): VerifierSetup {
  const replay = new DpopReplayCache({ iatWindowS: WINDOW_S, maxEntries: 1000 });
  return {
    replay,
    options: {
      algorithms: ['ES256', 'ES384', 'PS256', 'RS256', 'Ed25519', 'EdDSA'],
      iatWindowS: WINDOW_S,
      replay,
      ...overrides,
    },
  };
}

/** The request a proof from signProof is for, by default. */
export function requestWith(proof: string, overrides: Partial<RequestFields> = {}): RequestFields {
  return {
    proof,
    method: METHOD,
    url: RESOURCE_URL,
    accessToken: ACCESS_TOKEN,
    now: NOW,
    ...overrides,
  };
}

export interface RequestFields {
  readonly proof: string;
  readonly method: string;
  readonly url: string;
  readonly accessToken: string;
  readonly now: number;
}

/** Asserts a failed check with exactly this code. */
export function expectFailure(result: { readonly ok: boolean }, code: DpopFailureCode): void {
  expect(result).toEqual({ ok: false, code, reason: expect.any(String) as unknown });
}
