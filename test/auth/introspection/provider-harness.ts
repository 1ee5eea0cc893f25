import { X509Certificate } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';

/*
 * A real oidc-provider 9 (OpenID Certified) for the introspection tests: the client
 * credentials grant issues opaque access tokens (its default format, with resource
 * indicators off), `features.introspection` serves RFC 7662 at /token/introspection and
 * `features.revocation` serves RFC 7009 at /token/revocation.
 *
 * oidc-provider ships no type declarations; as in test/sync/oauth/oidc-provider-harness.ts
 * it is imported through a non-literal specifier and narrowed at once to the members used.
 */

interface ProviderContext {
  readonly method: string;
  readonly path: string;
  readonly socket: TLSSocket;
  readonly headers: IncomingHttpHeaders;
}

type Middleware = (ctx: ProviderContext, next: () => Promise<void>) => Promise<void>;

interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  use(middleware: Middleware): void;
}

interface OidcProviderModule {
  readonly default: new (issuer: string, configuration: object) => OidcProvider;
}

async function loadOidcProvider(): Promise<OidcProviderModule> {
  const specifier: string = 'oidc-provider';
  return (await import(specifier)) as OidcProviderModule;
}

/** Client metadata as oidc-provider takes it (OIDC Dynamic Client Registration names). */
export type ClientMetadata = Readonly<Record<string, unknown>> & { readonly client_id: string };

export const SCOPES = ['orders:read', 'orders:write'] as const;

/** The client that gets tokens (an application calling the API). */
export const APP = { id: 'orders-app', secret: 'orders-app-secret-0123456789' } as const;

/** A resource server's client registration: it introspects, it gets no tokens. */
export function resourceServer(
  id: string,
  method: string,
  extra: Record<string, unknown> = {},
): ClientMetadata {
  return {
    client_id: id,
    grant_types: [],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: method,
    ...extra,
  };
}

export interface StartOptions {
  /** Resource servers allowed to introspect (features.introspection.allowedPolicy). */
  readonly resourceServers: readonly ClientMetadata[];
  /** Serve over node:https with oidc-provider's mTLS feature (RFC 8705 client auth). */
  readonly tls?: { readonly key: string; readonly cert: string; readonly ca: string };
}

export interface RunningProvider {
  readonly issuer: string;
  readonly introspectionEndpoint: string;
  /** Requests received for a path ("/token/introspection"), whatever came of them. */
  hits(path: string): number;
  /** Headers of the last request to a path. */
  lastHeaders(path: string): IncomingHttpHeaders | undefined;
  /** An opaque access token for APP (client credentials grant, RFC 6749 section 4.4). */
  issueToken(scope?: string): Promise<string>;
  /** Revokes `token` as APP, its owner (RFC 7009 section 2.1). */
  revoke(token: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startProvider(options: StartOptions): Promise<RunningProvider> {
  const { default: Provider } = await loadOidcProvider();

  const app: { handler?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (app.handler === undefined) {
      res.statusCode = 503;
      res.end();
      return;
    }
    app.handler(req, res);
  };
  const server =
    options.tls === undefined
      ? createHttpServer(listener)
      : createHttpsServer(
          {
            key: options.tls.key,
            cert: options.tls.cert,
            ca: options.tls.ca,
            // Ask for a certificate, let the provider decide per client and method.
            requestCert: true,
            rejectUnauthorized: false,
          },
          listener,
        );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  const introspectors = new Set(options.resourceServers.map((c) => c.client_id));

  const configuration = {
    clients: [
      {
        client_id: APP.id,
        client_secret: APP.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: SCOPES.join(' '),
      },
      ...options.resourceServers,
    ],
    clientAuthMethods: [
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
      ...(options.tls === undefined ? [] : ['tls_client_auth']),
    ],
    scopes: [...SCOPES],
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // Only the registered resource servers learn what a token is worth.
        allowedPolicy: (_ctx: unknown, client: { clientId: string }) =>
          introspectors.has(client.clientId),
      },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) =>
          client.clientId === token.clientId,
      },
      ...(options.tls === undefined ? {} : { mTLS: mtlsFeature() }),
    },
  };

  const provider = new Provider(issuer, configuration);
  const hits = new Map<string, number>();
  const headers = new Map<string, IncomingHttpHeaders>();
  provider.use(async (ctx, next) => {
    hits.set(ctx.path, (hits.get(ctx.path) ?? 0) + 1);
    headers.set(ctx.path, ctx.headers);
    await next();
  });
  app.handler = provider.callback();

  const agent =
    options.tls === undefined ? undefined : new Agent({ connect: { ca: options.tls.ca } });
  const post = async (path: string, form: Record<string, string>) => {
    const response = await request(`${issuer}${path}`, {
      method: 'POST',
      headers: {
        // RFC 6749 section 2.3.1 (the id and secret need no form-encoding).
        authorization: `Basic ${Buffer.from(`${APP.id}:${APP.secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(form).toString(),
      ...(agent === undefined ? {} : { dispatcher: agent }),
    });
    return { status: response.statusCode, text: await response.body.text() };
  };

  return {
    issuer,
    introspectionEndpoint: `${issuer}/token/introspection`,
    hits: (path) => hits.get(path) ?? 0,
    lastHeaders: (path) => headers.get(path),
    async issueToken(scope = 'orders:read') {
      const { status, text } = await post('/token', { grant_type: 'client_credentials', scope });
      const body = JSON.parse(text) as { access_token?: unknown };
      if (status !== 200 || typeof body.access_token !== 'string') {
        throw new Error(`the token endpoint answered ${status}: ${text}`);
      }
      return body.access_token;
    },
    async revoke(token) {
      const { status, text } = await post('/token/revocation', {
        token,
        token_type_hint: 'access_token',
      });
      if (status !== 200) throw new Error(`the revocation endpoint answered ${status}: ${text}`);
    },
    async stop() {
      await agent?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/**
 * oidc-provider's mTLS feature behind node:https: the certificate from the TLS socket,
 * "authorized" when it chains to the server's `ca`, and the registered
 * tls_client_auth_subject_dn compared as an RFC 4514 string.
 */
function mtlsFeature(): object {
  const peer = (ctx: ProviderContext): X509Certificate | undefined => {
    const raw = ctx.socket.getPeerCertificate().raw as Buffer | undefined;
    return raw === undefined ? undefined : new X509Certificate(raw);
  };
  return {
    enabled: true,
    tlsClientAuth: true,
    getCertificate: (ctx: ProviderContext): string | undefined => peer(ctx)?.toString(),
    certificateAuthorized: (ctx: ProviderContext): boolean => ctx.socket.authorized,
    certificateSubjectMatches(ctx: ProviderContext, property: string, expected: string): boolean {
      if (property !== 'tls_client_auth_subject_dn') return false;
      return peer(ctx)?.subject.split('\n').reverse().join(',') === expected;
    },
  };
}
