/**
 * The closed set of reasons a DPoP check fails (RFC 9449), and the `error` attribute of the
 * `WWW-Authenticate: DPoP` challenge each one is answered with (RFC 9449 section 7.1).
 * The codes and their meanings live in the one registry (src/errors/error-codes.ts); this
 * table adds what each is answered with. The authenticator maps every code to one deny code
 * and passes the code on as the deny's `detail` (log field and metric label).
 */
import type { DpopFailureCode } from '../../errors/error-codes.js';

/** The error for a missing or invalid DPoP proof (RFC 9449 sections 5 and 7.1). */
export const INVALID_DPOP_PROOF = 'invalid_dpop_proof';
/** The error for a token unusable with this scheme (RFC 6750 section 3.1, RFC 9449 7.1). */
export const INVALID_TOKEN = 'invalid_token';
/** The error for a proof without the server's nonce (RFC 9449 sections 8 and 9). */
export const USE_DPOP_NONCE = 'use_dpop_nonce';

export type DpopChallengeError =
  typeof INVALID_DPOP_PROOF | typeof INVALID_TOKEN | typeof USE_DPOP_NONCE;

export interface DpopFailureSpec {
  /** The `error` attribute of the challenge. */
  readonly error: DpopChallengeError;
  /** The RFC 9449 section (and check of section 4.3) the failure enforces. */
  readonly rule: string;
}

export const DPOP_FAILURES = {
  GH_DPOP_PROOF_MISSING: { error: INVALID_DPOP_PROOF, rule: '7.1: DPoP scheme without a proof' },
  GH_DPOP_MULTIPLE_PROOFS: { error: INVALID_DPOP_PROOF, rule: '4.3 check 1: one DPoP header' },
  GH_DPOP_PROOF_TOO_LARGE: { error: INVALID_DPOP_PROOF, rule: '4.3 check 2: bounded input' },
  GH_DPOP_MALFORMED: { error: INVALID_DPOP_PROOF, rule: '4.3 check 2: a well-formed JWT' },
  GH_DPOP_TYP: { error: INVALID_DPOP_PROOF, rule: '4.3 check 4: typ is dpop+jwt' },
  GH_DPOP_ALG: { error: INVALID_DPOP_PROOF, rule: '4.3 check 5: an allowed asymmetric alg' },
  GH_DPOP_JWK_MISSING: { error: INVALID_DPOP_PROOF, rule: '4.2: the jwk header is required' },
  GH_DPOP_JWK_PRIVATE: { error: INVALID_DPOP_PROOF, rule: '4.3 check 7: jwk is a public key' },
  GH_DPOP_JWK_INVALID: { error: INVALID_DPOP_PROOF, rule: '4.3 check 6: a usable public jwk' },
  GH_DPOP_SIGNATURE: { error: INVALID_DPOP_PROOF, rule: '4.3 check 6: the signature verifies' },
  GH_DPOP_CLAIMS: { error: INVALID_DPOP_PROOF, rule: '4.3 check 3: required claims of 4.2' },
  GH_DPOP_HTM: { error: INVALID_DPOP_PROOF, rule: '4.3 check 8: htm is the method' },
  GH_DPOP_HTU: { error: INVALID_DPOP_PROOF, rule: '4.3 check 9: htu is the target URI' },
  GH_DPOP_NONCE_MISSING: { error: USE_DPOP_NONCE, rule: '4.3 check 10, 9: a server nonce' },
  GH_DPOP_NONCE_INVALID: { error: USE_DPOP_NONCE, rule: '4.3 check 10, 9: our recent nonce' },
  GH_DPOP_IAT_TOO_OLD: { error: INVALID_DPOP_PROOF, rule: '4.3 check 11, 11.1: recent iat' },
  GH_DPOP_IAT_IN_FUTURE: { error: INVALID_DPOP_PROOF, rule: '4.3 check 11, 11.1: recent iat' },
  GH_DPOP_ATH: { error: INVALID_DPOP_PROOF, rule: '4.3 check 12: ath hashes the token' },
  GH_DPOP_REPLAYED: { error: INVALID_DPOP_PROOF, rule: '11.1: a jti is used once' },
  GH_DPOP_REPLAY_STORE_UNAVAILABLE: {
    error: INVALID_DPOP_PROOF,
    rule: '11.1: the jti store must answer',
  },
  GH_DPOP_BOUND_TOKEN_AS_BEARER: { error: INVALID_TOKEN, rule: '7.2: no Bearer downgrade' },
  GH_DPOP_TOKEN_NOT_BOUND: { error: INVALID_TOKEN, rule: '7.1: DPoP scheme needs cnf.jkt' },
  GH_DPOP_JKT_MISMATCH: { error: INVALID_TOKEN, rule: '4.3 check 12, 6.1: key binding' },
  GH_DPOP_CNF_INVALID: { error: INVALID_TOKEN, rule: '6.1, 6.2: cnf.jkt is a thumbprint' },
} as const satisfies Record<DpopFailureCode, DpopFailureSpec>;

export type { DpopFailureCode };

/** A failed check: `code` from the closed set above, `reason` for logs (never a secret). */
export interface DpopFailure {
  readonly ok: false;
  readonly code: DpopFailureCode;
  readonly reason: string;
}

export function dpopFailure(code: DpopFailureCode, reason: string): DpopFailure {
  return { ok: false, code, reason };
}
