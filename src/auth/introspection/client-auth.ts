import type { Agent, Dispatcher } from 'undici';
import {
  buildClientAuthentication,
  type ClientAuthentication,
} from '../../net/oauth/client-authentication.js';
import { configError } from '../../net/oauth/errors.js';
import {
  resolveOptions,
  type ClientCredentialsOptions,
  type Credential,
} from '../../net/oauth/options.js';
import { createTlsAgent } from '../../net/oauth/tls-agent.js';

export type { ClientAuthentication } from '../../net/oauth/client-authentication.js';

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
 * validation), for a client such as a resource server calling the introspection endpoint.
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
 * resolveOptions validates a whole token source, whose token endpoint or issuer is
 * required. Neither is part of client authentication (the endpoint is given per call), so
 * this stands in for them; it is never contacted and never ends up in an assertion.
 */
const UNUSED_TOKEN_ENDPOINT = 'http://127.0.0.1/unused-token-endpoint';

/**
 * A ClientAuthenticator configured like ClientCredentialsTokenSource: the options are
 * checked once, here (OAuthClientError GH_OAUTH_CONFIG_INVALID naming the option), and
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
    const resolved = resolveOptions({
      tokenEndpoint: UNUSED_TOKEN_ENDPOINT,
      clientId: options.clientId,
      method: options.method,
      secret: options.secret,
      privateKey: options.privateKey,
      algorithm: options.algorithm,
      keyId: options.keyId,
      cert: options.cert,
      key: options.key,
      passphrase: options.passphrase,
      ca: options.ca,
      assertionLifetimeS: options.assertionLifetimeS,
    });
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
    this.#clientId = resolved.clientId;
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
