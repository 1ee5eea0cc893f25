import type { X509Certificate } from 'node:crypto';
import type { CertificateErrorCode } from '../../errors/error-codes.js';

/**
 * Why a conveyed client certificate was not accepted. A closed set (meanings in the one
 * registry, src/errors/error-codes.ts), so it can be the deny's `detail` in logs and
 * metrics; `reason` says the details and never echoes the input.
 */
export type CertificateProblem = Extract<
  CertificateErrorCode,
  | 'GH_CERT_TOO_LARGE'
  | 'GH_CERT_ENCODING'
  | 'GH_CERT_NOT_X509'
  | 'GH_CERT_AMBIGUOUS'
  | 'GH_CERT_MISSING'
>;

export interface CertificateFailure {
  readonly ok: false;
  readonly problem: CertificateProblem;
  readonly reason: string;
}

export type CertificateResult =
  { readonly ok: true; readonly certificate: X509Certificate } | CertificateFailure;

export function certificateFailure(
  problem: CertificateProblem,
  reason: string,
): CertificateFailure {
  return { ok: false, problem, reason };
}
