import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  IntrospectionClient,
  OAuthClientAuthenticator,
  type ClientAuthOptions,
} from '../../../src/auth/introspection/introspection-client.js';
import { CLIENT_SUBJECT_DN, createTestPki, type TestPki } from '../../net/oauth/certificates.js';
import {
  APP,
  resourceServerClient,
  startAuthorizationServer,
  type AuthorizationServer,
  type ClientMetadata,
} from '../../helpers/authorization-server.js';

/*
 * RFC 8705 section 2 at the introspection endpoint: the resource server authenticates with
 * its client certificate (tls_client_auth), through the authenticator's TLS dispatcher,
 * against a real oidc-provider behind node:https.
 */

const RS_TLS = 'orders-api-tls';
let pki: TestPki;
/** The resource servers: registered clients that may introspect, and get no tokens. */
const RESOURCE_SERVERS: readonly ClientMetadata[] = [
  // RFC 8705 section 2.1.2: the subject the certificate must carry.
  resourceServerClient(RS_TLS, 'tls_client_auth', {
    tls_client_auth_subject_dn: CLIENT_SUBJECT_DN,
  }),
];

let provider: AuthorizationServer;

beforeAll(async () => {
  pki = await createTestPki();
  provider = await startAuthorizationServer({
    tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert },
    clients: RESOURCE_SERVERS,
    introspectors: RESOURCE_SERVERS.map((c) => c.client_id),
  });
});

afterAll(async () => {
  await provider.stop();
});

const authenticators: OAuthClientAuthenticator[] = [];
afterEach(async () => {
  await Promise.all(authenticators.splice(0).map((a) => a.close()));
});

function client(auth: Partial<ClientAuthOptions>): IntrospectionClient {
  const clientAuth = new OAuthClientAuthenticator({
    clientId: RS_TLS,
    method: 'tls_client_auth',
    ca: pki.ca.cert,
    ...auth,
  });
  authenticators.push(clientAuth);
  return new IntrospectionClient({ endpoint: provider.introspectionEndpoint, clientAuth });
}

describe('tls_client_auth at the introspection endpoint', () => {
  it('the registered certificate authenticates: the token is active', async () => {
    const token = await provider.issueToken();
    const result = await client({ cert: pki.client.cert, key: pki.client.key }).introspect(token);
    expect(result).toMatchObject({ kind: 'active', claims: { client_id: APP.id } });
  });

  it('a certificate for another subject is refused: unavailable, never active', async () => {
    const token = await provider.issueToken();
    const result = await client({
      cert: pki.otherClient.cert,
      key: pki.otherClient.key,
    }).introspect(token);
    expect(result).toMatchObject({ kind: 'unavailable', code: 'GH_INTROSPECTION_HTTP_STATUS' });
    expect(result.kind === 'unavailable' && result.reason).toMatch(/HTTP 401 invalid_client$/);
  });

  it('a server certificate the client does not trust is unavailable', async () => {
    const token = await provider.issueToken();
    const clientAuth = new OAuthClientAuthenticator({
      clientId: RS_TLS,
      method: 'tls_client_auth',
      cert: pki.client.cert,
      key: pki.client.key,
    });
    authenticators.push(clientAuth);
    const result = await new IntrospectionClient({
      endpoint: provider.introspectionEndpoint,
      clientAuth,
    }).introspect(token);
    expect(result).toMatchObject({ kind: 'unavailable', code: 'GH_INTROSPECTION_NETWORK' });
  });
});
