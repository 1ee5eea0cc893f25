import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';
import type { IssuerKeys } from '../../../src/auth/issuer-keys.js';
import { verifyJwt, type VerifyResult } from '../../../src/auth/jwt-verifier.js';
import type { IssuerConfig } from '../../../src/config/schema.js';
import { parseIssuerConfig } from './issuer-config.js';

/**
 * A real oidc-provider (OpenID Certified) on 127.0.0.1, behind a thin node:http front
 * that counts requests per path, can answer 500 on the JWKS path, and can swap in a new
 * provider instance under the same issuer URL.
 *
 * What oidc-provider needs to issue JWT access tokens for client_credentials:
 * `features.clientCredentials`, and `features.resourceIndicators` whose
 * `getResourceServerInfo` answers `accessTokenFormat: 'jwt'` (the default format is opaque)
 * with an `audience`; `defaultResource` picks the resource when the client names none.
 * Tokens are signed with the first key in `jwks` that fits `jwt.sign.alg`, carry its kid,
 * and have `typ: at+jwt` (RFC 9068).
 */

export const AUDIENCE = 'orders-api';
export const RESOURCE = 'urn:gatehouse:orders';
export const CLIENT_ID = 'gatehouse-tests';
export const CLIENT_SECRET = 'a-test-only-client-secret-of-reasonable-length';

export interface ProviderHarness {
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  /** The issuer the provider advertises (origin + mount path, unless overridden). */
  readonly issuer: string;
  /** Requests seen per path, relative to the mount path (e.g. "/jwks"). */
  hits(path: string): number;
  /** The Authorization header of the last request to `path`. */
  lastAuthorization(path: string): string | undefined;
  /**
   * Replaces the provider with a new instance holding `keys`. oidc-provider reads its
   * keystore once, in the constructor, so this is how a provider rotates: a restart with
   * the new key set, under the same issuer URL.
   */
  use(keys: readonly JWK[]): void;
  /** Answers the JWKS path with this status instead of the provider; undefined restores it. */
  failJwks(status: number | undefined): void;
  /** A JWT access token from the token endpoint (client_credentials grant). */
  issueToken(): Promise<string>;
  close(): Promise<void>;
}

export interface ProviderHarnessOptions {
  readonly keys: readonly JWK[];
  /** Serve the provider under this path: the issuer then has a path component. */
  readonly mountPath?: string;
  /** The issuer the provider is told it is, from the origin (for mismatch tests). */
  readonly advertisedIssuer?: (origin: string) => string;
}

/** A private RS256 signing key for oidc-provider's `jwks`. */
export async function createSigningKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

/** The Gatehouse issuer config for this provider's tokens, found by discovery. */
export function issuerConfig(issuer: string): IssuerConfig {
  return parseIssuerConfig({ issuer, audiences: [AUDIENCE], discovery: true });
}

/** Verifies `token` the way the check path does, with one issuer's current keys. */
export function verifyWith(token: string, keys: IssuerKeys | undefined): Promise<VerifyResult> {
  if (keys === undefined) throw new Error('the source has no keys yet');
  return verifyJwt(token, new Map([[keys.config.issuer, keys]]), {
    issuers: undefined,
    audiences: undefined,
    maxTokenBytes: 8192,
    defaultClockSkewS: 30,
  });
}

export async function startProvider(options: ProviderHarnessOptions): Promise<ProviderHarness> {
  const mountPath = options.mountPath ?? '';
  const hits = new Map<string, number>();
  const authorizations = new Map<string, string | undefined>();
  let jwksStatus: number | undefined;
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (!url.startsWith(mountPath) || handle === undefined) {
      res.statusCode = 404;
      res.end();
      return;
    }
    const path = url.slice(mountPath.length).split('?')[0] || '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    authorizations.set(path, req.headers.authorization);
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
  });
  // Bind first: the issuer URL has to carry the port the provider is reachable on.
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = options.advertisedIssuer?.(origin) ?? `${origin}${mountPath}`;

  const use = (keys: readonly JWK[]): void => {
    handle = new Provider(issuer, providerConfiguration(keys)).callback();
  };
  use(options.keys);

  return {
    origin,
    issuer,
    hits: (path) => hits.get(path) ?? 0,
    lastAuthorization: (path) => authorizations.get(path),
    use,
    failJwks: (status) => {
      jwksStatus = status;
    },
    issueToken: () => issueToken(`${origin}${mountPath}/token`),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function providerConfiguration(keys: readonly JWK[]): Configuration {
  return {
    jwks: { keys },
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
      },
    ],
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'orders:read',
          audience: AUDIENCE,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt' as const,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  };
}

async function issueToken(tokenEndpoint: string): Promise<string> {
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: {
      // RFC 6749 section 2.3.1: client_secret_basic, oidc-provider's default.
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'orders:read' }),
  });
  const body = (await response.json()) as { access_token?: unknown };
  if (response.status !== 200 || typeof body.access_token !== 'string') {
    throw new Error(`token endpoint answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return body.access_token;
}
