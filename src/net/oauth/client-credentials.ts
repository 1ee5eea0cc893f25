import type { Agent, Dispatcher } from 'undici';
import { fetchBytes, type FetchResult } from '../http-fetch.js';
import { CLIENT_ASSERTION_TYPE, signClientAssertion } from './client-assertion.js';
import { basicAuthorization } from './client-secret.js';
import { discoverTokenEndpoint } from '../oidc-discovery.js';
import { configError, describeFailure, OAuthClientError, redact } from './errors.js';
import {
  resolveOptions,
  type ClientCredentialsOptions,
  type ResolvedOptions,
} from './client-options.js';
import { createTlsAgent } from './tls-agent.js';
import { parseTokenResponse } from './token-response.js';

export type {
  ClientCredentialsOptions,
  ClientAuthMethod,
  AssertionAudience,
} from './client-options.js';
export { CLIENT_AUTH_METHODS } from './client-options.js';
export { OAuthClientError, OAUTH_CLIENT_ERRORS, type OAuthClientErrorCode } from './errors.js';

interface CachedToken {
  readonly accessToken: string;
  /** When the server said the token stops working, in epoch milliseconds. */
  readonly expiresAtMs: number;
  /** When a caller gets a new token instead of this one, in epoch milliseconds. */
  readonly refreshAtMs: number;
}

interface Endpoint {
  readonly url: string;
  /** The issuer, for an assertion whose `aud` is the issuer. */
  readonly issuer: string | undefined;
}

/**
 * Gets access tokens for Gatehouse itself with the OAuth 2.0 client credentials grant
 * (RFC 6749 section 4.4), authenticating with one of the six standard token endpoint
 * methods. Like jose's remote JWKS: no timers and no background work; a token is fetched
 * when a caller needs one, reused until shortly before it expires, and concurrent callers
 * share one request.
 *
 * Secrets, keys and tokens live in private fields (not shown by `util.inspect`, not
 * serialized by JSON.stringify) and are never put into an error message.
 */
export class ClientCredentialsTokenSource {
  readonly #options: ResolvedOptions;
  readonly #agent: Agent | undefined;
  /** Strings to scrub from anything the server sends back into an error. */
  readonly #secrets: readonly string[];
  #endpoint: Endpoint | undefined;
  #cached: CachedToken | undefined;
  #inFlight: Promise<CachedToken> | undefined;
  #closed = false;

  /**
   * Settles the credential up front (the schema has validated the config's fields); throws
   * OAuthClientError GH_OAUTH_CONFIG_INVALID for an unusable secret, key or certificate.
   */
  constructor(options: ClientCredentialsOptions) {
    this.#options = resolveOptions(options);
    const { credential, tls } = this.#options;
    this.#secrets = 'secret' in credential ? [credential.secret] : [];
    this.#agent = tls === undefined ? undefined : createTlsAgent(tls);
  }

  /** The client_id, for logs and status pages. */
  get clientId(): string {
    return this.#options.clientId;
  }

  /**
   * A valid access token: the cached one until `expires_in - refreshSkewS`, else a new one.
   * Rejects with OAuthClientError GH_OAUTH_TOKEN_FAILED, carrying the server's `error` and
   * `error_description` when it sent them.
   */
  async getAccessToken(): Promise<string> {
    if (this.#closed) {
      throw new OAuthClientError('GH_OAUTH_TOKEN_FAILED', 'the token source is closed');
    }
    const cached = this.#cached;
    if (cached !== undefined && Date.now() < cached.refreshAtMs) return cached.accessToken;
    // One request at a time: callers arriving while it runs wait for the same answer,
    // success or failure, instead of each asking the server (and each burning a jti).
    this.#inFlight ??= this.#requestToken().finally(() => {
      this.#inFlight = undefined;
    });
    return (await this.#inFlight).accessToken;
  }

  /** `{ authorization: 'Bearer …' }` (RFC 6750 section 2.1), to spread into request headers. */
  async authorizationHeader(): Promise<Record<string, string>> {
    return { authorization: `Bearer ${await this.getAccessToken()}` };
  }

  /**
   * The undici Agent with the client certificate and/or CA, for other requests to the
   * central server (bundles, JWKS) over the same mutual TLS identity; undefined when no
   * TLS material is configured. Owned by this token source: `close()` closes it.
   */
  dispatcher(): Dispatcher | undefined {
    return this.#agent;
  }

  /**
   * Forgets the cached token, e.g. after a resource server answered 401 invalid_token
   * (revoked early): the next call fetches a new one.
   */
  invalidate(): void {
    this.#cached = undefined;
  }

  /** Drops the token and closes the TLS agent; later calls reject. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#cached = undefined;
    await this.#agent?.close();
  }

  async #requestToken(): Promise<CachedToken> {
    // Lifetimes count from before the request: the server's clock started no earlier.
    const startedAtMs = Date.now();
    const endpoint = await this.#resolveEndpoint();
    const { headers, body, assertion } = await this.#buildRequest(endpoint, startedAtMs);
    const secrets = assertion === undefined ? this.#secrets : [...this.#secrets, assertion];

    let response: FetchResult;
    try {
      response = await fetchBytes(endpoint.url, {
        method: 'POST',
        headers,
        body,
        timeoutMs: this.#options.timeoutMs,
        maxBytes: this.#options.maxResponseBytes,
        ...(this.#agent === undefined ? {} : { dispatcher: this.#agent }),
      });
    } catch (error) {
      throw new OAuthClientError(
        'GH_OAUTH_TOKEN_FAILED',
        `token request to ${endpoint.url} failed: ${redact(describeFailure(error, endpoint.url), secrets)}`,
        {},
        { cause: error },
      );
    }

    const token = parseTokenResponse(response, endpoint.url, secrets);
    const lifetimeMs = (token.expiresInS ?? this.#options.defaultExpiresInS) * 1000;
    // Refresh `refreshSkewS` early so a token never expires between our check and the
    // resource server's, but never spend more than half the lifetime on that margin:
    // with a 20 s token and a 30 s skew, every call would otherwise fetch a new token.
    const marginMs = Math.min(this.#options.refreshSkewS * 1000, lifetimeMs / 2);
    const cached: CachedToken = {
      accessToken: token.accessToken,
      expiresAtMs: startedAtMs + lifetimeMs,
      refreshAtMs: startedAtMs + lifetimeMs - marginMs,
    };
    if (!this.#closed) this.#cached = cached;
    return cached;
  }

  async #resolveEndpoint(): Promise<Endpoint> {
    if (this.#endpoint !== undefined) return this.#endpoint;
    const { tokenEndpoint, issuer, method } = this.#options;
    if (tokenEndpoint !== undefined) {
      this.#endpoint = { url: tokenEndpoint, issuer };
      return this.#endpoint;
    }
    // The schema requires one of the two; this names what a caller in code left out.
    if (issuer === undefined)
      throw configError('tokenEndpoint', 'set tokenEndpoint, or issuer to discover it');
    const metadata = await discoverTokenEndpoint(issuer, {
      timeoutMs: this.#options.timeoutMs,
      maxBytes: this.#options.maxResponseBytes,
      dispatcher: this.#agent,
      mutualTls: this.#options.tls?.cert !== undefined,
    });
    // RFC 8414 section 2: a server that lists its methods does not take others; say so
    // instead of relaying a bare invalid_client.
    if (metadata.authMethods !== undefined && !metadata.authMethods.includes(method)) {
      throw new OAuthClientError(
        'GH_OAUTH_TOKEN_FAILED',
        `${issuer} does not support ${method} (token_endpoint_auth_methods_supported: ${metadata.authMethods.join(', ')})`,
      );
    }
    // Cached only on success: a failed discovery is retried by the next call.
    this.#endpoint = { url: metadata.tokenEndpoint, issuer: metadata.issuer };
    return this.#endpoint;
  }

  async #buildRequest(
    endpoint: Endpoint,
    nowMs: number,
  ): Promise<{ headers: Record<string, string>; body: string; assertion: string | undefined }> {
    const options = this.#options;
    // RFC 6749 section 4.4.2.
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (options.scope !== undefined) form.set('scope', options.scope);
    for (const resource of options.resources) form.append('resource', resource);
    if (options.audience !== undefined) form.set('audience', options.audience);
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };

    let assertion: string | undefined;
    const { credential } = options;
    switch (credential.kind) {
      case 'basic':
        headers.authorization = basicAuthorization(options.clientId, credential.secret);
        break;
      case 'post':
        // RFC 6749 section 2.3.1: allowed, though "NOT RECOMMENDED" next to Basic.
        form.set('client_id', options.clientId);
        form.set('client_secret', credential.secret);
        break;
      case 'secret-jwt':
      case 'private-key-jwt': {
        const audience =
          options.assertionAudience === 'issuer' && endpoint.issuer !== undefined
            ? endpoint.issuer
            : endpoint.url;
        const params = {
          clientId: options.clientId,
          audience,
          lifetimeS: options.assertionLifetimeS,
          nowMs,
        };
        assertion =
          credential.kind === 'secret-jwt'
            ? await signClientAssertion(params, {
                kind: 'secret',
                secret: new TextEncoder().encode(credential.secret),
              })
            : await signClientAssertion(params, { kind: 'key', key: credential.signingKey });
        // RFC 7521 section 4.2: client_id is optional next to an assertion; sending it
        // lets the server find the client before parsing the JWT.
        form.set('client_id', options.clientId);
        form.set('client_assertion_type', CLIENT_ASSERTION_TYPE);
        form.set('client_assertion', assertion);
        break;
      }
      case 'mtls':
        // RFC 8705 section 2: the certificate authenticates; client_id says who claims it.
        form.set('client_id', options.clientId);
        break;
    }
    return { headers, body: form.toString(), assertion };
  }
}
