import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { TLSSocket } from 'node:tls';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBearerCredential } from '../../../src/auth/bearer-credential.js';
import { checkCertificateBinding } from '../../../src/auth/certificate/certificate-binding.js';
import { presentedCertificate } from '../../../src/auth/certificate/presented-certificate.js';
import { x5tS256 } from '../../../src/auth/certificate/thumbprint.js';
import { CLIENT_SUBJECT_DN, createTestPki, type TestPki } from '../../net/oauth/certificates.js';
import {
  clientCredentialsClient,
  startAuthorizationServer,
  type AuthorizationServer,
} from '../../helpers/authorization-server.js';
import { closeServer, listenOnLoopback } from '../../helpers/listen.js';
import { envoyUrlEncodedPem, opensslX5tS256, sha256Hex, xfccElement } from './helpers.js';

/*
 * End to end with the real oidc-provider: the client authenticates to the token endpoint
 * with its certificate (RFC 8705 section 2.1) and gets a JWT access token bound to it
 * (section 3.1, `cnf.x5t#S256`). A TLS resource server then does what Gatehouse does
 * behind Envoy: it takes the connection's client certificate as Envoy reports it
 * (URL-encoded PEM in source.certificate), verifies the token and checks the binding.
 */

const CLIENT_ID = 'orders-client';
const RESOURCE = 'https://orders.gatehouse.test/';
const SCOPE = 'orders:read';

let pki: TestPki;
let provider: AuthorizationServer | undefined;
let issuer: string;
let jwks: JSONWebKeySet;
let resourceServer: ReturnType<typeof createServer> | undefined;
let resourceUrl: string;
let token: string;
const agents: Agent[] = [];

beforeAll(async () => {
  pki = await createTestPki();
  const started = await startAuthorizationServer({
    tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert },
    clients: [
      // RFC 8705 section 2.1: PKI mutual TLS client authentication...
      clientCredentialsClient(CLIENT_ID, 'tls_client_auth', {
        tls_client_auth_subject_dn: CLIENT_SUBJECT_DN,
        // ...and section 3.4: this client's access tokens are bound to its certificate.
        tls_client_certificate_bound_access_tokens: true,
      }),
    ],
    resources: { [RESOURCE]: { scope: SCOPE, audience: RESOURCE } },
  });
  provider = started;
  issuer = started.issuer;
  jwks = await started.jwks();
  token = await started.issueToken({
    client: { id: CLIENT_ID },
    tls: pki.client,
    resource: RESOURCE,
    scope: SCOPE,
  });

  const server = createServer(
    { key: pki.server.key, cert: pki.server.cert, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      void protectedResource(req, res);
    },
  );
  resourceServer = server;
  resourceUrl = `https://127.0.0.1:${await listenOnLoopback(server)}/orders`;
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
  if (resourceServer !== undefined) await closeServer(resourceServer);
  await provider?.stop();
});

/** The resource server: bearer token, JWT verification, then the RFC 8705 binding. */
async function protectedResource(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket)) throw new Error('the resource server is TLS only');
  const raw = socket.getPeerCertificate().raw as Buffer | undefined;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') headers[name] = value;
  }
  const deny = (problem: string): void => {
    res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
    res.end(JSON.stringify({ problem }));
  };

  const credential = readBearerCredential(headers);
  if (credential.kind !== 'bearer') {
    deny('no bearer token');
    return;
  }
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(credential.token, createLocalJWKSet(jwks), {
      issuer,
      audience: RESOURCE,
      typ: 'at+jwt',
    }));
  } catch {
    deny('token verification failed');
    return;
  }
  const presented = presentedCertificate({
    // What Envoy puts in AttributeContext.source.certificate for this connection.
    peerCertificate:
      raw === undefined ? undefined : envoyUrlEncodedPem(new X509Certificate(raw).toString()),
    headers,
    // A client connecting directly is not a trusted proxy.
    peerTrusted: false,
  });
  const binding = checkCertificateBinding(
    claims,
    presented.kind === 'presented' ? presented : undefined,
  );
  if (!binding.ok) {
    deny(binding.problem);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      bound: binding.bound,
      source: presented.kind === 'presented' ? presented.source : presented.kind,
    }),
  );
}

async function callResource(
  tls: { cert?: string; key?: string },
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const agent = new Agent({ connect: { ca: pki.ca.cert, ...tls } });
  agents.push(agent);
  const response = await request(resourceUrl, {
    headers: { authorization: `Bearer ${token}`, ...headers },
    dispatcher: agent,
  });
  return {
    status: response.statusCode,
    body: (await response.body.json()) as Record<string, unknown>,
  };
}

describe('certificate-bound JWT access tokens from oidc-provider (RFC 8705)', () => {
  it("binds the token to the client's certificate: cnf.x5t#S256 is its thumbprint", async () => {
    const claims = decodeJwt(token);
    expect(claims.cnf).toEqual({ 'x5t#S256': await opensslX5tS256(pki.client.cert) });
    const presented = { thumbprint: x5tS256(new X509Certificate(pki.client.cert)) };
    expect(checkCertificateBinding(claims, presented)).toEqual({ ok: true, bound: true });
  });

  it('the bound token fails the binding check for another certificate', () => {
    const other = { thumbprint: x5tS256(new X509Certificate(pki.otherClient.cert)) };
    expect(checkCertificateBinding(decodeJwt(token), other)).toMatchObject({
      ok: false,
      problem: 'GH_CERT_MISMATCH',
    });
  });

  it('matches through every way the certificate can reach Gatehouse', () => {
    const claims = decodeJwt(token);
    const inputs = [
      { peerCertificate: envoyUrlEncodedPem(pki.client.cert), headers: {}, peerTrusted: false },
      { headers: { 'x-forwarded-client-cert': xfccElement(pki.client.cert) }, peerTrusted: true },
      {
        headers: { 'x-forwarded-client-cert': `Hash=${sha256Hex(pki.client.cert)}` },
        peerTrusted: true,
      },
    ];
    for (const input of inputs) {
      const presented = presentedCertificate(input);
      expect(presented.kind).toBe('presented');
      expect(
        checkCertificateBinding(claims, presented.kind === 'presented' ? presented : undefined),
      ).toEqual({ ok: true, bound: true });
    }
  });

  it('the client holding the certificate is served over mutual TLS', async () => {
    expect(await callResource(pki.client)).toEqual({
      status: 200,
      body: { bound: true, source: 'envoy-peer' },
    });
  });

  it('attack: stolen bound token replayed over TLS with a different certificate', async () => {
    expect(await callResource(pki.otherClient)).toEqual({
      status: 401,
      body: { problem: 'GH_CERT_MISMATCH' },
    });
  });

  it('attack: stolen bound token replayed over TLS without a certificate', async () => {
    expect(await callResource({})).toEqual({ status: 401, body: { problem: 'GH_CERT_REQUIRED' } });
  });

  it("attack: stolen bound token with a spoofed X-Forwarded-Client-Cert naming the victim's certificate", async () => {
    const spoofed = { 'x-forwarded-client-cert': xfccElement(pki.client.cert) };
    expect(await callResource({}, spoofed)).toEqual({
      status: 401,
      body: { problem: 'GH_CERT_REQUIRED' },
    });
    expect(await callResource(pki.otherClient, spoofed)).toEqual({
      status: 401,
      body: { problem: 'GH_CERT_MISMATCH' },
    });
  });
});
