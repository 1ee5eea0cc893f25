import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JSONWebKeySet } from 'jose';

/**
 * A real HTTP key server on 127.0.0.1:0, as an identity provider publishes its keys: the
 * JWKS at /jwks and, for discovery, /.well-known/openid-configuration naming the origin as
 * the issuer. The test chooses what /jwks answers (a key set, or a failure status) at any time.
 */
export interface JwksServer {
  /** http://127.0.0.1:<port>, also the issuer for discovery. */
  readonly origin: string;
  /** origin + /jwks */
  readonly jwksUrl: string;
  /** Serves this document at /jwks from now on (any JSON: the point is to serve bad ones). */
  serve(document: JSONWebKeySet | Record<string, unknown>): void;
  /** Answers /jwks with this status (and no key set) from now on. */
  fail(status: number): void;
  /** Requests to /jwks so far. */
  jwksHits(): number;
  close(): Promise<void>;
}

export async function startJwksServer(initial: JSONWebKeySet): Promise<JwksServer> {
  let answer: { status: number; body: string } = { status: 200, body: JSON.stringify(initial) };
  let hits = 0;
  let origin = '';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/jwks') {
      hits += 1;
      res.writeHead(answer.status, { 'content-type': 'application/jwk-set+json' });
      res.end(answer.body);
      return;
    }
    if (path === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer: origin,
          jwks_uri: `${origin}/jwks`,
          token_endpoint: `${origin}/token`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
        }),
      );
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    jwksUrl: `${origin}/jwks`,
    serve(document) {
      answer = { status: 200, body: JSON.stringify(document) };
    },
    fail(status) {
      answer = { status, body: '{"error":"server_error"}' };
    },
    jwksHits: () => hits,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
