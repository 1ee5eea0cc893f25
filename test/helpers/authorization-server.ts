import { X509Certificate } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { exportJWK, generateKeyPair, type JSONWebKeySet, type JWK } from 'jose';
import Provider, {
  errors,
  type ClientMetadata,
  type Configuration,
  type ProviderContext,
} from 'oidc-provider';
import { Agent, request } from 'undici';
import { closeServer, listenOnLoopback } from './listen.js';

/*
 * The one authorization server the suites run against: a real oidc-provider 9 (OpenID
 * Certified) on 127.0.0.1, port 0, behind a thin node:http(s) front that counts requests per
 * path, can answer the JWKS path itself, and can swap in a new provider instance (new keys)
 * under the same issuer URL.
 *
 * Always on: the client credentials grant (RFC 6749 section 4.4) for APP, introspection
 * (RFC 7662) for the harness's own client, revocation (RFC 7009) by a token's owner.
 * Options: JWT access tokens (RFC 9068) per resource indicator (RFC 8707) (without, tokens
 * are opaque), DPoP (RFC 9449), TLS with mutual-TLS client authentication and
 * certificate-bound tokens (RFC 8705), which clients may introspect, token lifetimes, a
 * mount path and an advertised issuer that differs from the URL.
 */

export type { ClientMetadata } from 'oidc-provider';

/** The client that gets tokens (an application calling the API), client_secret_basic. */
export const APP = { id: 'orders-app', secret: 'orders-app-secret-0123456789' } as const;
/** A client the harness registers for itself, to call the introspection endpoint. */
const INTROSPECTOR = { id: 'introspector', secret: 'introspector-secret-0123456789' } as const;

/** The resource indicator and audience of the orders API, for JWT access tokens. */
export const ORDERS_RESOURCE = 'urn:gatehouse:orders';
export const ORDERS_AUDIENCE = 'orders-api';
export const ORDERS_SCOPES = ['orders:read', 'orders:write'] as const;

/** A resource server's registration for RFC 8707: what its tokens are scoped to and name. */
export interface ResourceServer {
  readonly scope: string;
  readonly audience: string;
}

/** JWT access tokens for the orders API, even when the client names no resource. */
export const ORDERS_JWT_ACCESS_TOKENS = {
  resources: { [ORDERS_RESOURCE]: { scope: 'orders:read', audience: ORDERS_AUDIENCE } },
  defaultResource: ORDERS_RESOURCE,
} as const satisfies Pick<AuthorizationServerOptions, 'resources' | 'defaultResource'>;

export interface ServerTls {
  readonly key: string;
  readonly cert: string;
  /** The CA client certificates chain to (tls_client_auth), and that clients trust. */
  readonly ca: string;
}

export interface AuthorizationServerOptions {
  /** Clients registered beside APP and the harness's introspector. */
  readonly clients?: readonly ClientMetadata[];
  /** Private signing keys; default one fresh RS256 key. */
  readonly keys?: readonly JWK[];
  /** Scopes beside ORDERS_SCOPES and the resource servers' scopes. */
  readonly scopes?: readonly string[];
  /**
   * Resource indicators (RFC 8707) whose tokens are JWTs (RFC 9068) signed RS256, with the
   * audience given; another resource is invalid_target. Without: tokens are opaque.
   */
  readonly resources?: Readonly<Record<string, ResourceServer>>;
  /** The resource a token request that names none is for. */
  readonly defaultResource?: string;
  /** Seconds a client credentials token lives, per client_id; default 600. */
  readonly tokenTtlS?: Readonly<Record<string, number>>;
  /** Clients allowed to introspect; default oidc-provider's (any authenticated client). */
  readonly introspectors?: readonly string[];
  /** features.dPoP: DPoP-bound tokens for a token request with a valid proof. */
  readonly dpop?: boolean;
  /**
   * Serve over node:https, asking for (not requiring) a client certificate, with features.mTLS:
   * tls_client_auth, self_signed_tls_client_auth and certificate-bound access tokens for
   * clients registered with tls_client_certificate_bound_access_tokens.
   */
  readonly tls?: ServerTls;
  /** Serve the provider under this path: the issuer then has a path component. */
  readonly mountPath?: string;
  /** The issuer the provider is told it is, from the origin (for mismatch tests). */
  readonly advertisedIssuer?: (origin: string) => string;
}

export interface TokenRequest {
  /**
   * Who asks: with a secret, client_secret_basic; without, client_id in the form (a client
   * authenticated by its TLS certificate). Default APP.
   */
  readonly client?: { readonly id: string; readonly secret?: string };
  /** Default orders:read. */
  readonly scope?: string;
  /** RFC 8707 resource parameter. */
  readonly resource?: string;
  /** RFC 9449 DPoP proof header. */
  readonly dpop?: string;
  /** The client certificate and key for the TLS connection. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

export interface TokenResponse {
  readonly status: number;
  readonly body: Readonly<Record<string, unknown>>;
}

export interface AuthorizationServer {
  /** http(s)://127.0.0.1:PORT */
  readonly origin: string;
  /** The issuer the provider advertises (origin + mount path, unless overridden). */
  readonly issuer: string;
  readonly tokenEndpoint: string;
  readonly jwksUri: string;
  readonly introspectionEndpoint: string;
  /** Requests received per path, relative to the mount path ("/jwks"), whatever came of them. */
  hits(path: string): number;
  /** Headers of the last request to a path. */
  lastHeaders(path: string): IncomingHttpHeaders | undefined;
  /**
   * Replaces the provider with a new instance holding `keys`. oidc-provider reads its keystore
   * once, in the constructor, so this is how a provider rotates: a restart with the new key
   * set, under the same issuer URL.
   */
  use(keys: readonly JWK[]): void;
  /** Answers the JWKS path with this status instead of the provider; undefined restores it. */
  failJwks(status: number | undefined): void;
  /** A client credentials token request, whatever the answer. */
  requestToken(token?: TokenRequest): Promise<TokenResponse>;
  /** The access token of a client credentials request that must succeed. */
  issueToken(token?: TokenRequest): Promise<string>;
  /** RFC 7662 introspection of `token`, by a client registered for that. */
  introspect(token: string): Promise<Record<string, unknown>>;
  /** Revokes `token` as APP, its owner (RFC 7009 section 2.1). */
  revoke(token: string): Promise<void>;
  /** The published signing keys. */
  jwks(): Promise<JSONWebKeySet>;
  stop(): Promise<void>;
}

/** A private RS256 signing key for oidc-provider's `jwks`. */
export async function createSigningKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

/** A registration for a client that gets no tokens itself (a resource server introspecting). */
export function resourceServerClient(
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

/** A registration for a client of the client_credentials grant only (RFC 6749 section 4.4). */
export function clientCredentialsClient(
  id: string,
  method: string,
  extra: Record<string, unknown> = {},
): ClientMetadata {
  return resourceServerClient(id, method, { grant_types: ['client_credentials'], ...extra });
}

export async function startAuthorizationServer(
  options: AuthorizationServerOptions = {},
): Promise<AuthorizationServer> {
  const mountPath = options.mountPath ?? '';
  const hits = new Map<string, number>();
  const headers = new Map<string, IncomingHttpHeaders>();
  let jwksStatus: number | undefined;
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    if (!url.startsWith(mountPath)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    // The provider is made after listen (it needs the port); requests before that get 503.
    if (handle === undefined) {
      res.statusCode = 503;
      res.end();
      return;
    }
    const path = url.slice(mountPath.length).split('?')[0] || '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    headers.set(path, req.headers);
    if (path === '/jwks' && jwksStatus !== undefined) {
      res.statusCode = jwksStatus;
      res.end('{"error":"server_error"}');
      return;
    }
    // How oidc-provider finds its mount point outside a framework (oidc_context.js urlFor):
    // originalUrl keeps the full path, url is relative to the mount.
    Object.assign(req, { originalUrl: url });
    req.url = url.slice(mountPath.length) || '/';
    handle(req, res);
  };
  const { tls } = options;
  const server =
    tls === undefined
      ? createHttpServer(listener)
      : createHttpsServer(
          {
            key: tls.key,
            cert: tls.cert,
            ca: tls.ca,
            // Ask every client for a certificate but let the handshake succeed without one
            // (or with an untrusted one): the provider decides per client and method, and
            // self_signed_tls_client_auth certificates never chain to a CA.
            requestCert: true,
            rejectUnauthorized: false,
          },
          listener,
        );
  // Bind first: the issuer URL (and so every htu and audience) carries the port.
  const port = await listenOnLoopback(server);
  const origin = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  const base = `${origin}${mountPath}`;
  const issuer = options.advertisedIssuer?.(origin) ?? base;

  const use = (keys: readonly JWK[]): void => {
    handle = new Provider(issuer, configuration(options, keys)).callback();
  };
  use(options.keys ?? [await createSigningKey('as-key')]);

  const agents: Agent[] = [];
  const dispatcher = (clientTls?: { cert: string; key: string }) => {
    if (tls === undefined) return {};
    const agent = new Agent({ connect: { ca: tls.ca, ...clientTls } });
    agents.push(agent);
    return { dispatcher: agent };
  };
  const post = async (
    path: string,
    form: Record<string, string>,
    extra: { client?: TokenRequest['client']; dpop?: string; tls?: TokenRequest['tls'] } = {},
  ): Promise<{ status: number; text: string }> => {
    const client = extra.client ?? APP;
    const response = await request(`${base}${path}`, {
      method: 'POST',
      headers: {
        // RFC 6749 section 2.3.1 (these ids and secrets need no form-encoding).
        ...(client.secret === undefined
          ? {}
          : {
              authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
            }),
        'content-type': 'application/x-www-form-urlencoded',
        ...(extra.dpop === undefined ? {} : { dpop: extra.dpop }),
      },
      body: new URLSearchParams({
        ...(client.secret === undefined ? { client_id: client.id } : {}),
        ...form,
      }).toString(),
      ...dispatcher(extra.tls),
    });
    return { status: response.statusCode, text: await response.body.text() };
  };

  const requestToken = async (token: TokenRequest = {}): Promise<TokenResponse> => {
    const { status, text } = await post(
      '/token',
      {
        grant_type: 'client_credentials',
        ...(token.resource === undefined ? {} : { resource: token.resource }),
        scope: token.scope ?? 'orders:read',
      },
      token,
    );
    return { status, body: JSON.parse(text) as Record<string, unknown> };
  };

  return {
    origin,
    issuer,
    tokenEndpoint: `${base}/token`,
    jwksUri: `${base}/jwks`,
    introspectionEndpoint: `${base}/token/introspection`,
    hits: (path) => hits.get(path) ?? 0,
    lastHeaders: (path) => headers.get(path),
    use,
    failJwks: (status) => {
      jwksStatus = status;
    },
    requestToken,
    async issueToken(token) {
      const { status, body } = await requestToken(token);
      if (status !== 200 || typeof body.access_token !== 'string') {
        throw new Error(`the token endpoint answered ${status}: ${JSON.stringify(body)}`);
      }
      return body.access_token;
    },
    async introspect(token) {
      const { status, text } = await post(
        '/token/introspection',
        { token },
        { client: INTROSPECTOR },
      );
      const body: unknown = JSON.parse(text);
      if (status !== 200 || typeof body !== 'object' || body === null) {
        throw new Error(`introspection answered ${status}: ${text}`);
      }
      return body as Record<string, unknown>;
    },
    async revoke(token) {
      const { status, text } = await post('/token/revocation', {
        token,
        token_type_hint: 'access_token',
      });
      if (status !== 200) throw new Error(`the revocation endpoint answered ${status}: ${text}`);
    },
    async jwks() {
      const response = await request(`${base}/jwks`, dispatcher());
      return (await response.body.json()) as JSONWebKeySet;
    },
    async stop() {
      await Promise.all(agents.map((a) => a.close()));
      await closeServer(server);
    },
  };
}

function configuration(options: AuthorizationServerOptions, keys: readonly JWK[]): Configuration {
  const resources = options.resources ?? {};
  const introspectors =
    options.introspectors === undefined
      ? undefined
      : new Set([INTROSPECTOR.id, ...options.introspectors]);
  return {
    jwks: { keys },
    clients: [
      clientCredentialsClient(APP.id, 'client_secret_basic', { client_secret: APP.secret }),
      resourceServerClient(INTROSPECTOR.id, 'client_secret_basic', {
        client_secret: INTROSPECTOR.secret,
      }),
      ...(options.clients ?? []),
    ],
    clientAuthMethods: [
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
      ...(options.tls === undefined ? [] : ['tls_client_auth', 'self_signed_tls_client_auth']),
    ],
    scopes: [
      ...new Set([
        'openid',
        'offline_access',
        ...ORDERS_SCOPES,
        ...(options.scopes ?? []),
        ...Object.values(resources).map((r) => r.scope),
      ]),
    ],
    ttl: {
      ClientCredentials: (_ctx, _token, client) => options.tokenTtlS?.[client.clientId] ?? 600,
    },
    features: {
      devInteractions: { enabled: false },
      // Off by default: the grant has to be switched on.
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        ...(introspectors === undefined
          ? {}
          : { allowedPolicy: (_ctx, client) => introspectors.has(client.clientId) }),
      },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) => client.clientId === token.clientId,
      },
      // RFC 9449: no server nonces (requireNonce defaults to false); ES256/EdDSA proofs.
      ...(options.dpop === true ? { dPoP: { enabled: true } } : {}),
      ...(options.tls === undefined ? {} : { mTLS: mtlsFeature() }),
      // RFC 8707: a token for a registered resource is a JWT (RFC 9068) with its audience;
      // without a resource (and no default), client credentials tokens are opaque.
      ...(options.resources === undefined
        ? {}
        : {
            resourceIndicators: {
              enabled: true,
              ...(options.defaultResource === undefined
                ? {}
                : {
                    defaultResource: () => options.defaultResource,
                    useGrantedResource: () => true,
                  }),
              getResourceServerInfo: (_ctx, resource) => {
                const server = resources[resource];
                if (server === undefined) throw new errors.InvalidTarget();
                return {
                  scope: server.scope,
                  audience: server.audience,
                  accessTokenFormat: 'jwt',
                  jwt: { sign: { alg: 'RS256' } },
                };
              },
            },
          }),
    },
  };
}

/**
 * oidc-provider's mTLS feature behind node:https (its docs' recipe): the PEM certificate from
 * the TLS socket; "authorized" means it chains to the server's `ca` (node sets
 * `socket.authorized`); tls_client_auth_subject_dn compared as an RFC 4514 string.
 */
function mtlsFeature(): NonNullable<NonNullable<Configuration['features']>['mTLS']> {
  const peer = (ctx: ProviderContext): X509Certificate | undefined => {
    const raw = ctx.socket.getPeerCertificate().raw as Buffer | undefined;
    return raw === undefined ? undefined : new X509Certificate(raw);
  };
  return {
    enabled: true,
    tlsClientAuth: true,
    selfSignedTlsClientAuth: true,
    certificateBoundAccessTokens: true,
    getCertificate: (ctx) => peer(ctx)?.toString(),
    certificateAuthorized: (ctx) => ctx.socket.authorized,
    certificateSubjectMatches(ctx, property, expected) {
      if (property !== 'tls_client_auth_subject_dn') return false;
      // X509Certificate.subject lists RDNs one per line in certificate order; RFC 4514
      // writes them most specific first, comma-separated.
      return peer(ctx)?.subject.split('\n').reverse().join(',') === expected;
    },
  };
}
