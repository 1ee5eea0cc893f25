import { CLIENT_ASSERTION_TYPE, signClientAssertion } from './client-assertion.js';
import { basicAuthorization } from './client-secret.js';
import type { Credential } from './options.js';

/** What client authentication adds to one request: headers, form fields, values to redact. */
export interface ClientAuthentication {
  /** Request headers (`authorization` for client_secret_basic), to merge in. */
  readonly headers: Readonly<Record<string, string>>;
  /** application/x-www-form-urlencoded body fields, to append to the request's own. */
  readonly form: Readonly<Record<string, string>>;
  /**
   * The secret and the signed assertion, when this request carries them: to scrub from
   * anything the server sends back before it goes into an error.
   */
  readonly secrets: readonly string[];
}

export interface ClientAuthenticationParams {
  readonly clientId: string;
  /** As settled by `resolveOptions`. */
  readonly credential: Credential;
  /** A client assertion's `aud` (RFC 7523 section 3, item 3): endpoint URL or issuer. */
  readonly audience: string;
  /** Seconds from a client assertion's `iat` to its `exp`. */
  readonly assertionLifetimeS: number;
  /** The current time, in milliseconds since the epoch. */
  readonly nowMs: number;
}

/**
 * The client-authentication part of a request to any endpoint of the authorization
 * server that takes the token endpoint's methods (introspection, RFC 7662 section 2.1;
 * revocation, RFC 7009 section 2.1), built exactly as ClientCredentialsTokenSource
 * builds it for the token endpoint:
 * - client_secret_basic: `Authorization: Basic`, id and secret form-encoded first
 *   (RFC 6749 section 2.3.1);
 * - client_secret_post: `client_id` and `client_secret` in the body (same section);
 * - client_secret_jwt, private_key_jwt: a fresh single-use assertion per call (RFC 7523
 *   section 2.2), with `client_id` next to it (RFC 7521 section 4.2);
 * - tls_client_auth, self_signed_tls_client_auth: only `client_id`; the certificate
 *   (the caller's TLS dispatcher) authenticates (RFC 8705 section 2).
 */
export async function buildClientAuthentication(
  params: ClientAuthenticationParams,
): Promise<ClientAuthentication> {
  const { clientId, credential } = params;
  switch (credential.kind) {
    case 'basic':
      return {
        headers: { authorization: basicAuthorization(clientId, credential.secret) },
        form: {},
        secrets: [credential.secret],
      };
    case 'post':
      return {
        headers: {},
        form: { client_id: clientId, client_secret: credential.secret },
        secrets: [credential.secret],
      };
    case 'secret-jwt':
    case 'private-key-jwt': {
      const assertionParams = {
        clientId,
        audience: params.audience,
        lifetimeS: params.assertionLifetimeS,
        nowMs: params.nowMs,
      };
      const assertion =
        credential.kind === 'secret-jwt'
          ? await signClientAssertion(assertionParams, {
              kind: 'secret',
              secret: new TextEncoder().encode(credential.secret),
            })
          : await signClientAssertion(assertionParams, {
              kind: 'key',
              key: credential.signingKey,
            });
      return {
        headers: {},
        form: {
          client_id: clientId,
          client_assertion_type: CLIENT_ASSERTION_TYPE,
          client_assertion: assertion,
        },
        secrets: credential.kind === 'secret-jwt' ? [credential.secret, assertion] : [assertion],
      };
    }
    case 'mtls':
      return { headers: {}, form: { client_id: clientId }, secrets: [] };
  }
}
