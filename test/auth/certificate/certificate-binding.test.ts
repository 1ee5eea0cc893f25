import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkCertificateBinding,
  type TokenClaims,
} from '../../../src/auth/certificate/certificate-binding.js';
import { presentedCertificate } from '../../../src/auth/certificate/presented-certificate.js';
import { createTestPki, type TestPki } from '../../net/oauth/certificates.js';
import {
  boundClaims,
  clientCertField,
  envoyUrlEncodedPem,
  opensslX5tS256,
  sha256Hex,
} from './helpers.js';

/*
 * RFC 8705 section 3: a certificate-bound token is only good with its certificate. One
 * test per attack, from the certificate source to the binding decision, asserting the
 * problem code the integrator maps to 401 invalid_token.
 */

let pki: TestPki;
/** A token bound to pki.client, with the thumbprint computed by openssl. */
let bound: { cnf: Record<string, unknown> };

beforeAll(async () => {
  pki = await createTestPki();
  bound = boundClaims(await opensslX5tS256(pki.client.cert));
});

/** The certificate source, then the binding check, as the pipeline runs them. */
function decide(
  claims: TokenClaims,
  input: Parameters<typeof presentedCertificate>[0],
): ReturnType<typeof checkCertificateBinding> {
  const presented = presentedCertificate(input);
  return checkCertificateBinding(claims, presented.kind === 'presented' ? presented : undefined);
}

const envoyPeer = (pem: string) => ({
  peerCertificate: envoyUrlEncodedPem(pem),
  headers: {},
  peerTrusted: false,
});

describe('certificate-bound access tokens (RFC 8705 section 3)', () => {
  it("a URL-encoded PEM from Envoy that matches the token's x5t#S256 is accepted", () => {
    expect(decide(bound, envoyPeer(pki.client.cert))).toEqual({ ok: true, bound: true });
  });

  it('a matching XFCC Hash alone from a trusted proxy is accepted', () => {
    const headers = { 'x-forwarded-client-cert': `Hash=${sha256Hex(pki.client.cert)}` };
    expect(decide(bound, { headers, peerTrusted: true })).toEqual({ ok: true, bound: true });
  });

  it('a matching Client-Cert from a trusted proxy is accepted', () => {
    const headers = { 'client-cert': clientCertField(pki.client.cert) };
    expect(decide(bound, { headers, peerTrusted: true })).toEqual({ ok: true, bound: true });
  });

  it('attack: bound token replayed with a different certificate', () => {
    expect(decide(bound, envoyPeer(pki.otherClient.cert))).toMatchObject({
      ok: false,
      problem: 'GH_CERT_MISMATCH',
    });
  });

  it('attack: bound token replayed with a different certificate of the same subject', () => {
    // Two self-signed certificates with one subject: the binding is the DER, not the name.
    const claims = boundClaims(sha256X5t(pki.selfSigned.cert));
    expect(decide(claims, envoyPeer(pki.unregisteredSelfSigned.cert))).toMatchObject({
      ok: false,
      problem: 'GH_CERT_MISMATCH',
    });
  });

  it('attack: bound token replayed without a certificate', () => {
    expect(decide(bound, { headers: {}, peerTrusted: false })).toMatchObject({
      ok: false,
      problem: 'GH_CERT_REQUIRED',
    });
  });

  it('attack: bound token with an unparseable certificate is treated as no certificate', () => {
    expect(
      decide(bound, { peerCertificate: '%ZZ', headers: {}, peerTrusted: false }),
    ).toMatchObject({ ok: false, problem: 'GH_CERT_REQUIRED' });
  });

  it('attack: bound token with a thumbprint that differs in its last character only', () => {
    const thumbprint = String(bound.cnf['x5t#S256']);
    const last = thumbprint.endsWith('A') ? 'B' : 'A';
    expect(
      checkCertificateBinding(bound, { thumbprint: `${thumbprint.slice(0, -1)}${last}` }),
    ).toMatchObject({ ok: false, problem: 'GH_CERT_MISMATCH' });
  });

  it('attack: bound token with a thumbprint of another length (a prefix)', () => {
    const thumbprint = String(bound.cnf['x5t#S256']);
    expect(checkCertificateBinding(bound, { thumbprint: thumbprint.slice(0, 20) })).toMatchObject({
      ok: false,
      problem: 'GH_CERT_MISMATCH',
    });
  });

  it('an unbound token passes whatever is presented', () => {
    const inputs = [
      { headers: {}, peerTrusted: false },
      envoyPeer(pki.otherClient.cert),
      { peerCertificate: 'garbage', headers: {}, peerTrusted: false },
      { headers: { 'x-forwarded-client-cert': 'Hash=zz' }, peerTrusted: true },
    ];
    for (const claims of [{}, { cnf: { jkt: 'not-a-certificate-binding' } }]) {
      for (const input of inputs) {
        expect(decide(claims, input)).toEqual({ ok: true, bound: false });
      }
    }
  });

  const malformed: [string, unknown][] = [
    ['cnf is a string', 'x5t'],
    ['cnf is null', null],
    ['cnf is an array', [{ 'x5t#S256': 'a' }]],
    ['x5t#S256 is a number', { 'x5t#S256': 42 }],
    ['x5t#S256 is null', { 'x5t#S256': null }],
    ['x5t#S256 is an array', { 'x5t#S256': ['a'] }],
    ['x5t#S256 is empty', { 'x5t#S256': '' }],
    ['x5t#S256 is hex, not base64url', { 'x5t#S256': 'ab'.repeat(32) }],
    ['x5t#S256 is padded base64', { 'x5t#S256': `${'A'.repeat(43)}=` }],
  ];
  it.each(malformed)('attack: malformed cnf (%s) fails, whatever is presented', (_name, cnf) => {
    expect(
      checkCertificateBinding({ cnf }, { thumbprint: String(bound.cnf['x5t#S256']) }),
    ).toMatchObject({ ok: false, problem: 'GH_CERT_CNF_MALFORMED' });
  });
});

function sha256X5t(pem: string): string {
  return Buffer.from(sha256Hex(pem), 'hex').toString('base64url');
}
