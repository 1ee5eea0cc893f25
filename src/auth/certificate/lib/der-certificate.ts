import { X509Certificate } from 'node:crypto';
import { certificateFailure, type CertificateResult } from '../certificate-result.js';

/**
 * Strict decoding of one certificate from DER or PEM into a node:crypto X509Certificate.
 * node's parser is lenient in ways that matter for a thumbprint: it takes PEM or DER,
 * reads the first certificate of several and drops trailing bytes. The binding hashes the
 * certificate's DER (RFC 8705 section 3.1), so what we hash must be exactly what was sent.
 */

/**
 * Upper bound on one DER certificate, in bytes. Client certificates are typically under
 * 3 KiB; 16 KiB leaves room for RSA-8192 keys and long SAN lists.
 */
export const MAX_CERTIFICATE_DER_BYTES = 16_384;

/** ASN.1 SEQUENCE tag: every DER certificate starts with it (RFC 5280 section 4.1). */
const ASN1_SEQUENCE = 0x30;

export function certificateFromDer(der: Buffer): CertificateResult {
  if (der.length === 0) return certificateFailure('GH_CERT_NOT_X509', 'the certificate is empty');
  if (der.length > MAX_CERTIFICATE_DER_BYTES) {
    return certificateFailure(
      'GH_CERT_TOO_LARGE',
      `the certificate is ${der.length} bytes, over ${MAX_CERTIFICATE_DER_BYTES}`,
    );
  }
  // node would also accept PEM text here; a DER field carrying PEM is refused up front.
  if (der[0] !== ASN1_SEQUENCE) {
    return certificateFailure('GH_CERT_NOT_X509', 'the bytes are not a DER certificate');
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch {
    return certificateFailure('GH_CERT_NOT_X509', 'the bytes are not an X.509 certificate');
  }
  // A second certificate or trailing bytes are silently dropped by the parser: refuse
  // them, or two different inputs would hash to one thumbprint.
  if (!certificate.raw.equals(der)) {
    return certificateFailure(
      'GH_CERT_AMBIGUOUS',
      'bytes follow the certificate (a second certificate, or trailing data)',
    );
  }
  return { ok: true, certificate };
}

/** Both Envoy (PEM_write_bio_X509) and RFC 7468 section 5.1 use exactly this label. */
const PEM_CERTIFICATE =
  /^[ \t\r\n]*-----BEGIN CERTIFICATE-----([A-Za-z0-9+/= \t\r\n]*)-----END CERTIFICATE-----[ \t\r\n]*$/;
const PEM_BEGIN = /-----BEGIN /g;

/**
 * One PEM certificate (RFC 7468 section 5.1). Whitespace around and inside the base64 is
 * accepted (the section 3 "lax" reading); explanatory text, other labels and a second
 * block are not.
 */
export function certificateFromPem(pem: string): CertificateResult {
  const blocks = pem.match(PEM_BEGIN)?.length ?? 0;
  if (blocks > 1) {
    return certificateFailure(
      'GH_CERT_AMBIGUOUS',
      `${blocks} PEM blocks where a single certificate is expected`,
    );
  }
  const body = PEM_CERTIFICATE.exec(pem)?.[1];
  if (body === undefined) {
    return certificateFailure('GH_CERT_ENCODING', 'not a PEM "CERTIFICATE" block');
  }
  const der = decodeBase64(body.replace(/[ \t\r\n]/g, ''));
  if (der === undefined) {
    return certificateFailure('GH_CERT_ENCODING', 'the PEM body is not valid base64');
  }
  return certificateFromDer(der);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Standard base64 (RFC 4648 section 4), strictly: only the alphabet, padding at the end
 * only. Missing padding is accepted, as RFC 8941 section 4.2.7 asks of byte sequence
 * parsers; an impossible length is not. node's own decoder skips invalid characters
 * silently, hence the checks first.
 */
export function decodeBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const unpadded = text.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return undefined;
  if (unpadded.length !== text.length && text.length % 4 !== 0) return undefined;
  return Buffer.from(unpadded, 'base64');
}
