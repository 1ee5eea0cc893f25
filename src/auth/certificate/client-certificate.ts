import type { X509Certificate } from 'node:crypto';
import {
  certificateFailure,
  type CertificateFailure,
  type CertificateResult,
} from './certificate-result.js';
import { certificateFromDer, certificateFromPem, decodeBase64 } from './lib/der-certificate.js';
import { parseXfcc, type XfccElement } from './lib/xfcc.js';
import { x5tS256, x5tS256FromSha256Hex } from './thumbprint.js';

export type {
  CertificateFailure,
  CertificateProblem,
  CertificateResult,
} from './certificate-result.js';
export { MAX_CERTIFICATE_DER_BYTES } from './lib/der-certificate.js';

/**
 * The three ways a client certificate reaches Gatehouse, parsed strictly: one certificate
 * or a failure that says why. None of them decides whether the input may be believed;
 * presented-certificate.ts does (only Envoy's own attribute, or headers from a trusted
 * proxy).
 */

/**
 * Upper bound on each input, in characters, checked before any parsing. A URL-encoded
 * PEM is about 1.4 times the DER plus up to 3 times for percent-escapes; 64 KiB fits the
 * largest certificate we accept (MAX_CERTIFICATE_DER_BYTES) and Envoy's default 60 KiB
 * header limit.
 */
export const MAX_CERTIFICATE_INPUT_CHARS = 65_536;

/**
 * Envoy's `source.certificate` (AttributeContext.Peer.certificate): "the URL-encoded PEM
 * format of the peer's certificate". Envoy writes the PEM of the leaf only, percent-encoding
 * at least "\n", " ", "+", "/" and "=" (older releases) or all reserved characters (newer);
 * decodeURIComponent reverses both, and never turns "+" into a space.
 */
export function fromEnvoyPeerCertificate(value: string): CertificateResult {
  return fromUrlEncodedPem(value, 'the peer certificate');
}

function fromUrlEncodedPem(value: string, what: string): CertificateResult {
  if (value.length > MAX_CERTIFICATE_INPUT_CHARS) return tooLarge(what, value);
  if (value === '') return certificateFailure('GH_CERT_MISSING', `${what} is empty`);
  let pem: string;
  try {
    pem = decodeURIComponent(value);
  } catch {
    return certificateFailure('GH_CERT_ENCODING', `${what} is not URL-encoded`);
  }
  const result = certificateFromPem(pem);
  return result.ok ? result : { ...result, reason: `${what}: ${result.reason}` };
}

/**
 * Which X-Forwarded-Client-Cert element describes the client.
 * - `'only'` (default): the header must have exactly one element, else GH_CERT_AMBIGUOUS.
 * - `'first'`: the first element. Envoy's docs: each element "holds information added by a
 *   single proxy", and a proxy appends its element "to the end of the request's XFCC
 *   header"; so the first element is the one written by the proxy that terminated the
 *   client's TLS, and each later one describes a proxy-to-proxy hop (its Hash is the
 *   previous proxy's certificate, never the client's). The first element is only the
 *   client's if that edge proxy replaced any client-sent XFCC (`SANITIZE_SET`); with
 *   `APPEND_FORWARD` at the edge the client writes the first element itself. Choose
 *   `'first'` only for a topology where the edge is known to sanitize.
 */
export type XfccElementChoice = 'only' | 'first';

export interface ForwardedClientCertOptions {
  /** Default `'only'`. */
  readonly element?: XfccElementChoice | undefined;
}

/**
 * From XFCC: the certificate when the element has `Cert`, and always the `x5t#S256`
 * thumbprint (from `Cert`, or from `Hash`, which is the same SHA-256 in hex).
 */
export type ForwardedCertificateResult =
  | {
      readonly ok: true;
      /** Undefined when the element carries `Hash` but not `Cert`. */
      readonly certificate: X509Certificate | undefined;
      readonly thumbprint: string;
    }
  | CertificateFailure;

/**
 * Envoy's X-Forwarded-Client-Cert (Envoy docs: HTTP header manipulation,
 * x-forwarded-client-cert, and HttpConnectionManager.forward_client_cert_details). Reads
 * `Cert` (URL-encoded PEM, quoted) and `Hash` (hex SHA-256 of the DER); when both are
 * there they must agree. `Chain` and the informational keys are ignored.
 */
export function fromForwardedClientCert(
  header: string,
  options: ForwardedClientCertOptions = {},
): ForwardedCertificateResult {
  if (header.length > MAX_CERTIFICATE_INPUT_CHARS)
    return tooLarge('X-Forwarded-Client-Cert', header);
  const parsed = parseXfcc(header);
  if (!parsed.ok) {
    return certificateFailure('GH_CERT_ENCODING', `X-Forwarded-Client-Cert: ${parsed.reason}`);
  }
  const [first] = parsed.elements;
  const count = parsed.elements.length;
  if (first === undefined) {
    return certificateFailure('GH_CERT_MISSING', 'X-Forwarded-Client-Cert has no element');
  }
  if (count > 1 && (options.element ?? 'only') === 'only') {
    return certificateFailure(
      'GH_CERT_AMBIGUOUS',
      `X-Forwarded-Client-Cert has ${count} elements; which is the client's depends on the ` +
        'proxies (configure element: "first" if the edge proxy sanitizes XFCC)',
    );
  }
  return fromXfccElement(first);
}

function fromXfccElement(element: XfccElement): ForwardedCertificateResult {
  const certs = element.filter((pair) => pair.key === 'cert');
  const hashes = element.filter((pair) => pair.key === 'hash');
  // A repeated key is an injection through an unquoted SAN (see lib/xfcc.ts), never Envoy.
  if (certs.length > 1 || hashes.length > 1) {
    return certificateFailure(
      'GH_CERT_AMBIGUOUS',
      'X-Forwarded-Client-Cert repeats Cert or Hash within one element',
    );
  }
  const [cert] = certs;
  const [hash] = hashes;
  const fromHash = hash === undefined ? undefined : x5tS256FromSha256Hex(hash.value);
  if (hash !== undefined && fromHash === undefined) {
    return certificateFailure(
      'GH_CERT_ENCODING',
      'X-Forwarded-Client-Cert Hash is not a hex SHA-256 digest',
    );
  }
  if (cert === undefined) {
    if (fromHash === undefined) {
      return certificateFailure(
        'GH_CERT_MISSING',
        'X-Forwarded-Client-Cert has neither Cert nor Hash (set_current_client_cert_details)',
      );
    }
    return { ok: true, certificate: undefined, thumbprint: fromHash };
  }
  // The same encoding as source.certificate: Envoy writes both with one function.
  const result = fromUrlEncodedPem(cert.value, 'X-Forwarded-Client-Cert Cert');
  if (!result.ok) return result;
  const thumbprint = x5tS256(result.certificate);
  if (fromHash !== undefined && fromHash !== thumbprint) {
    return certificateFailure(
      'GH_CERT_AMBIGUOUS',
      'X-Forwarded-Client-Cert Hash is not the digest of its Cert',
    );
  }
  return { ok: true, certificate: result.certificate, thumbprint };
}

/**
 * RFC 9440 section 2.2 `Client-Cert`: an Item Structured Field (RFC 8941) whose value is a
 * Byte Sequence, `:base64(DER):` (RFC 8941 section 3.3.5), and a singleton that "MUST NOT
 * have a list of values or occur multiple times". Repeated fields arrive joined with ","
 * (CheckInput.headers), so a comma means two values. RFC 9440 defines no parameters: one
 * here is refused rather than ignored.
 */
export function fromClientCertHeader(header: string): CertificateResult {
  if (header.length > MAX_CERTIFICATE_INPUT_CHARS) return tooLarge('Client-Cert', header);
  // RFC 8941 section 4.2: leading and trailing spaces are discarded before parsing.
  const value = header.replace(/^ +| +$/g, '');
  if (value.includes(',')) {
    return certificateFailure(
      'GH_CERT_AMBIGUOUS',
      'Client-Cert has more than one value (RFC 9440 section 2.2: a singleton)',
    );
  }
  const base64 = /^:([^:]*):$/.exec(value)?.[1];
  if (base64 === undefined) {
    return certificateFailure(
      'GH_CERT_ENCODING',
      'Client-Cert is not a structured-field byte sequence ":base64:" without parameters',
    );
  }
  const der = decodeBase64(base64);
  if (der === undefined) {
    return certificateFailure('GH_CERT_ENCODING', 'Client-Cert is not valid base64');
  }
  const result = certificateFromDer(der);
  return result.ok ? result : { ...result, reason: `Client-Cert: ${result.reason}` };
}

function tooLarge(what: string, value: string): CertificateFailure {
  return certificateFailure(
    'GH_CERT_TOO_LARGE',
    `${what} is ${value.length} characters, over ${MAX_CERTIFICATE_INPUT_CHARS}`,
  );
}
