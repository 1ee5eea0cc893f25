import type { OutgoingHttpHeaders } from 'node:http';
import { expect, it } from 'vitest';
import { bearer, type ThroughProxy } from './through-proxy.js';
import { createTestIssuer, type TestIssuer } from './token-factory.js';

/**
 * The attacks every proxy in front of Gatehouse must deny before the upstream sees them,
 * as one table: a row is the attack, the columns are what each proxy's client sees. The
 * Envoy bootstraps (e2e/envoy-cases.ts) and the NGINX auth_request config
 * (transport/http/nginx/nginx-auth-request.test.ts) run the rows that have their column.
 */

export type DenyingProxy = 'envoy' | 'nginx';

export interface ProxyDenyCase {
  /** The attack or fault, as the test name. */
  readonly attack: string;
  /** The request-target, byte for byte. */
  readonly target: string;
  /** The request's headers, from the test issuer and a reader's token. */
  readonly headers: (issuer: TestIssuer, reader: string) => Promise<OutgoingHttpHeaders>;
  /** The deny code Gatehouse counts for it. */
  readonly code: string;
  /** The status each proxy's client sees; a proxy without one does not run the row. */
  readonly status: Readonly<Partial<Record<DenyingProxy, 401 | 403>>>;
  /**
   * The WWW-Authenticate the client sees (RFC 6750 §3): `bearer` exactly the bare
   * challenge, `invalid_token` the challenge with error="invalid_token".
   */
  readonly challenge?: 'bearer' | 'invalid_token';
}

const anonymous = (): Promise<OutgoingHttpHeaders> => Promise.resolve({});
const asReader = (_issuer: TestIssuer, reader: string): Promise<OutgoingHttpHeaders> =>
  Promise.resolve(bearer(reader));

export const PROXY_DENY_CASES: readonly ProxyDenyCase[] = [
  {
    attack: 'no token: 401 with WWW-Authenticate: Bearer realm="test"',
    target: '/orders/42',
    headers: anonymous,
    code: 'GH_ERR_NO_CREDENTIAL',
    status: { envoy: 401, nginx: 401 },
    challenge: 'bearer',
  },
  {
    attack: 'forged token (signed by a key the issuer never published): 401 invalid_token',
    target: '/orders/42',
    headers: async () => {
      const forger = await createTestIssuer();
      return bearer(await forger.sign({ sub: 'alice', roles: ['admin'] }));
    },
    code: 'GH_ERR_TOKEN_SIGNATURE',
    status: { envoy: 401 },
    challenge: 'invalid_token',
  },
  {
    attack: 'expired token: 401 with error="invalid_token"',
    target: '/orders/42',
    headers: async (issuer) => {
      const now = Math.floor(Date.now() / 1000);
      return bearer(await issuer.sign({ iat: now - 7200, exp: now - 3600 }));
    },
    code: 'GH_ERR_TOKEN_EXPIRED',
    status: { nginx: 401 },
    challenge: 'invalid_token',
  },
  {
    attack: 'anonymous //admin is /admin: it asks for a token',
    target: '//admin',
    headers: anonymous,
    code: 'GH_ERR_NO_CREDENTIAL',
    status: { envoy: 401 },
  },
  {
    attack: 'a claim with CR LF (header injection) is denied: GH_ERR_CLAIM_NOT_REPRESENTABLE',
    target: '/profile',
    headers: async (issuer) =>
      bearer(await issuer.sign({ email: 'a@example.com\r\nx-admin: true' })),
    code: 'GH_ERR_CLAIM_NOT_REPRESENTABLE',
    status: { nginx: 403 },
  },
  {
    attack: 'a reader on GET /admin is forbidden by the policy',
    target: '/admin',
    headers: asReader,
    code: 'GH_ERR_POLICY_DENIED',
    status: { envoy: 403, nginx: 403 },
  },
  {
    attack: 'double slash: GET //admin is /admin to Gatehouse, so the reader is denied',
    target: '//admin',
    headers: asReader,
    code: 'GH_ERR_POLICY_DENIED',
    status: { envoy: 403, nginx: 403 },
  },
  {
    attack: 'dot segments: /public/../admin is /admin, so the reader is denied',
    target: '/public/../admin',
    headers: asReader,
    code: 'GH_ERR_POLICY_DENIED',
    status: { envoy: 403 },
  },
  {
    // Anonymous would pass /public/{page}; with a reader token, /admin must deny it.
    attack: 'encoded dot segments: /public/%2e%2e/admin is /admin, not the public API',
    target: '/public/%2e%2e/admin',
    headers: asReader,
    code: 'GH_ERR_POLICY_DENIED',
    status: { envoy: 403, nginx: 403 },
  },
  {
    attack:
      'dot segments with a trailing slash: /public/./../admin/ is /admin, the reader is denied',
    target: '/public/./../admin/',
    headers: asReader,
    code: 'GH_ERR_POLICY_DENIED',
    status: { envoy: 403 },
  },
  {
    attack: 'encoded dot segments, anonymous: /public/%2e%2e/admin asks for a token',
    target: '/public/%2e%2e/admin',
    headers: anonymous,
    code: 'GH_ERR_NO_CREDENTIAL',
    status: { nginx: 401 },
  },
  {
    // Envoy answers an encoded slash 400 itself, before asking Gatehouse (envoy-cases.ts).
    attack: 'encoded slash: /public%2Fadmin is a 400 in Gatehouse, a 403 through nginx',
    target: '/public%2Fadmin',
    headers: asReader,
    code: 'GH_ERR_PATH_INVALID',
    status: { nginx: 403 },
  },
  {
    // auth_request sets X-Original-URI from $request_uri; a client's own is overwritten.
    attack: 'spoofed X-Original-URI: the client cannot name the path Gatehouse decides on',
    target: '/admin',
    headers: () =>
      Promise.resolve({ 'x-original-uri': '/public/docs', 'x-original-method': 'GET' }),
    code: 'GH_ERR_NO_CREDENTIAL',
    status: { nginx: 401 },
  },
  {
    attack: 'an unknown API (GET /nowhere) is denied even with a valid token',
    target: '/nowhere',
    headers: asReader,
    code: 'GH_ERR_API_UNKNOWN',
    status: { envoy: 403, nginx: 403 },
  },
];

export interface ProxyDenyContext {
  /** The request through the proxy (throughProxy bound to the proxy and Gatehouse). */
  readonly through: (
    target: string,
    headers: OutgoingHttpHeaders,
    code: string,
  ) => Promise<ThroughProxy>;
  readonly issuer: TestIssuer;
  readonly reader: string;
}

/**
 * One test per row with a `proxy` column: the client sees that status (and the challenge),
 * Gatehouse counted exactly one decision with the row's code, the upstream was never hit.
 * `bodyNamesTheCode`: the proxy passes Gatehouse's JSON deny body through to the client.
 */
export function itDeniesEachAttack(
  proxy: DenyingProxy,
  context: () => ProxyDenyContext,
  options: { readonly bodyNamesTheCode: boolean },
): void {
  for (const { attack, target, headers, code, status, challenge } of PROXY_DENY_CASES) {
    const expected = status[proxy];
    if (expected === undefined) continue;
    // A loop, not it.each: it.each's $attack cuts the name at 40 characters.
    it(attack, async () => {
      const { through, issuer, reader } = context();
      const { res, seen, counted } = await through(target, await headers(issuer, reader), code);
      expect(res.status).toBe(expected);
      if (challenge === 'bearer') {
        expect(res.headers['www-authenticate']).toBe('Bearer realm="test"');
      } else if (challenge === 'invalid_token') {
        expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="test"/);
        expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
      }
      if (options.bodyNamesTheCode) {
        expect(JSON.parse(res.body)).toMatchObject({ error: code });
      }
      expect(counted).toBe(1);
      expect(seen).toBeUndefined();
    });
  }
}
