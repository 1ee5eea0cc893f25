import type { DpopFailureCode } from './dpop-failures.js';

/**
 * Reads a DPoP request's two parts: the access token from `Authorization: DPoP <token>`
 * and the proof from the `DPoP` header (RFC 9449 sections 7.1 and 4.1). Header names are
 * lower-cased and repeated headers arrive joined with "," (see CheckInput.headers).
 */

export type DpopCredential =
  | { readonly kind: 'none' }
  | { readonly kind: 'dpop'; readonly token: string }
  | { readonly kind: 'malformed'; readonly reason: string };

// RFC 9449 section 7.1: credentials = "DPoP" 1*SP token68, the same characters as the
// Bearer scheme's b64token (RFC 6750 section 2.1). Scheme names are case-insensitive
// (RFC 9110 section 11.1).
const DPOP = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i;
const DPOP_SCHEME = /^DPoP(?: |$)/i;

/** The DPoP-scheme access token; `none` when the Authorization header uses another scheme. */
export function readDpopCredential(headers: Readonly<Record<string, string>>): DpopCredential {
  const value = headers.authorization;
  if (value === undefined || !DPOP_SCHEME.test(value)) return { kind: 'none' };
  const token = DPOP.exec(value)?.[1];
  if (token !== undefined) return { kind: 'dpop', token };
  return {
    kind: 'malformed',
    // A comma is not a token68 character: two credentials, never "the first one".
    reason: value.includes(',')
      ? 'more than one Authorization header or credential'
      : 'DPoP credential is not a valid token68',
  };
}

export type DpopProofHeader =
  | { readonly kind: 'none' }
  | { readonly kind: 'proof'; readonly proof: string }
  | {
      readonly kind: 'malformed';
      readonly code: Extract<DpopFailureCode, 'GH_DPOP_MALFORMED' | 'GH_DPOP_MULTIPLE_PROOFS'>;
      readonly reason: string;
    };

/** The single DPoP proof of a request (RFC 9449 section 4.3 check 1); `none` without one. */
export function readDpopProof(headers: Readonly<Record<string, string>>): DpopProofHeader {
  const value = headers.dpop;
  if (value === undefined) return { kind: 'none' };
  const proof = value.trim();
  if (proof === '') {
    return { kind: 'malformed', code: 'GH_DPOP_MALFORMED', reason: 'empty DPoP header' };
  }
  if (holdsSeveralValues(proof)) {
    return {
      kind: 'malformed',
      code: 'GH_DPOP_MULTIPLE_PROOFS',
      reason: 'more than one DPoP header or proof',
    };
  }
  return { kind: 'proof', proof };
}

/**
 * True when a DPoP field value holds more than one proof (RFC 9449 section 4.3 check 1).
 * Repeated header fields reach us combined with "," (RFC 9110 section 5.3), and a compact
 * JWS never contains "," or whitespace, so either one means several values (or a broken
 * one, which is denied alike). Leading and trailing whitespace is not part of a field value
 * (RFC 9110 section 5.5) and is trimmed by the caller.
 */
export function holdsSeveralValues(trimmedValue: string): boolean {
  return /[,\s]/.test(trimmedValue);
}
