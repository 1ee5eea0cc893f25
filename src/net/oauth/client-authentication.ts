import type { Agent, Dispatcher } from 'undici';
import { CLIENT_ASSERTION_TYPE, signClientAssertion } from './client-assertion.js';
import { basicAuthorization } from './client-secret.js';
import { configError } from './errors.js';
import {
  resolveClientAuthentication,
  type ClientCredentialsOptions,
  type Credential,
} from './client-options.js';
import { createTlsAgent } from './tls-agent.js';

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
  /** As settled by `resolveClientAuthentication`. */
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

/**
 * Authenticates Gatehouse to an authorization server endpoint other than the token
 * endpoint. RFC 7662 section 2.1: the introspection endpoint "MUST" require some form of
 * authorization; in practice the resource server authenticates as an OAuth client with
 * one of the token endpoint methods (section 2.1 names client credentials as one way).
 */
export interface ClientAuthenticator {
  /**
   * Headers and form fields that authenticate one request to `endpoint` (a signed
   * assertion is made fresh for every call: its `jti` is single-use), and the values to
   * redact from anything the server answers.
   */
  authenticate(endpoint: string, nowMs: number): Promise<ClientAuthentication>;
  /**
   * The undici dispatcher to send the request with: an Agent presenting the client
   * certificate for tls_client_auth / self_signed_tls_client_auth (RFC 8705 section 2),
   * or trusting a private CA; undefined for undici's default.
   */
  dispatcher(): Dispatcher | undefined;
}

/**
 * The authentication part of ClientCredentialsOptions (same names, same meaning, same
 * checks of the material), for a client such as a resource server calling the introspection endpoint.
 */
export interface ClientAuthOptions extends Pick<
  ClientCredentialsOptions,
  | 'clientId'
  | 'method'
  | 'secret'
  | 'privateKey'
  | 'algorithm'
  | 'keyId'
  | 'cert'
  | 'key'
  | 'passphrase'
  | 'ca'
  | 'assertionLifetimeS'
> {
  /**
   * client_secret_jwt, private_key_jwt: the assertion's `aud`, exactly; default the URL
   * of the endpoint being called. RFC 7523 section 3, item 3 lets the authorization server
   * choose what identifies it; some want their issuer identifier.
   */
  readonly assertionAudience?: string | undefined;
}

/**
 * A ClientAuthenticator configured like ClientCredentialsTokenSource: the credential is
 * settled once, here (OAuthClientError GH_OAUTH_CONFIG_INVALID naming the option), and
 * requests are authenticated exactly as that token source authenticates its own (see
 * buildClientAuthentication). The secret and keys live in private fields.
 *
 * Owns its TLS agent: call `close()` when done (an IntrospectionClient using it does not).
 */
export class OAuthClientAuthenticator implements ClientAuthenticator {
  readonly #clientId: string;
  readonly #credential: Credential;
  readonly #assertionLifetimeS: number;
  readonly #assertionAudience: string | undefined;
  readonly #agent: Agent | undefined;

  constructor(options: ClientAuthOptions) {
    const resolved = resolveClientAuthentication(options);
    const { assertionAudience } = options;
    if (assertionAudience !== undefined) {
      if (
        resolved.credential.kind !== 'secret-jwt' &&
        resolved.credential.kind !== 'private-key-jwt'
      ) {
        throw configError(
          'assertionAudience',
          `is set but ${options.method} sends no client assertion`,
        );
      }
      if (typeof assertionAudience !== 'string' || assertionAudience === '') {
        throw configError('assertionAudience', 'must be a non-empty string');
      }
    }
    this.#clientId = options.clientId;
    this.#credential = resolved.credential;
    this.#assertionLifetimeS = resolved.assertionLifetimeS;
    this.#assertionAudience = assertionAudience;
    this.#agent = resolved.tls === undefined ? undefined : createTlsAgent(resolved.tls);
  }

  /** The client_id, for logs and status pages. */
  get clientId(): string {
    return this.#clientId;
  }

  authenticate(endpoint: string, nowMs: number): Promise<ClientAuthentication> {
    return buildClientAuthentication({
      clientId: this.#clientId,
      credential: this.#credential,
      audience: this.#assertionAudience ?? endpoint,
      assertionLifetimeS: this.#assertionLifetimeS,
      nowMs,
    });
  }

  dispatcher(): Dispatcher | undefined {
    return this.#agent;
  }

  /** Closes the TLS agent, if any. */
  async close(): Promise<void> {
    await this.#agent?.close();
  }
}
