import { createHash } from 'node:crypto';
import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  errors,
  importJWK,
  jwtVerify,
  type JWK,
  type ProtectedHeaderParameters,
} from 'jose';
import { compactJwsProblem } from '../compact-jws.js';
import { dpopFailure, type DpopFailure } from './dpop-failures.js';
import { ASYMMETRIC_JWS_ALGORITHMS } from '../../jose/jws-algorithms.js';
import { holdsSeveralValues } from './dpop-credential.js';
import { privateMembers, publicJwk } from './public-jwk.js';
import { comparableTargetUri } from './target-uri.js';
import { DEFAULT_IAT_WINDOW_S } from './replay-cache.js';
import type { DpopReplayStore } from './replay-store.js';

export { DEFAULT_IAT_WINDOW_S } from './replay-cache.js';
/** Default for DpopVerifyOptions.maxProofBytes. */
const DEFAULT_MAX_PROOF_BYTES = 8192;
/** Longest accepted jti, in characters: a UUID is 36 (RFC 9449 section 4.2). */
export const MAX_JTI_LENGTH = 128;

/** RFC 9449 section 4.2: the typ of a DPoP proof. */
const DPOP_TYP = 'dpop+jwt';
/** A compact JWS: three base64url parts (RFC 7515 section 7.1); an empty one is alg none. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface DpopProofInput {
  /** The DPoP header value, as received (RFC 9449 section 4.1). */
  readonly proof: string;
  /** The request's HTTP method, as received: methods are case-sensitive (RFC 9110 9.1). */
  readonly method: string;
  /** The request's absolute URL as this resource server sees it: scheme://host/path?query. */
  readonly url: string;
  /** The access token the proof is sent with (RFC 9449 section 7.1). */
  readonly accessToken: string;
  /** The current time, in epoch seconds; default: the system clock. */
  readonly now?: number;
}

export interface DpopVerifyOptions {
  /** Proof algorithms accepted; registered asymmetric JWS algorithms only (4.3 check 5). */
  readonly algorithms: readonly string[];
  /** How far a proof's iat may be from now, either way, in seconds; default 60 (11.1). */
  readonly iatWindowS?: number;
  /** Longest accepted DPoP header value, in bytes; default 8192. */
  readonly maxProofBytes?: number;
  /** Remembers accepted jtis; its iatWindowS must be at least this one (11.1). */
  readonly replay: DpopReplayStore;
  /**
   * Set when this resource requires server nonces (RFC 9449 section 9): the proof's
   * `nonce` must be one it accepts (check 10). Unset: a nonce claim is ignored.
   */
  readonly nonce?: DpopNonceCheck | undefined;
}

/** Which nonces the server issued recently (see DpopNonces). */
export interface DpopNonceCheck {
  accepts(nonce: string): boolean;
}

export interface DpopProofAccepted {
  readonly ok: true;
  /** RFC 7638 SHA-256 thumbprint of the proof key, base64url: compare it to cnf.jkt. */
  readonly jkt: string;
}

export type DpopProofResult = DpopProofAccepted | DpopFailure;

/**
 * Checks that `options` can be verified with, and throws a TypeError naming the option
 * otherwise. verifyDpopProof calls it on every request; call it at start-up to fail early.
 */
export function assertDpopOptions(options: DpopVerifyOptions): void {
  if (options.algorithms.length === 0) {
    throw new TypeError('options.algorithms must name at least one algorithm');
  }
  for (const alg of options.algorithms) {
    if (!ASYMMETRIC_JWS_ALGORITHMS.has(alg)) {
      throw new TypeError(
        `options.algorithms: "${alg}" is not an asymmetric JWS algorithm (RFC 9449 section 4.3)`,
      );
    }
  }
  const windowS = options.iatWindowS ?? DEFAULT_IAT_WINDOW_S;
  if (!Number.isFinite(windowS) || windowS <= 0) {
    throw new TypeError(`options.iatWindowS must be a positive number, got ${windowS}`);
  }
  const maxBytes = options.maxProofBytes ?? DEFAULT_MAX_PROOF_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new TypeError(`options.maxProofBytes must be a positive integer, got ${maxBytes}`);
  }
  if (options.replay.iatWindowS < windowS) {
    // A jti forgotten while its proof is still acceptable can be replayed (section 11.1).
    throw new TypeError(
      `options.replay keeps jtis for a ${options.replay.iatWindowS}s window, shorter than ` +
        `options.iatWindowS (${windowS}s)`,
    );
  }
}

/**
 * Verifies the DPoP proof of a protected resource request (RFC 9449 section 4.3, checks
 * 1 to 9, 11 and the ath half of 12; check 10, the server nonce, when options.nonce is
 * set). The other half of check 12, the token's binding to the proof key, is
 * checkDpopBinding's.
 *
 * Order: bounded cheap syntax first, then the signature, then the claims, so that nothing
 * the signature does not cover decides anything; the jti is recorded last, so only proofs
 * that passed every other check take room in the replay cache.
 */
export async function verifyDpopProof(
  input: DpopProofInput,
  options: DpopVerifyOptions,
): Promise<DpopProofResult> {
  assertDpopOptions(options);
  const windowS = options.iatWindowS ?? DEFAULT_IAT_WINDOW_S;
  const maxBytes = options.maxProofBytes ?? DEFAULT_MAX_PROOF_BYTES;
  const now = input.now ?? Math.floor(Date.now() / 1000);
  // A NaN clock would pass every time comparison below: a caller bug, never an allow.
  if (!Number.isFinite(now)) throw new TypeError(`input.now must be epoch seconds, got ${now}`);

  // 4.3 checks 1 and 2: exactly one proof, a compact JWS, of bounded size.
  const bytes = Buffer.byteLength(input.proof, 'utf8');
  if (bytes > maxBytes) {
    return dpopFailure('GH_DPOP_PROOF_TOO_LARGE', `proof is ${bytes} bytes, over ${maxBytes}`);
  }
  const proof = input.proof.trim();
  if (holdsSeveralValues(proof)) {
    return dpopFailure('GH_DPOP_MULTIPLE_PROOFS', 'more than one DPoP proof');
  }
  if (!COMPACT_JWS.test(proof)) return dpopFailure('GH_DPOP_MALFORMED', 'not a compact JWS');
  // 4.3 check 2, strictly: only the canonical base64url spelling (see compact-jws.ts).
  const encodingProblem = compactJwsProblem(proof);
  if (encodingProblem !== undefined) return dpopFailure('GH_DPOP_MALFORMED', encodingProblem);
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(proof);
  } catch (error) {
    return dpopFailure('GH_DPOP_MALFORMED', `cannot decode the header: ${errorText(error)}`);
  }

  // 4.3 check 4. Exactly "dpop+jwt": the explicit type keeps other JWTs (an ID token, an
  // access token) from being passed off as a proof (RFC 8725 section 3.11).
  if (header.typ !== DPOP_TYP) {
    return dpopFailure('GH_DPOP_TYP', `typ is ${describe(header.typ)}, not ${DPOP_TYP}`);
  }
  // 4.3 check 5: asymmetric, never none or a MAC, and allowed here.
  const alg = header.alg;
  if (
    typeof alg !== 'string' ||
    !ASYMMETRIC_JWS_ALGORITHMS.has(alg) ||
    !options.algorithms.includes(alg)
  ) {
    return dpopFailure('GH_DPOP_ALG', `algorithm ${describe(alg)} is not accepted`);
  }

  // 4.2 and 4.3 checks 6 and 7: the key is the jwk header, and a public one.
  const jwk: unknown = header.jwk;
  if (jwk === undefined) return dpopFailure('GH_DPOP_JWK_MISSING', 'no jwk header');
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    return dpopFailure('GH_DPOP_JWK_INVALID', 'jwk header is not a JSON object');
  }
  const jwkMembers = jwk as Readonly<Record<string, unknown>>;
  const secret = privateMembers(jwkMembers);
  if (secret.length > 0) {
    return dpopFailure('GH_DPOP_JWK_PRIVATE', `jwk holds private members: ${secret.join(', ')}`);
  }
  const key = publicJwk(jwkMembers);
  if (key === undefined) {
    return dpopFailure('GH_DPOP_JWK_INVALID', 'jwk is not an RSA, EC or OKP public key');
  }

  // 4.3 check 6: the signature, with the embedded key.
  const verified = await verifySignature(proof, key, alg, now);
  if (!verified.ok) return verified;
  const claims = verified.claims;

  // 4.3 check 3: the claims of section 4.2, with the types it gives them.
  const jti = claims.jti;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) {
    return dpopFailure('GH_DPOP_CLAIMS', `jti must be a string of 1 to ${MAX_JTI_LENGTH} chars`);
  }
  for (const name of ['htm', 'htu', 'ath'] as const) {
    if (typeof claims[name] !== 'string') {
      return dpopFailure('GH_DPOP_CLAIMS', `${name} must be a string`);
    }
  }
  const iat = claims.iat;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) {
    return dpopFailure('GH_DPOP_CLAIMS', 'iat must be a number');
  }

  // 4.3 check 8.
  if (claims.htm !== input.method) {
    return dpopFailure(
      'GH_DPOP_HTM',
      `htm ${describe(claims.htm)} is not ${describe(input.method)}`,
    );
  }
  // 4.3 check 9: query and fragment ignored, both sides normalized.
  const htu = comparableTargetUri(String(claims.htu));
  const target = comparableTargetUri(input.url);
  if (htu === undefined || target === undefined || htu !== target) {
    return dpopFailure('GH_DPOP_HTU', `htu ${describe(claims.htu)} is not this request's URI`);
  }
  // 4.3 check 10 and section 9: a resource that requires nonces takes only its own recent
  // ones. After the signature (the nonce is a signed claim), before the replay cache.
  if (options.nonce !== undefined) {
    const nonce = claims.nonce;
    if (nonce === undefined) {
      return dpopFailure('GH_DPOP_NONCE_MISSING', 'the proof has no nonce; one is required');
    }
    if (typeof nonce !== 'string' || !options.nonce.accepts(nonce)) {
      return dpopFailure('GH_DPOP_NONCE_INVALID', 'the nonce is not one issued here recently');
    }
  }
  // 4.3 check 11 and 11.1: only recently created proofs.
  if (now - iat > windowS) {
    return dpopFailure('GH_DPOP_IAT_TOO_OLD', `iat is ${now - iat}s old, over ${windowS}s`);
  }
  if (iat - now > windowS) {
    return dpopFailure('GH_DPOP_IAT_IN_FUTURE', `iat is ${iat - now}s ahead, over ${windowS}s`);
  }
  // 4.3 check 12: ath is the base64url SHA-256 of the access token's ASCII (section 4.2).
  if (input.accessToken === '' || claims.ath !== accessTokenHash(input.accessToken)) {
    return dpopFailure('GH_DPOP_ATH', 'ath is not the hash of the access token');
  }

  // 11.1: each proof is used once.
  const jkt = await calculateJwkThumbprint(key, 'sha256');
  let replayed: boolean;
  try {
    // The in-process cache answers at once; a shared store (IPC, Redis) with a promise.
    const seen = options.replay.seen(jti, jkt);
    replayed = typeof seen === 'boolean' ? seen : await seen;
  } catch (error) {
    // Fail closed: a proof whose jti could not be recorded might be a replay.
    return dpopFailure(
      'GH_DPOP_REPLAY_STORE_UNAVAILABLE',
      `the replay store did not answer: ${errorText(error)}`,
    );
  }
  if (replayed) {
    return dpopFailure('GH_DPOP_REPLAYED', 'this proof (jti) was already used');
  }
  return { ok: true, jkt };
}

type Verified =
  { readonly ok: true; readonly claims: Readonly<Record<string, unknown>> } | DpopFailure;

async function verifySignature(
  proof: string,
  jwk: JWK,
  alg: string,
  now: number,
): Promise<Verified> {
  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK(jwk, alg);
  } catch (error) {
    return dpopFailure(
      'GH_DPOP_JWK_INVALID',
      `jwk cannot be used with ${alg}: ${errorText(error)}`,
    );
  }
  try {
    // jose checks the JWS, the payload is a JSON object, and exp/nbf/iat types and times
    // if present; typ, iat's window and the rest are checked above and below.
    const { payload } = await jwtVerify(proof, key, {
      algorithms: [alg],
      currentDate: new Date(now * 1000),
    });
    return { ok: true, claims: payload };
  } catch (error) {
    return mapJoseError(error, alg);
  }
}

function mapJoseError(error: unknown, alg: string): DpopFailure {
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return dpopFailure('GH_DPOP_SIGNATURE', 'the signature does not verify with the jwk');
  }
  if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired) {
    return dpopFailure('GH_DPOP_CLAIMS', `${error.claim}: ${error.message}`);
  }
  if (error instanceof errors.JOSEError) {
    return dpopFailure('GH_DPOP_MALFORMED', `${error.code}: ${error.message}`);
  }
  // jose throws a TypeError when the key does not fit the algorithm (a P-384 key with
  // ES256, an RSA modulus under 2048 bits): the jwk is unusable. Fail closed either way.
  return dpopFailure('GH_DPOP_JWK_INVALID', `jwk cannot be used with ${alg}: ${errorText(error)}`);
}

function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'utf8').digest('base64url');
}

/** A claim or header value for a reason text: short, and never more than 40 characters. */
function describe(value: unknown): string {
  if (value === undefined) return '(missing)';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
