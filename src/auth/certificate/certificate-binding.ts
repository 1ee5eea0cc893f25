import { timingSafeEqual } from 'node:crypto';
import type { CertificateErrorCode } from '../../errors/error-codes.js';
import { isX5tS256 } from './thumbprint.js';

/**
 * Why a token failed its certificate binding. The resource server answers each with
 * 401 and `error="invalid_token"` (RFC 8705 section 3: "If they do not match, the resource
 * access attempt MUST be rejected with an error, per [RFC6750], using an HTTP 401 status
 * code and the "invalid_token" error code").
 */
export type CertificateBindingProblem = Extract<
  CertificateErrorCode,
  'GH_CERT_CNF_MALFORMED' | 'GH_CERT_REQUIRED' | 'GH_CERT_MISMATCH'
>;

export type CertificateBindingResult =
  /** `bound`: whether the token was certificate-bound (and the certificate matched). */
  | { readonly ok: true; readonly bound: boolean }
  | { readonly ok: false; readonly problem: CertificateBindingProblem; readonly reason: string };

/**
 * A verified token's claims. The index signature lets a jose JWTPayload through (without
 * it, `{ cnf?: unknown }` is a weak type that JWTPayload does not satisfy).
 */
export interface TokenClaims {
  readonly cnf?: unknown;
  readonly [claim: string]: unknown;
}

/**
 * RFC 8705 section 3: a token whose `cnf` claim (RFC 7800 section 3.1) holds `x5t#S256`
 * may only be used over a connection whose client certificate has that thumbprint
 * (section 3.1). A token without it is a plain bearer token and passes whatever is
 * presented. Other confirmation methods in `cnf` (a DPoP `jkt`, RFC 9449 section 6) are
 * not checked here.
 *
 * `presented` is the thumbprint of the certificate the request came with
 * (presentedCertificate), undefined when there was none.
 */
export function checkCertificateBinding(
  claims: TokenClaims,
  presented: { readonly thumbprint: string } | undefined,
): CertificateBindingResult {
  const { cnf } = claims;
  if (cnf === undefined) return { ok: true, bound: false };
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) {
    return fail('GH_CERT_CNF_MALFORMED', 'claim "cnf" is not a JSON object (RFC 7800 section 3.1)');
  }
  // Own properties only: a JSON claim set never inherits one.
  const expected: unknown = Object.hasOwn(cnf, X5T_S256)
    ? (cnf as Record<string, unknown>)[X5T_S256]
    : undefined;
  if (expected === undefined) return { ok: true, bound: false };
  if (typeof expected !== 'string' || !isX5tS256(expected)) {
    return fail(
      'GH_CERT_CNF_MALFORMED',
      'cnf "x5t#S256" is not a base64url SHA-256 thumbprint (RFC 8705 section 3.1)',
    );
  }
  if (presented === undefined) {
    return fail(
      'GH_CERT_REQUIRED',
      'the token is bound to a client certificate; none was presented',
    );
  }
  if (!constantTimeEqual(expected, presented.thumbprint)) {
    return fail('GH_CERT_MISMATCH', 'the token is bound to another client certificate');
  }
  return { ok: true, bound: true };
}

const X5T_S256 = 'x5t#S256';

/**
 * Compares without an early exit, so response timing says nothing about how much of the
 * thumbprint an attacker got right. The length is public (a SHA-256 thumbprint is always
 * 43 characters) and checked first, as timingSafeEqual requires.
 */
function constantTimeEqual(expected: string, actual: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(actual, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function fail(problem: CertificateBindingProblem, reason: string): CertificateBindingResult {
  return { ok: false, problem, reason };
}
