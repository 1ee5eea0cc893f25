import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkCertificateBinding } from '../../../src/auth/certificate/certificate-binding.js';
import { presentedCertificate } from '../../../src/auth/certificate/presented-certificate.js';
import { x5tS256 } from '../../../src/auth/certificate/thumbprint.js';
import { createTestPki, type TestPki } from '../../net/oauth/certificates.js';
import {
  boundClaims,
  clientCertField,
  envoyUrlEncodedPem,
  sha256Hex,
  xfccElement,
} from './helpers.js';

/*
 * Which certificate a request was made with, and whose word is taken for it: Envoy's
 * own view of the handshake, then headers, only from a trusted proxy. One test per
 * spoofing attack; each ends in the binding decision for a token bound to the victim.
 */

let pki: TestPki;
let victim: string;

beforeAll(async () => {
  pki = await createTestPki();
  victim = x5tS256(new X509Certificate(pki.client.cert));
});

/** The victim's certificate is public (it is sent in every handshake): an attacker has it. */
const spoofedXfcc = (): string => xfccElement(pki.client.cert);
const spoofedClientCert = (): string => clientCertField(pki.client.cert);

function bindingFor(presented: ReturnType<typeof presentedCertificate>) {
  return checkCertificateBinding(
    boundClaims(victim),
    presented.kind === 'presented' ? presented : undefined,
  );
}

describe('presentedCertificate: sources and trust', () => {
  it("uses Envoy's source.certificate, whatever the peer", () => {
    const result = presentedCertificate({
      peerCertificate: envoyUrlEncodedPem(pki.client.cert),
      headers: {},
      peerTrusted: false,
    });
    expect(result).toMatchObject({ kind: 'presented', source: 'envoy-peer', thumbprint: victim });
  });

  it('reads X-Forwarded-Client-Cert from a trusted proxy, with the certificate', () => {
    const result = presentedCertificate({
      headers: { 'x-forwarded-client-cert': xfccElement(pki.client.cert) },
      peerTrusted: true,
    });
    expect(result).toMatchObject({
      kind: 'presented',
      source: 'x-forwarded-client-cert',
      thumbprint: victim,
    });
    expect(result.kind === 'presented' && result.certificate?.subject).toContain(
      'gatehouse-sidecar',
    );
  });

  it('reads Client-Cert from a trusted proxy', () => {
    const result = presentedCertificate({
      headers: { 'client-cert': clientCertField(pki.client.cert) },
      peerTrusted: true,
    });
    expect(result).toMatchObject({ kind: 'presented', source: 'client-cert', thumbprint: victim });
  });

  it('says why there is none when nothing was presented', () => {
    expect(presentedCertificate({ headers: {}, peerTrusted: true })).toEqual({
      kind: 'absent',
      reason: 'no client certificate was presented',
      ignored: [],
    });
  });

  it("an empty source.certificate (Envoy's proto3 default) means none", () => {
    expect(
      presentedCertificate({ peerCertificate: '', headers: {}, peerTrusted: false }),
    ).toMatchObject({ kind: 'absent' });
  });

  it('an invalid source.certificate is reported, not replaced by a header', () => {
    const result = presentedCertificate({
      peerCertificate: 'not-a-pem',
      headers: { 'x-forwarded-client-cert': spoofedXfcc() },
      peerTrusted: true,
    });
    expect(result).toMatchObject({
      kind: 'invalid',
      source: 'envoy-peer',
      problem: 'GH_CERT_ENCODING',
    });
  });
});

describe('attacks on the certificate source', () => {
  it('attack: spoofed X-Forwarded-Client-Cert from an untrusted peer is ignored', () => {
    const result = presentedCertificate({
      headers: { 'x-forwarded-client-cert': spoofedXfcc() },
      peerTrusted: false,
    });
    expect(result).toMatchObject({ kind: 'absent', ignored: ['x-forwarded-client-cert'] });
    expect(bindingFor(result)).toMatchObject({ ok: false, problem: 'GH_CERT_REQUIRED' });
  });

  it('attack: spoofed Client-Cert from an untrusted peer is ignored', () => {
    const result = presentedCertificate({
      headers: { 'client-cert': spoofedClientCert() },
      peerTrusted: false,
    });
    expect(result).toMatchObject({ kind: 'absent', ignored: ['client-cert'] });
    expect(bindingFor(result)).toMatchObject({ ok: false, problem: 'GH_CERT_REQUIRED' });
  });

  it('attack: spoofed XFCC Hash alone from an untrusted peer is ignored', () => {
    const result = presentedCertificate({
      headers: { 'x-forwarded-client-cert': `Hash=${sha256Hex(pki.client.cert)}` },
      peerTrusted: false,
    });
    expect(bindingFor(result)).toMatchObject({ ok: false, problem: 'GH_CERT_REQUIRED' });
  });

  it("attack: spoofed headers next to the attacker's own TLS certificate: Envoy's wins", () => {
    const result = presentedCertificate({
      peerCertificate: envoyUrlEncodedPem(pki.otherClient.cert),
      headers: { 'x-forwarded-client-cert': spoofedXfcc(), 'client-cert': spoofedClientCert() },
      peerTrusted: true,
    });
    expect(result).toMatchObject({ kind: 'presented', source: 'envoy-peer' });
    expect(bindingFor(result)).toMatchObject({ ok: false, problem: 'GH_CERT_MISMATCH' });
  });

  it('attack: X-Forwarded-Client-Cert with two elements is ambiguous and refused', () => {
    // An APPEND_FORWARD edge keeps what the client sent and appends the real element: the
    // spoofed one comes first, the attacker's real certificate last.
    const header = `${spoofedXfcc()},${xfccElement(pki.otherClient.cert)}`;
    const result = presentedCertificate({
      headers: { 'x-forwarded-client-cert': header },
      peerTrusted: true,
    });
    expect(result).toMatchObject({
      kind: 'invalid',
      source: 'x-forwarded-client-cert',
      problem: 'GH_CERT_AMBIGUOUS',
    });
    expect(bindingFor(result)).toMatchObject({ ok: false, problem: 'GH_CERT_REQUIRED' });
  });

  it("attack: XFCC with two elements and element 'first': a proxy's certificate is never taken", () => {
    // A SANITIZE_SET edge wrote the client's element; a mesh hop appended the edge's.
    const header = `${xfccElement(pki.otherClient.cert)},${xfccElement(pki.client.cert)}`;
    const result = presentedCertificate({
      headers: { 'x-forwarded-client-cert': header },
      peerTrusted: true,
      xfccElement: 'first',
    });
    expect(result).toMatchObject({ kind: 'presented', source: 'x-forwarded-client-cert' });
    expect(bindingFor(result)).toMatchObject({ ok: false, problem: 'GH_CERT_MISMATCH' });
  });

  it('attack: XFCC Hash injected through an unquoted URI SAN is refused', () => {
    // Envoy writes URI unquoted; a self-signed certificate can carry any URI SAN.
    const injected =
      `By=spiffe://edge;Hash=${sha256Hex(pki.otherClient.cert)};` +
      `URI=spiffe://x;Hash=${sha256Hex(pki.client.cert)}`;
    const result = presentedCertificate({
      headers: { 'x-forwarded-client-cert': injected },
      peerTrusted: true,
    });
    expect(result).toMatchObject({ kind: 'invalid', problem: 'GH_CERT_AMBIGUOUS' });
  });

  it('attack: XFCC element injected through an unquoted URI SAN is refused', () => {
    const injected =
      `By=spiffe://edge;Hash=${sha256Hex(pki.otherClient.cert)};` +
      `URI=spiffe://x,Hash=${sha256Hex(pki.client.cert)}`;
    const result = presentedCertificate({
      headers: { 'x-forwarded-client-cert': injected },
      peerTrusted: true,
    });
    expect(result).toMatchObject({ kind: 'invalid', problem: 'GH_CERT_AMBIGUOUS' });
  });

  it('attack: both X-Forwarded-Client-Cert and Client-Cert from a trusted proxy are refused', () => {
    const result = presentedCertificate({
      headers: {
        'x-forwarded-client-cert': xfccElement(pki.otherClient.cert),
        'client-cert': spoofedClientCert(),
      },
      peerTrusted: true,
    });
    expect(result).toMatchObject({
      kind: 'invalid',
      source: undefined,
      problem: 'GH_CERT_AMBIGUOUS',
    });
  });

  it.each([
    ['x-forwarded-client-cert', 'Cert="-----BEGIN%20CERTIFICATE-----"'],
    ['x-forwarded-client-cert', 'Hash=1234;Cert'],
    ['client-cert', ':not base64:'],
    ['client-cert', `:${Buffer.from('not a certificate').toString('base64')}:`],
  ])(
    'attack: malformed %s from a trusted proxy is invalid, never a certificate (%s)',
    (name, value) => {
      const result = presentedCertificate({ headers: { [name]: value }, peerTrusted: true });
      expect(result).toMatchObject({ kind: 'invalid', source: name });
      expect(bindingFor(result)).toMatchObject({ ok: false, problem: 'GH_CERT_REQUIRED' });
    },
  );
});
