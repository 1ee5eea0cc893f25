import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONWebKeySet, JWK } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';
import {
  AUDIENCE,
  CLIENT_ID,
  CLIENT_SECRET,
  createSigningKey,
  RESOURCE,
} from '../../sync/oidc/provider-harness.js';

/**
 * A real oidc-provider on 127.0.0.1 that issues DPoP-bound JWT access tokens for the
 * client_credentials grant (RFC 9449 section 5): the provider-harness setup (JWT access
 * tokens through resourceIndicators) plus `features.dPoP`. When the token request carries
 * a valid DPoP proof, the provider answers `token_type: DPoP` and puts the proof key's
 * thumbprint in the token as `cnf.jkt` (RFC 9449 section 6.1).
 */
export interface DpopProvider {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** The provider's published signing keys. */
  jwks(): Promise<JSONWebKeySet>;
  /** POSTs a client_credentials request, with `dpop` as the DPoP header if given. */
  requestToken(dpop: string | undefined): Promise<TokenResponse>;
  close(): Promise<void>;
}

export interface TokenResponse {
  readonly status: number;
  readonly body: Readonly<Record<string, unknown>>;
}

export async function startDpopProvider(): Promise<DpopProvider> {
  const app: { handle?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  const server: Server = createServer((req, res) => {
    const handle = app.handle;
    if (handle === undefined) {
      res.statusCode = 503;
      res.end();
      return;
    }
    handle(req, res);
  });
  // Bind first: the issuer, and so every htu the provider expects, carries the port.
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  app.handle = new Provider(
    issuer,
    configuration([await createSigningKey('dpop-as-key')]),
  ).callback();
  const tokenEndpoint = `${issuer}/token`;

  return {
    issuer,
    tokenEndpoint,
    jwks: async () => (await (await fetch(`${issuer}/jwks`)).json()) as JSONWebKeySet,
    requestToken: async (dpop) => {
      const response = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          ...(dpop === undefined ? {} : { dpop }),
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'orders:read' }),
      });
      return {
        status: response.status,
        body: (await response.json()) as Record<string, unknown>,
      };
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function configuration(keys: readonly JWK[]): Configuration {
  // The shared oidc-provider.d.ts predates DPoP: `features` is built outside the
  // Configuration literal so its dPoP member is accepted structurally.
  const features = {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // RFC 9449: proofs at the token endpoint, DPoP-bound tokens. No server nonces
    // (requireNonce defaults to false); proofs use the default ES256/EdDSA algorithms.
    dPoP: { enabled: true },
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
  };
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
    features,
  };
}
