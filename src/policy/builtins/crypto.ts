import { createHash, createHmac, timingSafeEqual, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { JsonText, type HostBuiltin } from '../opa-wasm-abi.js';

/**
 * OPA's crypto builtins that the WebAssembly target leaves to the host (OPA policy
 * reference, "Crypto"): digests and HMACs as lower-case hex of the UTF-8 input, and
 * certificate parsing.
 */
export function cryptoBuiltins(): Array<[string, HostBuiltin]> {
  const digest =
    (algorithm: string): HostBuiltin =>
    (value) =>
      createHash(algorithm).update(text(value)).digest('hex');
  const hmac =
    (algorithm: string): HostBuiltin =>
    (value, key) =>
      createHmac(algorithm, text(key)).update(text(value)).digest('hex');
  return [
    ['crypto.md5', digest('md5')],
    ['crypto.sha1', digest('sha1')],
    ['crypto.sha256', digest('sha256')],
    ['crypto.hmac.md5', hmac('md5')],
    ['crypto.hmac.sha1', hmac('sha1')],
    ['crypto.hmac.sha256', hmac('sha256')],
    ['crypto.hmac.sha512', hmac('sha512')],
    [
      // Constant time, so a policy comparing MACs leaks nothing through timing.
      'crypto.hmac.equal',
      (a, b) => {
        const left = Buffer.from(text(a));
        const right = Buffer.from(text(b));
        return left.length === right.length && timingSafeEqual(left, right);
      },
    ],
    ['crypto.x509.parse_certificates', (value) => parseCertificates(text(value))],
  ];
}

function text(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError('operand must be a string');
  return value;
}

/**
 * crypto.x509.parse_certificates(certs): PEM text, or base64 of PEM or DER (one or more
 * certificates). Each certificate is an object with the field names OPA's (Go's
 * crypto/x509.Certificate) JSON uses, for the fields policies read: Raw, SerialNumber,
 * Subject and Issuer (CommonName, Organization, ... and Names), NotBefore, NotAfter,
 * DNSNames, EmailAddresses, IPAddresses, URIs (as URL objects), IsCA.
 */
function parseCertificates(input: string): JsonText {
  const certificates = readCertificates(input).map((der) => new X509Certificate(der));
  if (certificates.length === 0) throw new Error('no certificates found');
  // SerialNumber is a JSON integer in OPA's output (a big.Int); written as raw text to keep
  // every digit, via a placeholder the JSON encoder cannot produce from a string value.
  const serials: string[] = [];
  const objects = certificates.map((certificate) => {
    serials.push(BigInt(`0x${certificate.serialNumber}`).toString());
    return certificateObject(certificate, serials.length - 1);
  });
  const json = JSON.stringify(objects).replace(
    /"\\u0000serial(\d+)"/g,
    (_match, index: string) => serials[Number(index)] ?? '0',
  );
  return new JsonText(json);
}

function certificateObject(certificate: X509Certificate, serialIndex: number): unknown {
  const names = subjectAltNames(certificate.subjectAltName);
  return {
    Raw: certificate.raw.toString('base64'),
    SerialNumber: `\u0000serial${serialIndex}`,
    Subject: distinguishedName(certificate.subject),
    Issuer: distinguishedName(certificate.issuer),
    NotBefore: new Date(certificate.validFrom).toISOString().replace('.000Z', 'Z'),
    NotAfter: new Date(certificate.validTo).toISOString().replace('.000Z', 'Z'),
    DNSNames: names.dns.length === 0 ? null : names.dns,
    EmailAddresses: names.email.length === 0 ? null : names.email,
    IPAddresses: names.ip.length === 0 ? null : names.ip,
    URIs: names.uri.length === 0 ? null : names.uri.map(urlObject),
    IsCA: certificate.ca,
  };
}

/** RFC 4514 short names Node prints -> Go's pkix.Name fields and their OIDs. */
const NAME_FIELDS: Readonly<Record<string, { field: string; oid: number[] }>> = {
  C: { field: 'Country', oid: [2, 5, 4, 6] },
  O: { field: 'Organization', oid: [2, 5, 4, 10] },
  OU: { field: 'OrganizationalUnit', oid: [2, 5, 4, 11] },
  L: { field: 'Locality', oid: [2, 5, 4, 7] },
  ST: { field: 'Province', oid: [2, 5, 4, 8] },
  street: { field: 'StreetAddress', oid: [2, 5, 4, 9] },
  postalCode: { field: 'PostalCode', oid: [2, 5, 4, 17] },
  serialNumber: { field: 'SerialNumber', oid: [2, 5, 4, 5] },
  CN: { field: 'CommonName', oid: [2, 5, 4, 3] },
};

function distinguishedName(text: string): Record<string, unknown> {
  const name: Record<string, unknown> = {
    Country: null,
    Organization: null,
    OrganizationalUnit: null,
    Locality: null,
    Province: null,
    StreetAddress: null,
    PostalCode: null,
    SerialNumber: '',
    CommonName: '',
  };
  const entries: Array<{ Type: number[]; Value: string }> = [];
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at <= 0) continue;
    const key = line.slice(0, at);
    const value = line.slice(at + 1);
    const spec = NAME_FIELDS[key];
    if (spec === undefined) continue;
    entries.push({ Type: spec.oid, Value: value });
    if (spec.field === 'CommonName' || spec.field === 'SerialNumber') name[spec.field] = value;
    else name[spec.field] = [...((name[spec.field] as string[] | null) ?? []), value];
  }
  name.Names = entries;
  name.ExtraNames = null;
  return name;
}

function subjectAltNames(text: string | undefined): {
  dns: string[];
  email: string[];
  ip: string[];
  uri: string[];
} {
  const names = {
    dns: [] as string[],
    email: [] as string[],
    ip: [] as string[],
    uri: [] as string[],
  };
  // Node prints "DNS:a.example, URI:spiffe://x, IP Address:10.0.0.1, email:a@b".
  for (const entry of (text ?? '').split(/,\s*/)) {
    const at = entry.indexOf(':');
    if (at <= 0) continue;
    const kind = entry.slice(0, at);
    const value = entry.slice(at + 1);
    if (kind === 'DNS') names.dns.push(value);
    else if (kind === 'email') names.email.push(value);
    else if (kind === 'IP Address' && isIP(value) !== 0) names.ip.push(value);
    else if (kind === 'URI') names.uri.push(value);
  }
  return names;
}

/** Go's url.URL fields, as OPA's JSON shows a certificate's URIs. */
function urlObject(text: string): Record<string, unknown> {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  return {
    Scheme: url?.protocol.replace(/:$/, '') ?? '',
    Opaque: '',
    User: null,
    Host: url?.host ?? '',
    Path: url?.pathname ?? text,
    RawPath: '',
    OmitHost: false,
    ForceQuery: false,
    RawQuery: url?.search.replace(/^\?/, '') ?? '',
    Fragment: url?.hash.replace(/^#/, '') ?? '',
    RawFragment: '',
  };
}

/** The DER of each certificate in PEM text, base64 PEM, or base64 (concatenated) DER. */
function readCertificates(input: string): Buffer[] {
  const pemBlocks = (pem: string): Buffer[] =>
    [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map(
      (match) => Buffer.from((match[1] ?? '').replace(/\s+/g, ''), 'base64'),
    );
  if (input.includes('-----BEGIN')) return pemBlocks(input);
  const decoded = Buffer.from(input.replace(/\s+/g, ''), 'base64');
  if (decoded.subarray(0, 10).toString('latin1') === '-----BEGIN') {
    return pemBlocks(decoded.toString('utf8'));
  }
  return splitDer(decoded);
}

/** Concatenated DER certificates: each is one SEQUENCE (X.690 section 8.1 lengths). */
function splitDer(bytes: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes[offset] !== 0x30) throw new Error('not a DER certificate');
    const first = bytes[offset + 1] ?? 0;
    let length = first;
    let header = 2;
    if (first & 0x80) {
      const count = first & 0x7f;
      if (count === 0 || count > 4) throw new Error('unsupported DER length');
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + (bytes[offset + 2 + i] ?? 0);
      header = 2 + count;
    }
    const end = offset + header + length;
    if (end > bytes.length) throw new Error('truncated DER certificate');
    parts.push(bytes.subarray(offset, end));
    offset = end;
  }
  return parts;
}
