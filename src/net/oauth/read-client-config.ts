import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JsonWebKey } from 'node:crypto';
import { ClientCredentialsTokenSource } from './client-credentials.js';
import { configError } from './errors.js';
import type { CentralServerConfig } from '../../config/schema.js';
import type { ClientCredentialsOptions } from './client-options.js';
import type { PrivateKeyInput } from './signing-key.js';

export interface OAuthConfigContext {
  /** Where `*Env` names are looked up. */
  readonly env: NodeJS.ProcessEnv;
  /** Relative `*File` paths are resolved against it (the config file's directory). */
  readonly baseDir?: string | undefined;
}

/**
 * Reads the secrets and files `config` (validated by the schema; secrets by reference, an
 * environment variable or a file, never inline) points to and returns the token source
 * options.
 * Throws OAuthClientError GH_OAUTH_CONFIG_INVALID naming the config field; messages name
 * variables and paths, never their contents.
 */
export async function clientCredentialsOptionsFromConfig(
  config: CentralServerConfig,
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
  const {
    clientSecretEnv,
    privateKeyFile,
    privateKeyAlgorithm,
    privateKeyId,
    certFile: _certFile,
    keyFile: _keyFile,
    caFile: _caFile,
    keyPassphraseEnv,
    requestTimeoutMs,
    ...unchanged
  } = config;
  return {
    ...unchanged,
    secret: fromEnv('clientSecretEnv', clientSecretEnv, context.env),
    privateKey:
      privateKey === undefined ? undefined : parsePrivateKeyFile(privateKey, privateKeyFile ?? ''),
    algorithm: privateKeyAlgorithm,
    keyId: privateKeyId,
    cert,
    key,
    passphrase: fromEnv('keyPassphraseEnv', keyPassphraseEnv, context.env),
    ca,
    timeoutMs: requestTimeoutMs,
  };
}

/** The token source for `config`, ready to use (validated; nothing fetched yet). */
export async function createClientCredentialsTokenSource(
  config: CentralServerConfig,
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
