import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { exportJWK, generateKeyPair, type JSONWebKeySet, type JWK } from 'jose';
import { Agent, request } from 'undici';

/*
 * A real oidc-provider issuing RFC 8705 certificate-bound JWT access tokens: served by
 * node:https asking for a client certificate, with features.mTLS (tlsClientAuth and
 * certificateBoundAccessTokens), the client credentials grant, and resource indicators
 * (RFC 8707) so the token is a JWT (RFC 9068) rather than opaque.
 *
 * oidc-provider ships no types: it is imported through a non-literal specifier and
 * narrowed to the members used here (as test/sync/oauth/oidc-provider-harness.ts does).
 */

interface ProviderContext {
  readonly socket: TLSSocket;
}

interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}

interface OidcProviderModule {
  readonly default: new (issuer: string, configuration: object) => OidcProvider;
  readonly errors: { readonly InvalidTarget: new (description?: string) => Error };
}

async function loadOidcProvider(): Promise<OidcProviderModule> {
  const specifier: string = 'oidc-provider';
  return (await import(specifier)) as OidcProviderModule;
}

export const RESOURCE = 'https://orders.gatehouse.test/';
export const SCOPE = 'orders:read';

export interface BoundTokenClient {
  readonly clientId: string;
  /** RFC 4514 subject the certificate must carry (tls_client_auth_subject_dn). */
  readonly subjectDn: string;
}

export interface BoundTokenProvider {
  readonly issuer: string;
  /** The provider's public signing keys, fetched over TLS from jwks_uri. */
  jwks(): Promise<JSONWebKeySet>;
  /** A client credentials token for RESOURCE, over mTLS with `cert`/`key`. */
  token(clientId: string, tls: { cert: string; key: string }): Promise<string>;
  stop(): Promise<void>;
}

export async function startBoundTokenProvider(options: {
  readonly tls: { readonly key: string; readonly cert: string; readonly ca: string };
  readonly client: BoundTokenClient;
}): Promise<BoundTokenProvider> {
  const { default: Provider, errors } = await loadOidcProvider();
  const app: { handler?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  const server = createServer(
    {
      key: options.tls.key,
      cert: options.tls.cert,
      ca: options.tls.ca,
      requestCert: true,
      // The provider decides per client; node records whether the chain was trusted.
      rejectUnauthorized: false,
    },
    (req, res) => {
      if (app.handler === undefined) {
        res.statusCode = 503;
        res.end();
        return;
      }
      app.handler(req, res);
    },
  );
  const port = await listen(server);
  const issuer = `https://127.0.0.1:${port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey: JWK = { ...(await exportJWK(privateKey)), kid: 'bound-tokens', use: 'sig' };
  const peer = (ctx: ProviderContext): X509Certificate | undefined => {
    const raw = ctx.socket.getPeerCertificate().raw as Buffer | undefined;
    return raw === undefined ? undefined : new X509Certificate(raw);
  };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: options.client.clientId,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        // RFC 8705 section 2.1: PKI mutual TLS client authentication...
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: options.client.subjectDn,
        // ...and section 3.4: this client's access tokens are bound to its certificate.
        tls_client_certificate_bound_access_tokens: true,
      },
    ],
    jwks: { keys: [signingKey] },
    clientAuthMethods: ['tls_client_auth'],
    scopes: [SCOPE],
    ttl: { ClientCredentials: 600 },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo(_ctx: unknown, resource: string) {
          if (resource !== RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: SCOPE,
            audience: RESOURCE,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        certificateBoundAccessTokens: true,
        getCertificate: (ctx: ProviderContext) => peer(ctx)?.toString(),
        certificateAuthorized: (ctx: ProviderContext) => ctx.socket.authorized,
        certificateSubjectMatches(ctx: ProviderContext, property: string, expected: string) {
          if (property !== 'tls_client_auth_subject_dn') return false;
          // X509Certificate.subject: one RDN per line, certificate order; RFC 4514 reverses.
          return peer(ctx)?.subject.split('\n').reverse().join(',') === expected;
        },
      },
    },
  });
  app.handler = provider.callback();

  const agents: Agent[] = [];
  const agent = (tls: { cert?: string; key?: string }): Agent => {
    const created = new Agent({ connect: { ca: options.tls.ca, ...tls } });
    agents.push(created);
    return created;
  };

  return {
    issuer,
    async jwks() {
      const response = await request(`${issuer}/jwks`, { dispatcher: agent({}) });
      return (await response.body.json()) as JSONWebKeySet;
    },
    async token(clientId, tls) {
      const response = await request(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: clientId,
          resource: RESOURCE,
          scope: SCOPE,
        }).toString(),
        dispatcher: agent(tls),
      });
      const body = (await response.body.json()) as Record<string, unknown>;
      if (response.statusCode !== 200 || typeof body.access_token !== 'string') {
        throw new Error(`token endpoint answered ${response.statusCode}: ${JSON.stringify(body)}`);
      }
      return body.access_token;
    },
    async stop() {
      await Promise.all(agents.map((a) => a.close()));
      await close(server);
    },
  };
}

export async function listen(server: ReturnType<typeof createServer>): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return (server.address() as AddressInfo).port;
}

export async function close(server: ReturnType<typeof createServer>): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}
