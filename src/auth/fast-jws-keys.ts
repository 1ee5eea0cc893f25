import { constants, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';

/**
 * A synchronous node:crypto stand-in for jose's `createLocalJWKSet` + WebCrypto verify of a
 * JWS signature, for the public-key algorithms Gatehouse accepts. jose imports each key
 * into WebCrypto and verifies with `crypto.subtle.verify`: a thread-pool job and a promise
 * per token (~135 us for RS256 on the machine); `crypto.verify` on a KeyObject
 * imported once per key set takes ~25 us.
 *
 * It must decide exactly as jose does (a faster path that decides differently is a bug;
 * test/auth/fast-jws-differential.test.ts runs both on the same tokens and keys):
 * - the same key selection (jose's createLocalJWKSet: kty and crv of the algorithm, kid
 *   when the token names one, the key's alg when it names one, use "sig", key_ops with
 *   "verify" and no duplicates, ext a boolean); no key is `none`, more than one `multiple`;
 * - the same import outcome: WebCrypto refuses a public key whose key_ops (its usages)
 *   hold anything but "verify" (WebCrypto "importKey" step for public keys: a SyntaxError),
 *   a key with private members, and material it cannot read; jose refuses RSA keys under
 *   2048 bits (RFC 7518 section 3.3, 3.5);
 * - the same signature check: RSASSA-PKCS1-v1_5 (RFC 7518 section 3.3), RSASSA-PSS with
 *   MGF1 and a salt as long as the hash (section 3.5), ECDSA with the R || S signature of
 *   section 3.4 (`ieee-p1363`), Ed25519 (RFC 8037 section 3.1).
 */
interface AlgorithmSpec {
  readonly kty: string;
  /** The curve the key must name (jose checks crv === this one exactly). */
  readonly crv?: string;
  /** The digest for crypto.verify; null for Ed25519, which hashes internally. */
  readonly hash: string | null;
  readonly pssSaltLength?: number;
  readonly ecdsa?: true;
  readonly minRsaBits?: number;
}

const RSA_MIN_BITS = 2048;

const ALGORITHMS: Readonly<Record<string, AlgorithmSpec>> = {
  RS256: { kty: 'RSA', hash: 'sha256', minRsaBits: RSA_MIN_BITS },
  RS384: { kty: 'RSA', hash: 'sha384', minRsaBits: RSA_MIN_BITS },
  RS512: { kty: 'RSA', hash: 'sha512', minRsaBits: RSA_MIN_BITS },
  PS256: { kty: 'RSA', hash: 'sha256', pssSaltLength: 32, minRsaBits: RSA_MIN_BITS },
  PS384: { kty: 'RSA', hash: 'sha384', pssSaltLength: 48, minRsaBits: RSA_MIN_BITS },
  PS512: { kty: 'RSA', hash: 'sha512', pssSaltLength: 64, minRsaBits: RSA_MIN_BITS },
  ES256: { kty: 'EC', crv: 'P-256', hash: 'sha256', ecdsa: true },
  ES384: { kty: 'EC', crv: 'P-384', hash: 'sha384', ecdsa: true },
  ES512: { kty: 'EC', crv: 'P-521', hash: 'sha512', ecdsa: true },
  // jose 6 verifies both names with Ed25519 only (an Ed448 key matches neither).
  EdDSA: { kty: 'OKP', crv: 'Ed25519', hash: null },
  Ed25519: { kty: 'OKP', crv: 'Ed25519', hash: null },
};

/** Whether the fast path verifies `alg` at all; anything else stays with jose. */
export function fastPathCovers(alg: string): boolean {
  return Object.hasOwn(ALGORITHMS, alg);
}

/** A key imported for verification, or why it cannot verify (jose: a thrown TypeError). */
type Imported =
  { readonly ok: true; readonly key: KeyObject } | { readonly ok: false; readonly reason: string };

interface Candidate {
  /** The key's kid as published (jose compares it with === to a string kid). */
  readonly kid: unknown;
  readonly imported: Imported;
}

export type KeySelection =
  | { readonly kind: 'key'; readonly key: KeyObject }
  /** jose: JWKSNoMatchingKey. */
  | { readonly kind: 'none' }
  /** jose: JWKSMultipleMatchingKeys (a JOSEError, not a "no key"). */
  | { readonly kind: 'multiple' }
  /** jose: the import or the modulus check threw. */
  | { readonly kind: 'unusable'; readonly reason: string };

/** One issuer's JWKS, imported once (per key set revision) for the fast path. */
export class FastKeySet {
  private constructor(private readonly byAlg: ReadonlyMap<string, readonly Candidate[]>) {}

  /**
   * Imports `jwks` for every covered algorithm. Call it only after jose's createLocalJWKSet
   * accepted the same document, so both read the same key set.
   */
  static from(jwks: JSONWebKeySet): FastKeySet {
    const imports = new Map<object, Imported>();
    const byAlg = new Map<string, Candidate[]>();
    for (const [alg, spec] of Object.entries(ALGORITHMS)) {
      const candidates: Candidate[] = [];
      for (const jwk of jwks.keys as readonly Readonly<Record<string, unknown>>[]) {
        if (!usableFor(jwk, alg, spec)) continue;
        let imported = imports.get(jwk);
        if (imported === undefined) {
          imported = importPublicKey(jwk);
          imports.set(jwk, imported);
        }
        candidates.push({ kid: jwk.kid, imported: checkSize(imported, alg, spec) });
      }
      byAlg.set(alg, candidates);
    }
    return new FastKeySet(byAlg);
  }

  /** The key jose would pick for a token with this header's alg and kid. */
  select(alg: string, kid: unknown): KeySelection {
    const candidates = this.byAlg.get(alg);
    if (candidates === undefined) return { kind: 'none' };
    let found: Candidate | undefined;
    for (const candidate of candidates) {
      // jose: a token kid matches only a string kid equal to it; no kid matches every key.
      if (kid !== undefined && !(typeof kid === 'string' && kid === candidate.kid)) continue;
      if (found !== undefined) return { kind: 'multiple' };
      found = candidate;
    }
    if (found === undefined) return { kind: 'none' };
    return found.imported.ok
      ? { kind: 'key', key: found.imported.key }
      : { kind: 'unusable', reason: found.imported.reason };
  }
}

/**
 * Whether `signature` is `alg`'s signature of `signingInput` under `key`. Never throws: a
 * signature node:crypto cannot even read is a failed one, as in jose (which maps a throw
 * from subtle.verify to JWSSignatureVerificationFailed).
 */
export function verifySignature(
  alg: string,
  key: KeyObject,
  signingInput: Buffer,
  signature: Buffer,
): boolean {
  const spec = ALGORITHMS[alg];
  if (spec === undefined) return false;
  try {
    if (spec.pssSaltLength !== undefined) {
      return verify(
        spec.hash,
        signingInput,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.pssSaltLength },
        signature,
      );
    }
    if (spec.ecdsa === true) {
      return verify(spec.hash, signingInput, { key, dsaEncoding: 'ieee-p1363' }, signature);
    }
    return verify(spec.hash, signingInput, key, signature);
  } catch {
    return false;
  }
}

/** jose's key filter (createLocalJWKSet), but for the kid, which select() compares. */
function usableFor(jwk: Readonly<Record<string, unknown>>, alg: string, spec: AlgorithmSpec) {
  const { kty, key_ops: keyOps, ext, alg: keyAlg, use, crv } = jwk;
  if (ext !== undefined && typeof ext !== 'boolean') return false;
  if (keyOps !== undefined) {
    if (!Array.isArray(keyOps)) return false;
    const ops = keyOps as readonly unknown[];
    if (!ops.every((op, index) => typeof op === 'string' && ops.indexOf(op) === index)) {
      return false;
    }
    if (!ops.includes('verify')) return false;
  }
  if (kty !== spec.kty) return false;
  if (keyAlg !== undefined && keyAlg !== alg) return false;
  if (use !== undefined && use !== 'sig') return false;
  return spec.crv === undefined || crv === spec.crv;
}

/**
 * The public key, or why WebCrypto's JWK import (as jose calls it: usages = key_ops or
 * ["verify"], alg and use removed, ext true) would refuse it.
 */
function importPublicKey(jwk: Readonly<Record<string, unknown>>): Imported {
  // A JWK with "d" imports as a private key, whose usages cannot be "verify".
  if (jwk.d !== undefined) return { ok: false, reason: 'the key has private members' };
  const keyOps = jwk.key_ops as readonly string[] | undefined;
  if (keyOps !== undefined && keyOps.some((op) => op !== 'verify')) {
    return { ok: false, reason: `Unsupported key usage (key_ops ${keyOps.join(', ')})` };
  }
  try {
    // Node's JWK reader takes kty and the key's own members; alg, use, key_ops, ext and
    // kid do not change the key.
    return { ok: true, key: createPublicKey({ key: { ...jwk }, format: 'jwk' }) };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

function checkSize(imported: Imported, alg: string, spec: AlgorithmSpec): Imported {
  if (!imported.ok || spec.minRsaBits === undefined) return imported;
  const bits = imported.key.asymmetricKeyDetails?.modulusLength;
  if (bits === undefined || bits < spec.minRsaBits) {
    return {
      ok: false,
      reason: `${alg} requires key modulusLength to be ${spec.minRsaBits} bits or larger`,
    };
  }
  return imported;
}
