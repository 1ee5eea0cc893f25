import type { X509Certificate } from 'node:crypto';
import type { CertificateProblem } from './certificate-result.js';
import {
  fromClientCertHeader,
  fromEnvoyPeerCertificate,
  fromForwardedClientCert,
  type XfccElementChoice,
} from './client-certificate.js';
import { x5tS256 } from './thumbprint.js';

/** Headers a TLS-terminating proxy uses to pass the client certificate on, lower-cased. */
const FORWARDED_CERTIFICATE_HEADERS = ['x-forwarded-client-cert', 'client-cert'] as const;
export type ForwardedCertificateHeader = (typeof FORWARDED_CERTIFICATE_HEADERS)[number];

/**
 * Where the certificate came from: Envoy's own view of the TLS connection
 * (`source.certificate`), or a header from a trusted proxy: Envoy's XFCC or RFC 9440's
 * Client-Cert.
 */
export type CertificateSource = 'envoy-peer' | ForwardedCertificateHeader;

export interface PresentedCertificateInput {
  /** CheckInput.source.certificate: Envoy's URL-encoded PEM; "" or undefined for none. */
  readonly peerCertificate?: string | undefined;
  /** Request headers, names lower-cased (CheckInput.headers). */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the peer is a trusted proxy (TrustedProxies.isTrusted). */
  readonly peerTrusted: boolean;
  /** Which XFCC element is the client's; see XfccElementChoice. Default `'only'`. */
  readonly xfccElement?: XfccElementChoice | undefined;
}

export type PresentedCertificate =
  | {
      readonly kind: 'presented';
      readonly source: CertificateSource;
      /** `x5t#S256` of the certificate (RFC 8705 section 3.1). */
      readonly thumbprint: string;
      /** Undefined when only XFCC `Hash` was forwarded. */
      readonly certificate: X509Certificate | undefined;
    }
  | {
      readonly kind: 'absent';
      readonly reason: string;
      /** Certificate headers that were sent but not believed (the peer is not trusted). */
      readonly ignored: readonly ForwardedCertificateHeader[];
    }
  | {
      readonly kind: 'invalid';
      /** Undefined when the problem is that two sources were given. */
      readonly source: CertificateSource | undefined;
      readonly problem: CertificateProblem;
      readonly reason: string;
    };

/**
 * The client certificate a request was made with, for RFC 8705 section 3's check:
 *
 * 1. Envoy's `source.certificate` first: Envoy saw the handshake itself. When it is set,
 *    the headers are not read at all, so a client cannot override its own TLS certificate
 *    with a header. (Behind a mesh sidecar this is the previous hop's certificate, not the
 *    end client's: bound tokens then fail, closed.)
 * 2. Otherwise X-Forwarded-Client-Cert or Client-Cert, only when the peer is a trusted
 *    proxy. Anyone can send these headers (RFC 9440 section 4: the origin must only accept
 *    them from a TTRP that sanitizes them), so from any other peer they are ignored and
 *    reported in `ignored`. Both at once is ambiguous: which one the proxy sanitized is
 *    not knowable here, so neither is believed.
 *
 * Pass `{ thumbprint }` of a `'presented'` result to checkCertificateBinding, and
 * undefined otherwise: a bound token then fails with GH_CERT_REQUIRED.
 */
export function presentedCertificate(input: PresentedCertificateInput): PresentedCertificate {
  const { peerCertificate, headers } = input;
  if (peerCertificate !== undefined && peerCertificate !== '') {
    const result = fromEnvoyPeerCertificate(peerCertificate);
    if (!result.ok) return invalid('envoy-peer', result);
    return presented('envoy-peer', result.certificate);
  }

  const sent = FORWARDED_CERTIFICATE_HEADERS.filter((name) => headers[name] !== undefined);
  if (sent.length === 0) {
    return { kind: 'absent', reason: 'no client certificate was presented', ignored: [] };
  }
  if (!input.peerTrusted) {
    return {
      kind: 'absent',
      reason: `${sent.join(' and ')} ignored: the peer is not a trusted proxy`,
      ignored: sent,
    };
  }
  const xfcc = headers['x-forwarded-client-cert'];
  const clientCert = headers['client-cert'];
  if (xfcc !== undefined && clientCert !== undefined) {
    return invalid(undefined, {
      problem: 'GH_CERT_AMBIGUOUS',
      reason: 'both X-Forwarded-Client-Cert and Client-Cert were sent',
    });
  }
  if (xfcc !== undefined) {
    const result = fromForwardedClientCert(xfcc, { element: input.xfccElement });
    if (!result.ok) return invalid('x-forwarded-client-cert', result);
    return {
      kind: 'presented',
      source: 'x-forwarded-client-cert',
      thumbprint: result.thumbprint,
      certificate: result.certificate,
    };
  }
  // clientCert is defined here: a certificate header was sent and it is not XFCC.
  const result = fromClientCertHeader(clientCert ?? '');
  if (!result.ok) return invalid('client-cert', result);
  return presented('client-cert', result.certificate);
}

function presented(source: CertificateSource, certificate: X509Certificate): PresentedCertificate {
  return { kind: 'presented', source, thumbprint: x5tS256(certificate), certificate };
}

function invalid(
  source: CertificateSource | undefined,
  failure: { readonly problem: CertificateProblem; readonly reason: string },
): PresentedCertificate {
  return { kind: 'invalid', source, problem: failure.problem, reason: failure.reason };
}
