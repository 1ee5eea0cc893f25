import type { X509Certificate } from 'node:crypto';

/**
 * Why a conveyed client certificate was not accepted. A closed set, so it can be a log
 * field and a metric label; `reason` says the details and never echoes the input.
 */
export type CertificateProblem =
  /** The input is over the size limit; nothing was parsed. */
  | 'ERR_CERT_TOO_LARGE'
  /** Bad percent-encoding, PEM, base64, structured field or XFCC syntax. */
  | 'ERR_CERT_ENCODING'
  /** Well-formed encoding, but the bytes are not one X.509 certificate. */
  | 'ERR_CERT_NOT_X509'
  /** More than one certificate or value where one is expected, or values that disagree. */
  | 'ERR_CERT_AMBIGUOUS'
  /** The input carries no certificate (an XFCC element without Cert or Hash). */
  | 'ERR_CERT_MISSING';

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
