import { dpopFailure, type DpopFailure } from './dpop-failures.js';

/**
 * Where a token's key binding is read from: a JWT access token's payload (RFC 9449
 * section 6.1) or a token introspection response (RFC 9449 section 6.2, RFC 7662); both
 * carry it as `cnf.jkt`. A jose `JWTPayload` fits.
 */
export interface ConfirmationClaims {
  readonly cnf?: unknown;
  readonly [claim: string]: unknown;
}

/** The authentication scheme the token arrived with (RFC 6750 section 2.1, RFC 9449 7.1). */
export type TokenScheme = 'Bearer' | 'DPoP';

export type DpopBindingResult = { readonly ok: true; readonly bound: boolean } | DpopFailure;

/** A base64url SHA-256 thumbprint: 32 bytes, 43 characters unpadded (RFC 7638 section 3). */
const SHA256_THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;

/**
 * Checks that the token and the way it was presented agree (RFC 9449 sections 4.3 check
 * 12, 7.1 and 7.2):
 * - a DPoP-bound token (`cnf.jkt`) must arrive with the DPoP scheme and a verified proof
 *   whose key thumbprint, `jkt` (from verifyDpopProof), is the bound one;
 * - a DPoP-bound token presented as a Bearer token is rejected: accepting it would
 *   downgrade the token to a bearer token anyone holding it can use (section 7.2);
 * - the DPoP scheme with a token bound to no key is rejected: the scheme claims a binding
 *   the token does not have (section 7.1).
 * An unbound token with the Bearer scheme is left to the Bearer rules (`bound: false`).
 */
export function checkDpopBinding(
  claims: ConfirmationClaims,
  jkt: string | undefined,
  scheme: TokenScheme,
): DpopBindingResult {
  const binding = boundThumbprint(claims.cnf);
  if (binding.kind === 'invalid') return dpopFailure('GH_DPOP_CNF_INVALID', binding.reason);
  if (binding.kind === 'unbound') {
    if (scheme === 'DPoP') {
      return dpopFailure('GH_DPOP_TOKEN_NOT_BOUND', 'DPoP scheme with a token that has no cnf.jkt');
    }
    return { ok: true, bound: false };
  }
  if (scheme === 'Bearer') {
    return dpopFailure('GH_DPOP_BOUND_TOKEN_AS_BEARER', 'DPoP-bound token sent as a Bearer token');
  }
  if (jkt === undefined) return dpopFailure('GH_DPOP_PROOF_MISSING', 'no DPoP proof');
  if (jkt !== binding.jkt) {
    return dpopFailure(
      'GH_DPOP_JKT_MISMATCH',
      'the proof key is not the key the token is bound to',
    );
  }
  return { ok: true, bound: true };
}

type Binding =
  | { readonly kind: 'unbound' }
  | { readonly kind: 'bound'; readonly jkt: string }
  | { readonly kind: 'invalid'; readonly reason: string };

function boundThumbprint(cnf: unknown): Binding {
  if (cnf === undefined) return { kind: 'unbound' };
  // RFC 7800 section 3.1: cnf is a JSON object. Anything else is a token we cannot read the
  // binding of: fail closed rather than treat it as unbound.
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) {
    return { kind: 'invalid', reason: 'cnf is not an object' };
  }
  const jkt = (cnf as { readonly jkt?: unknown }).jkt;
  // A cnf without jkt binds some other way (x5t#S256, RFC 8705): not DPoP's concern.
  if (jkt === undefined) return { kind: 'unbound' };
  if (typeof jkt !== 'string' || !SHA256_THUMBPRINT.test(jkt)) {
    return { kind: 'invalid', reason: 'cnf.jkt is not a base64url SHA-256 thumbprint' };
  }
  return { kind: 'bound', jkt };
}
