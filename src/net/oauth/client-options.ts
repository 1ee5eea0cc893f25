import { isVsChars } from './client-secret.js';
import { checkEndpointUrl } from './endpoint-url.js';
import { configError } from './errors.js';
import {
  isAssertionAlgorithm,
  loadSigningKey,
  type AssertionAlgorithm,
  type PrivateKeyInput,
  type SigningKey,
} from './signing-key.js';
import type { Pem } from './tls-agent.js';

/**
 * Client authentication methods at the token endpoint (the IANA "OAuth Token Endpoint
 * Authentication Methods" names): RFC 6749 section 2.3.1 (secret), RFC 7523 and OIDC Core
 * 1.0 section 9 (signed JWT), RFC 8705 section 2 (TLS client certificate).
 */
export const CLIENT_AUTH_METHODS = [
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
  'private_key_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** What a client assertion's `aud` names (RFC 7523 section 3, item 3). */
export const ASSERTION_AUDIENCES = ['token_endpoint', 'issuer'] as const;
export type AssertionAudience = (typeof ASSERTION_AUDIENCES)[number];

export interface ClientCredentialsOptions {
  /** The token endpoint URL. Set this, or `issuer` to discover it; this wins when both are set. */
  readonly tokenEndpoint?: string | undefined;
  /**
   * The authorization server's issuer identifier. Its
   * `/.well-known/openid-configuration` names the token endpoint, and must name this
   * exact issuer.
   */
  readonly issuer?: string | undefined;
  readonly clientId: string;
  readonly method: ClientAuthMethod;
  /** The client secret: client_secret_basic, client_secret_post, client_secret_jwt only. */
  readonly secret?: string | undefined;
  /** private_key_jwt: the private key (PEM, private JWK or KeyObject). */
  readonly privateKey?: PrivateKeyInput | undefined;
  /** private_key_jwt: RS256, PS256, ES256 or EdDSA; default from the key (see loadSigningKey). */
  readonly algorithm?: AssertionAlgorithm | undefined;
  /** private_key_jwt: the `kid` header; default the JWK's `kid`, else none. */
  readonly keyId?: string | undefined;
  /**
   * The client certificate and its key (PEM). Required for tls_client_auth and
   * self_signed_tls_client_auth; optional with the other methods (certificate-bound
   * tokens, RFC 8705 section 3, and mutual TLS downloads through `dispatcher()`).
   */
  readonly cert?: Pem | undefined;
  readonly key?: Pem | undefined;
  /** Passphrase for an encrypted `key`. */
  readonly passphrase?: string | undefined;
  /** CA certificates (PEM) to trust for the server's TLS certificate, instead of the defaults. */
  readonly ca?: Pem | readonly Pem[] | undefined;
  /** Space-separated scopes to ask for (RFC 6749 section 3.3); default none (the server's default). */
  readonly scope?: string | undefined;
  /** Resource indicators (RFC 8707 section 2): absolute URIs of the APIs the token is for. */
  readonly resource?: string | readonly string[] | undefined;
  /** `audience` parameter, for servers that use it instead of RFC 8707 (Auth0, some Okta set-ups). */
  readonly audience?: string | undefined;
  /**
   * The client assertion's `aud` (client_secret_jwt, private_key_jwt): the token endpoint
   * URL (RFC 7523 section 3, the default) or the issuer identifier (needs `issuer`), which
   * some servers require.
   */
  readonly assertionAudience?: AssertionAudience | undefined;
  /** Lifetime of a client assertion, in seconds; default 60. */
  readonly assertionLifetimeS?: number | undefined;
  /** For the response headers and for the body each, in milliseconds; default 10000. */
  readonly timeoutMs?: number | undefined;
  /**
   * Seconds before `expires_in` runs out at which a new token is fetched; default 30.
   * Never more than half the token's lifetime, so a short-lived token is still reused.
   */
  readonly refreshSkewS?: number | undefined;
  /** Lifetime assumed when the server omits `expires_in`, in seconds; default 300. */
  readonly defaultExpiresInS?: number | undefined;
  /** The largest token or discovery response accepted, in bytes; default 65536. */
  readonly maxResponseBytes?: number | undefined;
}

export const DEFAULTS = {
  assertionAudience: 'token_endpoint',
  assertionLifetimeS: 60,
  timeoutMs: 10_000,
  refreshSkewS: 30,
  defaultExpiresInS: 300,
  maxResponseBytes: 64 * 1024,
} as const;

/** The credential each method uses, settled at construction. */
export type Credential =
  | { readonly kind: 'basic' | 'post'; readonly secret: string }
  | { readonly kind: 'secret-jwt'; readonly secret: string }
  | { readonly kind: 'private-key-jwt'; readonly signingKey: SigningKey }
  | { readonly kind: 'mtls' };

export interface ResolvedOptions {
  readonly tokenEndpoint: string | undefined;
  readonly issuer: string | undefined;
  readonly clientId: string;
  readonly method: ClientAuthMethod;
  readonly credential: Credential;
  readonly tls:
    | {
        readonly cert?: Pem | undefined;
        readonly key?: Pem | undefined;
        readonly passphrase?: string | undefined;
        readonly ca?: Pem | readonly Pem[] | undefined;
      }
    | undefined;
  readonly scope: string | undefined;
  readonly resources: readonly string[];
  readonly audience: string | undefined;
  readonly assertionAudience: AssertionAudience;
  readonly assertionLifetimeS: number;
  readonly timeoutMs: number;
  readonly refreshSkewS: number;
  readonly defaultExpiresInS: number;
  readonly maxResponseBytes: number;
}

/**
 * Validates the options once, naming the option in every message, and never quoting a
 * secret or key. Whatever a method does not use is refused rather than ignored: a secret
 * configured next to a certificate is a mistake worth hearing about at start-up.
 */
export function resolveOptions(options: ClientCredentialsOptions): ResolvedOptions {
  const { method } = options;
  if (!(CLIENT_AUTH_METHODS as readonly string[]).includes(method)) {
    throw configError('method', `must be one of ${CLIENT_AUTH_METHODS.join(', ')}`);
  }
  if (typeof options.clientId !== 'string' || options.clientId === '') {
    throw configError('clientId', 'is required');
  }
  if (!isVsChars(options.clientId)) {
    throw configError('clientId', 'must be printable ASCII (RFC 6749 Appendix A.1)');
  }

  const tokenEndpoint = optionalUrl('tokenEndpoint', options.tokenEndpoint);
  const issuer = optionalUrl('issuer', options.issuer);
  if (tokenEndpoint === undefined && issuer === undefined) {
    throw configError('tokenEndpoint', 'set tokenEndpoint, or issuer to discover it');
  }

  const usesSecret =
    method === 'client_secret_basic' ||
    method === 'client_secret_post' ||
    method === 'client_secret_jwt';
  const usesMtls = method === 'tls_client_auth' || method === 'self_signed_tls_client_auth';
  const usesAssertion = method === 'client_secret_jwt' || method === 'private_key_jwt';
  if (!usesSecret && options.secret !== undefined) {
    throw configError('secret', `is set but ${method} does not use a client secret`);
  }
  if (method !== 'private_key_jwt') {
    for (const name of ['privateKey', 'algorithm', 'keyId'] as const) {
      if (options[name] !== undefined) {
        throw configError(name, `is set but only private_key_jwt uses it (method is ${method})`);
      }
    }
  }
  if (usesMtls && (options.cert === undefined || options.key === undefined)) {
    throw configError(
      options.cert === undefined ? 'cert' : 'key',
      `is required for ${method} (RFC 8705 section 2: the client certificate authenticates the client)`,
    );
  }
  if (!usesAssertion && options.assertionAudience !== undefined) {
    throw configError('assertionAudience', `is set but ${method} sends no client assertion`);
  }

  const credential = resolveCredential(options);
  const assertionAudience = checkAssertionAudience(options.assertionAudience);
  if (assertionAudience === 'issuer' && issuer === undefined) {
    throw configError('assertionAudience', 'is issuer, so issuer must be set');
  }

  const hasTls =
    options.cert !== undefined || options.key !== undefined || options.ca !== undefined;
  return {
    tokenEndpoint,
    issuer,
    clientId: options.clientId,
    method,
    credential,
    tls: hasTls
      ? { cert: options.cert, key: options.key, passphrase: options.passphrase, ca: options.ca }
      : undefined,
    scope: checkScope(options.scope),
    resources: checkResources(options.resource),
    audience: checkNonEmpty('audience', options.audience),
    assertionAudience,
    assertionLifetimeS: positiveInteger(
      'assertionLifetimeS',
      options.assertionLifetimeS,
      DEFAULTS.assertionLifetimeS,
    ),
    timeoutMs: positiveInteger('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs),
    refreshSkewS: nonNegative('refreshSkewS', options.refreshSkewS, DEFAULTS.refreshSkewS),
    defaultExpiresInS: nonNegative(
      'defaultExpiresInS',
      options.defaultExpiresInS,
      DEFAULTS.defaultExpiresInS,
    ),
    maxResponseBytes: positiveInteger(
      'maxResponseBytes',
      options.maxResponseBytes,
      DEFAULTS.maxResponseBytes,
    ),
  };
}

function resolveCredential(options: ClientCredentialsOptions): Credential {
  switch (options.method) {
    case 'client_secret_basic':
    case 'client_secret_post':
    case 'client_secret_jwt': {
      const { secret } = options;
      if (typeof secret !== 'string' || secret === '') {
        throw configError('secret', `is required for ${options.method}`);
      }
      if (!isVsChars(secret)) {
        throw configError('secret', 'must be printable ASCII (RFC 6749 Appendix A.2)');
      }
      if (options.method === 'client_secret_jwt') {
        // RFC 7518 section 3.2: an HS256 key "of the same size as the hash output (256
        // bits) or larger MUST be used".
        if (Buffer.byteLength(secret, 'utf8') < 32) {
          throw configError(
            'secret',
            'must be at least 32 bytes for client_secret_jwt (HS256, RFC 7518 section 3.2)',
          );
        }
        return { kind: 'secret-jwt', secret };
      }
      return { kind: options.method === 'client_secret_basic' ? 'basic' : 'post', secret };
    }
    case 'private_key_jwt': {
      if (options.privateKey === undefined) {
        throw configError('privateKey', 'is required for private_key_jwt');
      }
      if (options.algorithm !== undefined && !isAssertionAlgorithm(options.algorithm)) {
        throw configError('algorithm', 'must be one of RS256, PS256, ES256, EdDSA');
      }
      return {
        kind: 'private-key-jwt',
        signingKey: loadSigningKey(
          options.privateKey,
          options.algorithm,
          checkNonEmpty('keyId', options.keyId),
        ),
      };
    }
    case 'tls_client_auth':
    case 'self_signed_tls_client_auth':
      return { kind: 'mtls' };
  }
}

/** Checked at run time too: options may come from untyped config. */
function checkAssertionAudience(value: unknown): AssertionAudience {
  if (value === undefined) return DEFAULTS.assertionAudience;
  if (value !== 'token_endpoint' && value !== 'issuer') {
    throw configError('assertionAudience', 'must be token_endpoint or issuer');
  }
  return value;
}

function optionalUrl(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const checked = checkEndpointUrl(value);
  if ('reason' in checked) throw configError(name, checked.reason);
  return checked.url;
}

/** RFC 6749 section 3.3: scope = scope-token *( SP scope-token ). */
function checkScope(scope: string | undefined): string | undefined {
  if (scope === undefined) return undefined;
  if (!/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/.test(scope)) {
    throw configError(
      'scope',
      'must be scope tokens separated by single spaces (RFC 6749 section 3.3)',
    );
  }
  return scope;
}

/** RFC 8707 section 2: each resource is an absolute URI without a fragment. */
function checkResources(resource: string | readonly string[] | undefined): readonly string[] {
  if (resource === undefined) return [];
  const list = typeof resource === 'string' ? [resource] : [...resource];
  for (const value of list) {
    const url = URL.parse(value);
    if (url === null || url.hash !== '') {
      throw configError(
        'resource',
        `${JSON.stringify(value)} is not an absolute URI without a fragment (RFC 8707 section 2)`,
      );
    }
  }
  return list;
}

function checkNonEmpty(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && value === '') throw configError(name, 'must not be empty');
  return value;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isSafeInteger(result) || result <= 0) {
    throw configError(name, 'must be a positive integer');
  }
  return result;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isFinite(result) || result < 0) {
    throw configError(name, 'must be a non-negative number');
  }
  return result;
}
