import type { CentralServerConfig } from '../../config/schema.js';
import { isVsChars } from './client-secret.js';
import { configError } from './errors.js';
import { loadSigningKey, type PrivateKeyInput, type SigningKey } from './signing-key.js';
import type { TlsMaterial } from './tls-agent.js';

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

/** The methods that send the client secret, or a JWT signed with it (RFC 6749 2.3.1, RFC 7523). */
export const USES_CLIENT_SECRET: ReadonlySet<ClientAuthMethod> = new Set([
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
]);

/** The methods that send a client assertion (RFC 7523 section 2.2). */
export const SENDS_CLIENT_ASSERTION: ReadonlySet<ClientAuthMethod> = new Set([
  'client_secret_jwt',
  'private_key_jwt',
]);

/** What a client assertion's `aud` names (RFC 7523 section 3, item 3). */
export const ASSERTION_AUDIENCES = ['token_endpoint', 'issuer'] as const;
export type AssertionAudience = (typeof ASSERTION_AUDIENCES)[number];

/**
 * The credential material a method uses, as read from what the config points to (the
 * `*Env` and `*File` fields, read-client-config.ts). The schema has checked which of them a
 * method needs and which it must not have; what is checked here is the material itself.
 */
export interface ClientCredentialMaterial extends TlsMaterial {
  /** The client secret: client_secret_basic, client_secret_post, client_secret_jwt only. */
  readonly secret?: string | undefined;
  /** private_key_jwt: the private key (PEM, private JWK or KeyObject). */
  readonly privateKey?: PrivateKeyInput | undefined;
  /** private_key_jwt: default from the key (see loadSigningKey). */
  readonly algorithm?: CentralServerConfig['privateKeyAlgorithm'];
  /** private_key_jwt: the `kid` header; default the JWK's `kid`, else none. */
  readonly keyId?: CentralServerConfig['privateKeyId'];
}

/**
 * A token source's options: the config's own fields, validated (and defaulted) by the
 * schema, as they are; the credential material; and three knobs the config does not expose.
 */
export interface ClientCredentialsOptions
  extends
    Pick<
      CentralServerConfig,
      | 'tokenEndpoint'
      | 'issuer'
      | 'clientId'
      | 'method'
      | 'scope'
      | 'resource'
      | 'audience'
      | 'assertionAudience'
      | 'refreshSkewS'
    >,
    ClientCredentialMaterial {
  /** For the response headers and for the body each, in milliseconds (requestTimeoutMs). */
  readonly timeoutMs: CentralServerConfig['requestTimeoutMs'];
  /** Lifetime of a client assertion, in seconds; default 60. */
  readonly assertionLifetimeS?: number | undefined;
  /** Lifetime assumed when the server omits `expires_in`, in seconds; default 300. */
  readonly defaultExpiresInS?: number | undefined;
  /** The largest token or discovery response accepted, in bytes; default 65536. */
  readonly maxResponseBytes?: number | undefined;
}

/** Defaults of what the config does not set (the config's own defaults are the schema's). */
export const DEFAULTS = {
  assertionAudience: 'token_endpoint',
  assertionLifetimeS: 60,
  defaultExpiresInS: 300,
  maxResponseBytes: 64 * 1024,
} as const;

/** The credential each method uses, settled at construction. */
export type Credential =
  | { readonly kind: 'basic' | 'post'; readonly secret: string }
  | { readonly kind: 'secret-jwt'; readonly secret: string }
  | { readonly kind: 'private-key-jwt'; readonly signingKey: SigningKey }
  | { readonly kind: 'mtls' };

/** What authenticating as the client takes, settled once (the token source, introspection). */
export interface ResolvedClientAuthentication {
  readonly credential: Credential;
  readonly tls: TlsMaterial | undefined;
  readonly assertionLifetimeS: number;
}

export interface ResolvedOptions extends ResolvedClientAuthentication {
  readonly tokenEndpoint: string | undefined;
  readonly issuer: string | undefined;
  readonly clientId: string;
  readonly method: ClientAuthMethod;
  readonly scope: string | undefined;
  readonly resources: readonly string[];
  readonly audience: string | undefined;
  readonly assertionAudience: AssertionAudience;
  readonly timeoutMs: number;
  readonly refreshSkewS: number;
  readonly defaultExpiresInS: number;
  readonly maxResponseBytes: number;
}

/** Settles the credential and the defaults; the config's values come validated by the schema. */
export function resolveOptions(options: ClientCredentialsOptions): ResolvedOptions {
  const { resource } = options;
  return {
    ...resolveClientAuthentication(options),
    tokenEndpoint: options.tokenEndpoint,
    issuer: options.issuer,
    clientId: options.clientId,
    method: options.method,
    scope: options.scope,
    resources: resource === undefined ? [] : typeof resource === 'string' ? [resource] : resource,
    audience: options.audience,
    assertionAudience: options.assertionAudience ?? DEFAULTS.assertionAudience,
    timeoutMs: options.timeoutMs,
    refreshSkewS: options.refreshSkewS,
    defaultExpiresInS: options.defaultExpiresInS ?? DEFAULTS.defaultExpiresInS,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULTS.maxResponseBytes,
  };
}

/**
 * The credential of `method` and the TLS material, checked once, naming the option and
 * never quoting a secret or key: the secret and key come from the environment and files,
 * which the schema cannot see.
 */
export function resolveClientAuthentication(
  options: ClientCredentialMaterial & {
    readonly method: ClientAuthMethod;
    readonly assertionLifetimeS?: number | undefined;
  },
): ResolvedClientAuthentication {
  const hasTls =
    options.cert !== undefined || options.key !== undefined || options.ca !== undefined;
  return {
    credential: resolveCredential(options),
    tls: hasTls
      ? { cert: options.cert, key: options.key, passphrase: options.passphrase, ca: options.ca }
      : undefined,
    assertionLifetimeS: options.assertionLifetimeS ?? DEFAULTS.assertionLifetimeS,
  };
}

function resolveCredential(
  options: ClientCredentialMaterial & { readonly method: ClientAuthMethod },
): Credential {
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
      return {
        kind: 'private-key-jwt',
        signingKey: loadSigningKey(options.privateKey, options.algorithm, options.keyId),
      };
    }
    case 'tls_client_auth':
    case 'self_signed_tls_client_auth':
      if (options.cert === undefined || options.key === undefined) {
        throw configError(
          options.cert === undefined ? 'cert' : 'key',
          `is required for ${options.method} (RFC 8705 section 2: the client certificate authenticates the client)`,
        );
      }
      return { kind: 'mtls' };
  }
}
