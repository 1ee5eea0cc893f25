import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  fromClientCertHeader,
  fromEnvoyPeerCertificate,
  fromForwardedClientCert,
  MAX_CERTIFICATE_INPUT_CHARS,
  type CertificateProblem,
} from '../../../src/auth/certificate/client-certificate.js';
import { x5tS256, x5tS256FromSha256Hex } from '../../../src/auth/certificate/thumbprint.js';
import { createTestPki, type TestPki } from '../../net/oauth/certificates.js';
import {
  clientCertField,
  envoyUrlEncodedPem,
  opensslX5tS256,
  sha256Hex,
  xfccElement,
} from './helpers.js';

/*
 * The three parsers, table-driven: each way a proxy writes a certificate, and each way an
 * input can be malformed, ambiguous, oversized or not a certificate at all.
 */

let pki: TestPki;
let der: Buffer;
let x5t: string;

beforeAll(async () => {
  pki = await createTestPki();
  der = new X509Certificate(pki.client.cert).raw;
  x5t = await opensslX5tS256(pki.client.cert);
});

/** DER of an EC public key: a valid ASN.1 SEQUENCE that is not a certificate. */
function publicKeyDer(): Buffer {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
    type: 'spki',
    format: 'der',
  });
}

function pemOf(body: Buffer, label = 'CERTIFICATE'): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

describe('x5tS256 (RFC 8705 section 3.1)', () => {
  it('is base64url(SHA-256(DER)), as openssl computes it', () => {
    const thumbprint = x5tS256(new X509Certificate(pki.client.cert));
    expect(thumbprint).toBe(x5t);
    expect(thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('converts an XFCC hex Hash to the same thumbprint, in either case', () => {
    expect(x5tS256FromSha256Hex(sha256Hex(pki.client.cert))).toBe(x5t);
    expect(x5tS256FromSha256Hex(sha256Hex(pki.client.cert).toUpperCase())).toBe(x5t);
  });

  it.each(['', 'abc', 'g'.repeat(64), 'a'.repeat(63), 'a'.repeat(65)])(
    'refuses a Hash that is not 64 hex digits: %j',
    (hex) => {
      expect(x5tS256FromSha256Hex(hex)).toBeUndefined();
    },
  );
});

describe("fromEnvoyPeerCertificate (Envoy's URL-encoded PEM)", () => {
  it.each([
    ['Envoy 1.2x escapes (\\n, space, +, /, =)', (pem: string) => envoyUrlEncodedPem(pem)],
    ['full percent-encoding', (pem: string) => encodeURIComponent(pem)],
    ['CRLF line ends', (pem: string) => encodeURIComponent(pem.replace(/\n/g, '\r\n'))],
  ])('reads %s', (_name, encode) => {
    const result = fromEnvoyPeerCertificate(encode(pki.client.cert));
    expect(result.ok && x5tS256(result.certificate)).toBe(x5t);
  });

  const cases: [string, () => string, CertificateProblem][] = [
    ['empty', () => '', 'GH_CERT_MISSING'],
    ['bad percent-encoding', () => '%E0%A4%A', 'GH_CERT_ENCODING'],
    ['not PEM at all', () => 'hello', 'GH_CERT_ENCODING'],
    ['a PEM with another label', () => encodeURIComponent(pki.client.key), 'GH_CERT_ENCODING'],
    [
      'explanatory text before the PEM',
      () => encodeURIComponent(`subject=CN=x\n${pki.client.cert}`),
      'GH_CERT_ENCODING',
    ],
    [
      'a body with non-base64 characters',
      () => encodeURIComponent(pki.client.cert.replace(/\n([A-Za-z])/, '\n*$1')),
      'GH_CERT_ENCODING',
    ],
    [
      'two certificates (a chain where the leaf is expected)',
      () => envoyUrlEncodedPem(pki.client.cert + pki.ca.cert),
      'GH_CERT_AMBIGUOUS',
    ],
    [
      'a public key labelled CERTIFICATE',
      () => encodeURIComponent(pemOf(publicKeyDer())),
      'GH_CERT_NOT_X509',
    ],
    [
      'a certificate followed by trailing bytes',
      () => encodeURIComponent(pemOf(Buffer.concat([der, Buffer.from([0, 0])]))),
      'GH_CERT_AMBIGUOUS',
    ],
    ['over the size limit', () => 'A'.repeat(MAX_CERTIFICATE_INPUT_CHARS + 1), 'GH_CERT_TOO_LARGE'],
  ];
  it.each(cases)('refuses %s', (_name, value, problem) => {
    expect(fromEnvoyPeerCertificate(value())).toMatchObject({ ok: false, problem });
  });
});

describe("fromForwardedClientCert (Envoy's X-Forwarded-Client-Cert)", () => {
  it('reads Cert and Hash of one element, and keeps the certificate', () => {
    const result = fromForwardedClientCert(xfccElement(pki.client.cert));
    expect(result).toMatchObject({ ok: true, thumbprint: x5t });
    expect(result.ok && result.certificate?.subject).toContain('gatehouse-sidecar');
  });

  it('reads Hash alone: the thumbprint without a certificate', () => {
    const result = fromForwardedClientCert(
      `By=spiffe://edge;Hash=${sha256Hex(pki.client.cert)};URI=spiffe://client`,
    );
    expect(result).toEqual({ ok: true, thumbprint: x5t, certificate: undefined });
  });

  it('reads Cert alone, keys in any case, and quoted values with escaped quotes', () => {
    const header = `subject="CN=a \\"quoted\\" name, O=x";cErT="${envoyUrlEncodedPem(pki.client.cert)}"`;
    expect(fromForwardedClientCert(header)).toMatchObject({ ok: true, thumbprint: x5t });
  });

  it('reads an RFC 2253 Subject that ends in an escaped backslash', () => {
    const header = `Subject="CN=x\\\\";Hash=${sha256Hex(pki.client.cert)}`;
    expect(fromForwardedClientCert(header)).toMatchObject({ ok: true, thumbprint: x5t });
  });

  it("with element: 'first', takes the first element, written by the edge for the client", () => {
    const header = `${xfccElement(pki.client.cert)},${xfccElement(pki.server.cert, 'spiffe://mesh')}`;
    expect(fromForwardedClientCert(header, { element: 'first' })).toMatchObject({
      ok: true,
      thumbprint: x5t,
    });
  });

  const hash = (): string => sha256Hex(pki.client.cert);
  const cases: [string, () => string, CertificateProblem][] = [
    ['an empty header', () => '', 'GH_CERT_ENCODING'],
    ['a pair without "="', () => 'Hash', 'GH_CERT_ENCODING'],
    ['a trailing ";"', () => `Hash=${hash()};`, 'GH_CERT_ENCODING'],
    ['an empty element', () => `Hash=${hash()},,`, 'GH_CERT_ENCODING'],
    [
      'an unterminated quote',
      () => `Cert="${envoyUrlEncodedPem(pki.client.cert)}`,
      'GH_CERT_ENCODING',
    ],
    ['text after a quoted value', () => `Cert="x"y;Hash=${hash()}`, 'GH_CERT_ENCODING'],
    ['a quote inside an unquoted value', () => `URI=a"b;Hash=${hash()}`, 'GH_CERT_ENCODING'],
    ['a key that is not a token', () => `Ha sh=${hash()}`, 'GH_CERT_ENCODING'],
    ['a Hash that is not hex SHA-256', () => 'Hash=abcdefg', 'GH_CERT_ENCODING'],
    ['a Cert that is not URL-encoded PEM', () => `Cert="%ZZ"`, 'GH_CERT_ENCODING'],
    ['neither Cert nor Hash', () => 'By=spiffe://edge;URI=spiffe://client', 'GH_CERT_MISSING'],
    ['two Hash keys in one element', () => `Hash=${hash()};Hash=${hash()}`, 'GH_CERT_AMBIGUOUS'],
    [
      'two elements (default: which is the client is ambiguous)',
      () => `${xfccElement(pki.client.cert)},${xfccElement(pki.server.cert)}`,
      'GH_CERT_AMBIGUOUS',
    ],
    [
      'a Hash that is not the digest of its Cert',
      () => `Hash=${sha256Hex(pki.otherClient.cert)};Cert="${envoyUrlEncodedPem(pki.client.cert)}"`,
      'GH_CERT_AMBIGUOUS',
    ],
    [
      'over the size limit',
      () => `Hash=${'a'.repeat(MAX_CERTIFICATE_INPUT_CHARS)}`,
      'GH_CERT_TOO_LARGE',
    ],
  ];
  it.each(cases)('refuses %s', (_name, header, problem) => {
    expect(fromForwardedClientCert(header())).toMatchObject({ ok: false, problem });
  });
});

describe('fromClientCertHeader (RFC 9440 Client-Cert)', () => {
  it('reads :base64(DER): with surrounding spaces (RFC 8941 section 4.2)', () => {
    const result = fromClientCertHeader(`  ${clientCertField(pki.client.cert)} `);
    expect(result.ok && x5tS256(result.certificate)).toBe(x5t);
  });

  it('reads a byte sequence without "=" padding (RFC 8941 section 4.2.7)', () => {
    const unpadded = clientCertField(pki.client.cert).replace(/=+:$/, ':');
    const result = fromClientCertHeader(unpadded);
    expect(result.ok && x5tS256(result.certificate)).toBe(x5t);
  });

  const cases: [string, () => string, CertificateProblem][] = [
    ['an empty value', () => '', 'GH_CERT_ENCODING'],
    ['bare base64 without colons', () => der.toString('base64'), 'GH_CERT_ENCODING'],
    ['base64url instead of base64', () => `:${der.toString('base64url')}_-:`, 'GH_CERT_ENCODING'],
    ['a PEM', () => pki.client.cert, 'GH_CERT_ENCODING'],
    ['parameters', () => `${clientCertField(pki.client.cert)};foo=1`, 'GH_CERT_ENCODING'],
    ['an impossible base64 length', () => ':QUJDR:', 'GH_CERT_ENCODING'],
    ['padding in the middle', () => ':QQ==QUJD:', 'GH_CERT_ENCODING'],
    [
      'two values (repeated field, joined with ",")',
      () => `${clientCertField(pki.client.cert)}, ${clientCertField(pki.otherClient.cert)}`,
      'GH_CERT_AMBIGUOUS',
    ],
    ['an empty byte sequence', () => '::', 'GH_CERT_NOT_X509'],
    ['a public key', () => `:${publicKeyDer().toString('base64')}:`, 'GH_CERT_NOT_X509'],
    [
      'base64 of a PEM (node would parse it)',
      () => `:${Buffer.from(pki.client.cert).toString('base64')}:`,
      'GH_CERT_NOT_X509',
    ],
    [
      'a certificate followed by a second one',
      () => `:${Buffer.concat([der, new X509Certificate(pki.ca.cert).raw]).toString('base64')}:`,
      'GH_CERT_AMBIGUOUS',
    ],
    [
      'over the size limit',
      () => `:${'A'.repeat(MAX_CERTIFICATE_INPUT_CHARS)}:`,
      'GH_CERT_TOO_LARGE',
    ],
    [
      'DER over the certificate size limit',
      () => `:${Buffer.alloc(20_000, 0x30).toString('base64')}:`,
      'GH_CERT_TOO_LARGE',
    ],
  ];
  it.each(cases)('refuses %s', (_name, header, problem) => {
    expect(fromClientCertHeader(header())).toMatchObject({ ok: false, problem });
  });
});
