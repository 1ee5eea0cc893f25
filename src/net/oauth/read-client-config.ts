import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JsonWebKey } from 'node:crypto';
import { ClientCredentialsTokenSource } from './client-credentials.js';
import { configError } from './errors.js';
import type {
  AssertionAudience,
  ClientAuthMethod,
  ClientCredentialsOptions,
} from './client-options.js';
import type { AssertionAlgorithm, PrivateKeyInput } from './signing-key.js';

/**
 * How Gatehouse authenticates to the central authorization server, as written in the
 * config file: secrets by reference (an environment variable or a file), never inline.
 * Every field is `T | undefined` so a zod-parsed object fits as it is.
 */
export interface OAuthClientConfig {
  /** The issuer; the token endpoint is discovered from its openid-configuration. */
  readonly issuer?: string | undefined;
  /** The token endpoint, when not discovered (wins over discovery when both are set). */
  readonly tokenEndpoint?: string | undefined;
  readonly clientId: string;
  readonly method: ClientAuthMethod;
  /** Environment variable holding the client secret (client_secret_basic/_post/_jwt). */
  readonly clientSecretEnv?: string | undefined;
  /** private_key_jwt: the private key, PEM (PKCS#8, PKCS#1 or SEC1) or a JSON private JWK. */
  readonly privateKeyFile?: string | undefined;
  /** private_key_jwt: RS256, PS256, ES256 or EdDSA; default from the key. */
  readonly privateKeyAlgorithm?: AssertionAlgorithm | undefined;
  /** private_key_jwt: the `kid` header; default the JWK's `kid`, else none. */
  readonly privateKeyId?: string | undefined;
  /** Client certificate (PEM): required for the two mTLS methods, optional otherwise. */
  readonly certFile?: string | undefined;
  /** The client certificate's private key (PEM). */
  readonly keyFile?: string | undefined;
  /** Environment variable holding the passphrase of an encrypted `keyFile`. */
  readonly keyPassphraseEnv?: string | undefined;
  /** CA bundle (PEM) to trust for the central server's TLS certificate. */
  readonly caFile?: string | undefined;
  readonly scope?: string | undefined;
  /** RFC 8707 resource indicator(s). */
  readonly resource?: string | readonly string[] | undefined;
  /** Non-standard `audience` parameter (Auth0 and similar). */
  readonly audience?: string | undefined;
  /** A client assertion's `aud`: `token_endpoint` (default) or `issuer`. */
  readonly assertionAudience?: AssertionAudience | undefined;
  /** Per request phase (headers, body), in milliseconds; default 10000. */
  readonly requestTimeoutMs?: number | undefined;
  /** Seconds before expiry at which the token is renewed; default 30. */
  readonly refreshSkewS?: number | undefined;
}

export interface OAuthConfigContext {
  /** Where `*Env` names are looked up. */
  readonly env: NodeJS.ProcessEnv;
  /** Relative `*File` paths are resolved against it (the config file's directory). */
  readonly baseDir?: string | undefined;
}

/**
 * Reads the secrets and files `config` points to and returns the token source options.
 * Throws OAuthClientError GH_OAUTH_CONFIG_INVALID naming the config field; messages name
 * variables and paths, never their contents.
 */
export async function clientCredentialsOptionsFromConfig(
  config: OAuthClientConfig,
  context: OAuthConfigContext,
): Promise<ClientCredentialsOptions> {
  const file = (name: string, value: string | undefined): Promise<Buffer | undefined> =>
    value === undefined ? Promise.resolve(undefined) : readConfigFile(name, value, context);

  const [privateKey, cert, key, ca] = await Promise.all([
    file('privateKeyFile', config.privateKeyFile),
    file('certFile', config.certFile),
    file('keyFile', config.keyFile),
    file('caFile', config.caFile),
  ]);
  return {
    tokenEndpoint: config.tokenEndpoint,
    issuer: config.issuer,
    clientId: config.clientId,
    method: config.method,
    secret: fromEnv('clientSecretEnv', config.clientSecretEnv, context.env),
    privateKey:
      privateKey === undefined
        ? undefined
        : parsePrivateKeyFile(privateKey, config.privateKeyFile ?? ''),
    algorithm: config.privateKeyAlgorithm,
    keyId: config.privateKeyId,
    cert,
    key,
    passphrase: fromEnv('keyPassphraseEnv', config.keyPassphraseEnv, context.env),
    ca,
    scope: config.scope,
    resource: config.resource,
    audience: config.audience,
    assertionAudience: config.assertionAudience,
    timeoutMs: config.requestTimeoutMs,
    refreshSkewS: config.refreshSkewS,
  };
}

/** The token source for `config`, ready to use (validated; nothing fetched yet). */
export async function createClientCredentialsTokenSource(
  config: OAuthClientConfig,
  context: OAuthConfigContext,
): Promise<ClientCredentialsTokenSource> {
  return new ClientCredentialsTokenSource(
    await clientCredentialsOptionsFromConfig(config, context),
  );
}

function fromEnv(
  name: string,
  variable: string | undefined,
  env: NodeJS.ProcessEnv,
): string | undefined {
  if (variable === undefined) return undefined;
  const value = env[variable];
  if (value === undefined || value === '') {
    throw configError(name, `environment variable ${variable} is not set or empty`);
  }
  return value;
}

async function readConfigFile(
  name: string,
  file: string,
  context: OAuthConfigContext,
): Promise<Buffer> {
  const resolved = context.baseDir === undefined ? file : path.resolve(context.baseDir, file);
  try {
    return await readFile(resolved);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw configError(
      name,
      `cannot read ${resolved}${typeof code === 'string' ? ` (${code})` : ''}`,
      error,
    );
  }
}

/** A JSON private JWK if the file starts with "{", else PEM text. */
function parsePrivateKeyFile(contents: Buffer, file: string): PrivateKeyInput {
  const text = contents.toString('utf8');
  if (!text.trimStart().startsWith('{')) return text;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // No cause: V8's JSON.parse message quotes the text around the error, i.e. the key.
    throw configError('privateKeyFile', `${file} starts with "{" but is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw configError('privateKeyFile', `${file} is not a JWK (a JSON object)`);
  }
  return value as JsonWebKey;
}
