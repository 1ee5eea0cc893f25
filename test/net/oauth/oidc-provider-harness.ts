import { X509Certificate } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { Agent, request } from 'undici';

/*
 * oidc-provider 9 ships no type declarations, and there is no @types package we may add
 * (package.json is not ours to change). An ambient `declare module 'oidc-provider'` would
 * collide with any other suite declaring it, so the module is imported through a
 * non-literal specifier (typed `any` by TypeScript) and immediately narrowed to the few
 * members these tests use, declared here.
 */

/** The part of a Koa context the harness reads (oidc-provider is a Koa app). */
interface ProviderContext {
  readonly method: string;
  readonly path: string;
  /** Koa's `ctx.socket` is `req.socket`: a TLSSocket behind node:https. */
  readonly socket: TLSSocket;
}

type Middleware = (ctx: ProviderContext, next: () => Promise<void>) => Promise<void>;

interface OidcProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  use(middleware: Middleware): void;
}

interface OidcProviderModule {
  readonly default: new (issuer: string, configuration: object) => OidcProvider;
  readonly errors: { readonly InvalidTarget: new (description?: string) => Error };
}

async function loadOidcProvider(): Promise<OidcProviderModule> {
  const specifier: string = 'oidc-provider';
  return (await import(specifier)) as OidcProviderModule;
}

/** Client metadata as oidc-provider takes it (OIDC Dynamic Client Registration names). */
export type ClientMetadata = Readonly<Record<string, unknown>> & { readonly client_id: string };

/** The resource indicator (RFC 8707) for which the provider issues JWT access tokens. */
export const BUNDLES_RESOURCE = 'https://bundles.gatehouse.test/';
export const BUNDLES_SCOPE = 'bundles:read';
/** A client the harness registers for itself, to call the introspection endpoint. */
const INTROSPECTOR = { id: 'introspector', secret: 'introspector-secret-0123456789' };

export interface StartProviderOptions {
  readonly clients: readonly ClientMetadata[];
  /**
   * Seconds a client credentials token lives, per client_id (oidc-provider's
   * `ttl.ClientCredentials`, which may be a function); default 600.
   */
  readonly tokenTtlS?: Readonly<Record<string, number>>;
  /**
   * Serve over node:https, asking for (but not requiring) a client certificate, with
   * oidc-provider's mTLS feature: tls_client_auth and self_signed_tls_client_auth.
   */
  readonly tls?: { readonly key: string; readonly cert: string; readonly ca: string };
}

export interface RunningProvider {
  /** `http(s)://127.0.0.1:PORT`, no trailing slash: discovery must name it exactly. */
  readonly issuer: string;
  readonly tokenEndpoint: string;
  readonly jwksUri: string;
  /** POST /token requests received so far, successful or not. */
  tokenRequests(): number;
  /** RFC 7662 introspection of `token`, by a client registered for that. */
  introspect(token: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * A real oidc-provider on 127.0.0.1, port 0, with the client credentials grant enabled.
 * The issuer must be the URL clients reach, so the server listens first and the provider
 * is created with the port it got.
 */
export async function startProvider(options: StartProviderOptions): Promise<RunningProvider> {
  const { default: Provider, errors } = await loadOidcProvider();

  // The provider is made after listen (it needs the port); requests before that get 503.
  const app: { handler?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const { handler } = app;
    if (handler === undefined) {
      res.statusCode = 503;
      res.end();
      return;
    }
    handler(req, res);
  };
  const server =
    options.tls === undefined
      ? createHttpServer(listener)
      : createHttpsServer(
          {
            key: options.tls.key,
            cert: options.tls.cert,
            ca: options.tls.ca,
            // Ask every client for a certificate but let the handshake succeed without one
            // (or with an untrusted one): the provider decides per client and method, and
            // self_signed_tls_client_auth certificates never chain to a CA.
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

  // The provider's own signing key, for JWT access tokens (RFC 9068).
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingJwk: JWK = { ...(await exportJWK(privateKey)), kid: 'provider-key', use: 'sig' };

  const configuration = {
    clients: [
      ...options.clients,
      {
        client_id: INTROSPECTOR.id,
        client_secret: INTROSPECTOR.secret,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [signingJwk] },
    clientAuthMethods: [
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
      ...(options.tls === undefined ? [] : ['tls_client_auth', 'self_signed_tls_client_auth']),
    ],
    scopes: ['openid', 'offline_access', BUNDLES_SCOPE, 'keys:read'],
    ttl: {
      ClientCredentials(_ctx: unknown, _token: unknown, client: { clientId: string }): number {
        return options.tokenTtlS?.[client.clientId] ?? 600;
      },
    },
    features: {
      // Off by default: the grant has to be switched on.
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      devInteractions: { enabled: false },
      // RFC 8707: a token for BUNDLES_RESOURCE is a JWT (RFC 9068) with that audience;
      // without a resource, client credentials tokens are opaque.
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo(_ctx: unknown, resource: string) {
          if (resource !== BUNDLES_RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: BUNDLES_SCOPE,
            audience: BUNDLES_RESOURCE,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
      ...(options.tls === undefined ? {} : { mTLS: mtlsFeature() }),
    },
  };

  const provider = new Provider(issuer, configuration);
  let tokenRequests = 0;
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path === '/token') tokenRequests++;
    await next();
  });
  app.handler = provider.callback();

  const agent =
    options.tls === undefined ? undefined : new Agent({ connect: { ca: options.tls.ca } });
  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    jwksUri: `${issuer}/jwks`,
    tokenRequests: () => tokenRequests,
    async introspect(token) {
      const credentials = Buffer.from(`${INTROSPECTOR.id}:${INTROSPECTOR.secret}`).toString(
        'base64',
      );
      const response = await request(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${credentials}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token }).toString(),
        ...(agent === undefined ? {} : { dispatcher: agent }),
      });
      const body: unknown = await response.body.json();
      if (response.statusCode !== 200 || typeof body !== 'object' || body === null) {
        throw new Error(`introspection answered ${response.statusCode}: ${JSON.stringify(body)}`);
      }
      return body as Record<string, unknown>;
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
 * oidc-provider's mTLS feature behind node:https (its docs' recipe): the PEM certificate
 * from the TLS socket; "authorized" means it chains to the server's `ca` (node sets
 * `socket.authorized`); tls_client_auth_subject_dn compared as an RFC 4514 string.
 */
function mtlsFeature(): object {
  const peer = (ctx: ProviderContext): X509Certificate | undefined => {
    const raw = ctx.socket.getPeerCertificate().raw as Buffer | undefined;
    return raw === undefined ? undefined : new X509Certificate(raw);
  };
  return {
    enabled: true,
    tlsClientAuth: true,
    selfSignedTlsClientAuth: true,
    getCertificate(ctx: ProviderContext): string | undefined {
      return peer(ctx)?.toString();
    },
    certificateAuthorized(ctx: ProviderContext): boolean {
      return ctx.socket.authorized;
    },
    certificateSubjectMatches(ctx: ProviderContext, property: string, expected: string): boolean {
      if (property !== 'tls_client_auth_subject_dn') {
        throw new Error(`${property} matching is not implemented in the test provider`);
      }
      // X509Certificate.subject lists RDNs one per line in certificate order; RFC 4514
      // writes them most specific first, comma-separated.
      const subject = peer(ctx)?.subject.split('\n').reverse().join(',');
      return subject === expected;
    },
  };
}
