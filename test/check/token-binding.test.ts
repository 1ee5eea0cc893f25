import { X509Certificate, createHash } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DenyDecision } from '../../src/decision/decision.js';
import { envoyUrlEncodedPem, xfccElement } from '../auth/certificate/helpers.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { createTestPki, type TestPki } from '../net/oauth/certificates.js';
import { bearer, checkInput } from './check-input-factory.js';

// Certificate-bound tokens (RFC 8705) through the whole pipeline, with real certificates
// made by openssl, over the transport-free pipeline and the real HTTP check endpoint.

let t: TestGatehouse;
let pki: TestPki;
let thumbprint: string;

beforeAll(async () => {
  pki = await createTestPki();
  thumbprint = createHash('sha256')
    .update(new X509Certificate(pki.client.cert).raw)
    .digest('base64url');
  t = await startTestGatehouse();
});
afterAll(async () => {
  await t.close();
});

async function boundToken(): Promise<string> {
  return t.issuer.sign({ cnf: { 'x5t#S256': thumbprint } });
}

function expectBindingDeny(
  decision: Awaited<ReturnType<typeof t.gatehouse.pipeline.check>>,
): DenyDecision {
  expect(decision.allowed).toBe(false);
  if (decision.allowed) throw new Error('unreachable');
  expect(decision.code).toBe('GH_ERR_TOKEN_BINDING');
  expect(decision.status).toBe(401);
  expect(decision.headers.find(([name]) => name === 'www-authenticate')?.[1]).toMatch(
    /error="invalid_token"/,
  );
  return decision;
}

describe('certificate-bound tokens (RFC 8705)', () => {
  it('the certificate the token is bound to, from Envoy: allowed', async () => {
    const decision = await t.gatehouse.pipeline.check(
      checkInput({
        headers: bearer(await boundToken()),
        source: { certificate: envoyUrlEncodedPem(pki.client.cert) },
      }),
    );
    expect(decision.allowed).toBe(true);
  });

  it('bound token with a different certificate', async () => {
    expectBindingDeny(
      await t.gatehouse.pipeline.check(
        checkInput({
          headers: bearer(await boundToken()),
          source: { certificate: envoyUrlEncodedPem(pki.otherClient.cert) },
        }),
      ),
    );
  });

  it('bound token without a certificate', async () => {
    expectBindingDeny(
      await t.gatehouse.pipeline.check(checkInput({ headers: bearer(await boundToken()) })),
    );
  });

  it('spoofed X-Forwarded-Client-Cert from an untrusted peer is ignored', async () => {
    expectBindingDeny(
      await t.gatehouse.pipeline.check(
        checkInput({
          headers: {
            ...bearer(await boundToken()),
            'x-forwarded-client-cert': xfccElement(pki.client.cert),
          },
          peerTrusted: false,
        }),
      ),
    );
  });

  it('X-Forwarded-Client-Cert from a trusted proxy is believed', async () => {
    const decision = await t.gatehouse.pipeline.check(
      checkInput({
        headers: {
          ...bearer(await boundToken()),
          'x-forwarded-client-cert': xfccElement(pki.client.cert),
        },
        peerTrusted: true,
      }),
    );
    expect(decision.allowed).toBe(true);
  });

  it('over HTTP (Traefik forwardAuth from loopback, a trusted proxy): XFCC binds, a stranger’s cert does not', async () => {
    const call = async (pem: string): Promise<number> => {
      const response = await request(`${t.httpBase}/traefik`, {
        headers: {
          'x-forwarded-method': 'GET',
          'x-forwarded-uri': '/orders/1',
          authorization: `Bearer ${await boundToken()}`,
          'x-forwarded-client-cert': xfccElement(pem),
        },
      });
      await response.body.dump();
      return response.statusCode;
    };
    expect(await call(pki.client.cert)).toBe(200);
    expect(await call(pki.otherClient.cert)).toBe(401);
  });
});
