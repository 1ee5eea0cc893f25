import { X509Certificate, type JsonWebKey } from 'node:crypto';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchBytes } from '../../../src/net/http-fetch.js';
import { ClientCredentialsTokenSource } from '../../../src/net/oauth/client-credentials.js';
import { CLIENT_SUBJECT_DN, createTestPki, x5c, type TestPki } from './certificates.js';
import {
  clientCredentialsClient,
  startAuthorizationServer,
  type AuthorizationServer,
} from '../../helpers/authorization-server.js';
import {
  BUNDLES_SERVER,
  everythingShown,
  rejection,
  thrown,
  withConfigDefaults,
  tokenSources,
} from './helpers.js';

/*
 * RFC 8705 client authentication against a real oidc-provider served by node:https with
 * `requestCert: true, rejectUnauthorized: false` and its mTLS feature on: PKI
 * (tls_client_auth, the certificate chains to the CA and names the registered subject)
 * and self-signed (self_signed_tls_client_auth, the certificate is in the client's JWKS).
 */

const TLS_CLIENT = 'gatehouse-tls';
const SELF_SIGNED_CLIENT = 'gatehouse-self-signed';
const POST_CLIENT = { id: 'gatehouse-post-over-tls', secret: 'post-over-tls-secret-012345' };

const client = clientCredentialsClient;

let pki: TestPki;
let provider: AuthorizationServer;

beforeAll(async () => {
  pki = await createTestPki();
  provider = await startAuthorizationServer({
    ...BUNDLES_SERVER,
    tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert },
    clients: [
      // RFC 8705 section 2.1.2: the registered subject the certificate must carry.
      client(TLS_CLIENT, 'tls_client_auth', { tls_client_auth_subject_dn: CLIENT_SUBJECT_DN }),
      // RFC 8705 section 2.2.2: the self-signed certificate is registered in the JWKS.
      client(SELF_SIGNED_CLIENT, 'self_signed_tls_client_auth', {
        jwks: { keys: [{ ...publicJwk(pki.selfSigned.cert), x5c: [x5c(pki.selfSigned.cert)] }] },
      }),
      client(POST_CLIENT.id, 'client_secret_post', { client_secret: POST_CLIENT.secret }),
    ],
  });
});

afterAll(async () => {
  await provider.stop();
});

function publicJwk(certPem: string): JsonWebKey {
  return new X509Certificate(certPem).publicKey.export({ format: 'jwk' });
}

/** Token sources closed after the test; `source` defaults to the provider's endpoint. */
const sources = tokenSources(() => ({ tokenEndpoint: provider.tokenEndpoint, ca: pki.ca.cert }));
const source = sources.source;

/** The tls_client_auth client with its CA-issued certificate (RFC 8705 section 2.1). */
const tlsClientSource = (): ClientCredentialsTokenSource =>
  source({
    clientId: TLS_CLIENT,
    method: 'tls_client_auth',
    cert: pki.client.cert,
    key: pki.client.key,
  });

afterEach(async () => {
  await sources.closeAll();
});

describe('mutual TLS client authentication', () => {
  it('tls_client_auth: a CA-issued certificate with the registered subject gets a token', async () => {
    const tokens = tlsClientSource();
    const token = await tokens.getAccessToken();
    expect(await provider.introspect(token)).toMatchObject({ active: true, client_id: TLS_CLIENT });
  });

  it('self_signed_tls_client_auth: the registered self-signed certificate gets a token', async () => {
    const tokens = source({
      clientId: SELF_SIGNED_CLIENT,
      method: 'self_signed_tls_client_auth',
      cert: pki.selfSigned.cert,
      key: pki.selfSigned.key,
    });
    const token = await tokens.getAccessToken();
    expect(await provider.introspect(token)).toMatchObject({
      active: true,
      client_id: SELF_SIGNED_CLIENT,
    });
  });

  it('discovers the token endpoint over https, trusting the configured CA', async () => {
    const tokens = sources.exact({
      issuer: provider.issuer,
      clientId: TLS_CLIENT,
      method: 'tls_client_auth',
      cert: pki.client.cert,
      key: pki.client.key,
      ca: pki.ca.cert,
    });
    expect(await provider.introspect(await tokens.getAccessToken())).toMatchObject({
      active: true,
    });
  });

  it('dispatcher() presents the same client certificate on other requests', async () => {
    const tokens = tlsClientSource();
    const token = await tokens.getAccessToken();
    const dispatcher = tokens.dispatcher();
    expect(dispatcher).toBeDefined();
    // Introspection authenticated by tls_client_auth alone: it only works if the
    // dispatcher's connection carries the client certificate.
    const response = await fetchBytes(`${provider.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: TLS_CLIENT, token }).toString(),
      timeoutMs: 5_000,
      maxBytes: 65_536,
      ...(dispatcher === undefined ? {} : { dispatcher }),
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString('utf8'))).toMatchObject({ active: true });
  });

  it('a secret-based client can still trust a private CA (ca only, no certificate)', async () => {
    const tokens = source({
      clientId: POST_CLIENT.id,
      method: 'client_secret_post',
      secret: POST_CLIENT.secret,
    });
    expect(await provider.introspect(await tokens.getAccessToken())).toMatchObject({
      active: true,
    });
  });
});

describe('the provider refuses what it should', () => {
  it('a mutual TLS client without a certificate is refused (invalid_client)', async () => {
    // Our token source cannot be configured without a certificate for these methods
    // (see the last test), so send the RFC 8705 request by hand, with the CA only.
    const agent = new Agent({ connect: { ca: pki.ca.cert } });
    try {
      const response = await fetchBytes(provider.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: TLS_CLIENT,
        }).toString(),
        timeoutMs: 5_000,
        maxBytes: 65_536,
        dispatcher: agent,
      });
      expect(response.status).toBe(401);
      expect(JSON.parse(response.body.toString('utf8'))).toMatchObject({ error: 'invalid_client' });
    } finally {
      await agent.close();
    }
  });

  it.each([
    ['a CA-issued certificate for another subject', 'otherClient'],
    ['a certificate the CA did not issue', 'selfSigned'],
  ] as const)('tls_client_auth with %s: invalid_client', async (_name, which) => {
    const { cert, key } = pki[which];
    const error = await rejection(
      source({ clientId: TLS_CLIENT, method: 'tls_client_auth', cert, key }).getAccessToken(),
    );
    expect(error.code).toBe('GH_OAUTH_TOKEN_FAILED');
    expect(error.oauthError).toBe('invalid_client');
  });

  it('self_signed_tls_client_auth with an unregistered certificate: invalid_client', async () => {
    const { cert, key } = pki.unregisteredSelfSigned;
    const error = await rejection(
      source({
        clientId: SELF_SIGNED_CLIENT,
        method: 'self_signed_tls_client_auth',
        cert,
        key,
      }).getAccessToken(),
    );
    expect(error.oauthError).toBe('invalid_client');
  });

  it('a server certificate from an unknown CA is refused before anything is sent', async () => {
    const before = provider.hits('/token');
    const tokens = sources.exact({
      tokenEndpoint: provider.tokenEndpoint,
      clientId: POST_CLIENT.id,
      method: 'client_secret_post',
      secret: POST_CLIENT.secret,
      // Trusts only the self-signed client certificate: not the server's issuer.
      ca: pki.selfSigned.cert,
    });
    const error = await rejection(tokens.getAccessToken());
    // Node names the TLS verification failure (the server sends its CA along: "in chain").
    expect(error.message).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    expect(provider.hits('/token')).toBe(before);
    expect(everythingShown(error)).not.toContain(POST_CLIENT.secret);
  });

  it('tls_client_auth without a certificate, or with a key that does not match, is a config error', () => {
    // The constructor refuses these: nothing is created, so nothing to close.
    const tlsClient = (certificate: { cert?: string; key?: string }) => () =>
      new ClientCredentialsTokenSource(
        withConfigDefaults({
          tokenEndpoint: provider.tokenEndpoint,
          clientId: TLS_CLIENT,
          method: 'tls_client_auth',
          ...certificate,
        }),
      );
    const missing = thrown(tlsClient({}));
    expect(missing.code).toBe('GH_OAUTH_CONFIG_INVALID');
    expect(missing.message).toMatch(/^cert: is required for tls_client_auth/);
    const mismatch = thrown(tlsClient({ cert: pki.client.cert, key: pki.otherClient.key }));
    expect(mismatch.message).toMatch(/^key: does not match the certificate/);
    expect(mismatch.message).not.toContain('PRIVATE KEY');
  });
});
