/**
 * The closed set of reasons a DPoP check fails (RFC 9449), and the `error` attribute of the
 * `WWW-Authenticate: DPoP` challenge each one is answered with (RFC 9449 section 7.1).
 * Like the deny codes, a failure code is meant to be the log field and the metric label;
 * the integrator maps every code to one Gatehouse deny code.
 */

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
  DPOP_ERR_PROOF_MISSING: { error: INVALID_DPOP_PROOF, rule: '7.1: DPoP scheme without a proof' },
  DPOP_ERR_MULTIPLE_PROOFS: { error: INVALID_DPOP_PROOF, rule: '4.3 check 1: one DPoP header' },
  DPOP_ERR_PROOF_TOO_LARGE: { error: INVALID_DPOP_PROOF, rule: '4.3 check 2: bounded input' },
  DPOP_ERR_MALFORMED: { error: INVALID_DPOP_PROOF, rule: '4.3 check 2: a well-formed JWT' },
  DPOP_ERR_TYP: { error: INVALID_DPOP_PROOF, rule: '4.3 check 4: typ is dpop+jwt' },
  DPOP_ERR_ALG: { error: INVALID_DPOP_PROOF, rule: '4.3 check 5: an allowed asymmetric alg' },
  DPOP_ERR_JWK_MISSING: { error: INVALID_DPOP_PROOF, rule: '4.2: the jwk header is required' },
  DPOP_ERR_JWK_PRIVATE: { error: INVALID_DPOP_PROOF, rule: '4.3 check 7: jwk is a public key' },
  DPOP_ERR_JWK_INVALID: { error: INVALID_DPOP_PROOF, rule: '4.3 check 6: a usable public jwk' },
  DPOP_ERR_SIGNATURE: { error: INVALID_DPOP_PROOF, rule: '4.3 check 6: the signature verifies' },
  DPOP_ERR_CLAIMS: { error: INVALID_DPOP_PROOF, rule: '4.3 check 3: required claims of 4.2' },
  DPOP_ERR_HTM: { error: INVALID_DPOP_PROOF, rule: '4.3 check 8: htm is the method' },
  DPOP_ERR_HTU: { error: INVALID_DPOP_PROOF, rule: '4.3 check 9: htu is the target URI' },
  DPOP_ERR_NONCE_MISSING: { error: USE_DPOP_NONCE, rule: '4.3 check 10, 9: a server nonce' },
  DPOP_ERR_NONCE_INVALID: { error: USE_DPOP_NONCE, rule: '4.3 check 10, 9: our recent nonce' },
  DPOP_ERR_IAT_TOO_OLD: { error: INVALID_DPOP_PROOF, rule: '4.3 check 11, 11.1: recent iat' },
  DPOP_ERR_IAT_IN_FUTURE: { error: INVALID_DPOP_PROOF, rule: '4.3 check 11, 11.1: recent iat' },
  DPOP_ERR_ATH: { error: INVALID_DPOP_PROOF, rule: '4.3 check 12: ath hashes the token' },
  DPOP_ERR_REPLAYED: { error: INVALID_DPOP_PROOF, rule: '11.1: a jti is used once' },
  DPOP_ERR_REPLAY_STORE_UNAVAILABLE: {
    error: INVALID_DPOP_PROOF,
    rule: '11.1: the jti store must answer',
  },
  DPOP_ERR_BOUND_TOKEN_AS_BEARER: { error: INVALID_TOKEN, rule: '7.2: no Bearer downgrade' },
  DPOP_ERR_TOKEN_NOT_BOUND: { error: INVALID_TOKEN, rule: '7.1: DPoP scheme needs cnf.jkt' },
  DPOP_ERR_JKT_MISMATCH: { error: INVALID_TOKEN, rule: '4.3 check 12, 6.1: key binding' },
  DPOP_ERR_CNF_INVALID: { error: INVALID_TOKEN, rule: '6.1, 6.2: cnf.jkt is a thumbprint' },
} as const satisfies Record<string, DpopFailureSpec>;

export type DpopFailureCode = keyof typeof DPOP_FAILURES;

/** A failed check: `code` from the closed set above, `reason` for logs (never a secret). */
export interface DpopFailure {
  readonly ok: false;
  readonly code: DpopFailureCode;
  readonly reason: string;
}

export function dpopFailure(code: DpopFailureCode, reason: string): DpopFailure {
  return { ok: false, code, reason };
}
