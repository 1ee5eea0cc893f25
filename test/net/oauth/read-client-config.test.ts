import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { centralServerSchema, type CentralServerConfig } from '../../../src/config/schema.js';
import {
  clientCredentialsOptionsFromConfig,
  createClientCredentialsTokenSource,
} from '../../../src/net/oauth/read-client-config.js';
import { createTestPki, type TestPki } from './certificates.js';
import {
  startAuthorizationServer,
  type AuthorizationServer,
} from '../../helpers/authorization-server.js';
import { BUNDLES_SERVER, everythingShown, rejection } from './helpers.js';

/*
 * From the config file's shape to a working token source: secrets from the environment,
 * keys and certificates from files relative to the config directory.
 */

/** The centralServer section as written, validated and defaulted by the one schema. */
const parsed = (written: z.input<typeof centralServerSchema>): CentralServerConfig =>
  centralServerSchema.parse(written);

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const SECRET = 'config-secret-0123456789abcdef';

let dir: string;
let provider: AuthorizationServer;
let pki: TestPki;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-oauth-config-'));
  pki = await createTestPki();
  await writeFile(
    path.join(dir, 'client-key.jwk.json'),
    JSON.stringify({ ...ec.privateKey.export({ format: 'jwk' }), kid: 'config-key' }),
  );
  await writeFile(
    path.join(dir, 'client-key.pem'),
    ec.privateKey.export({ format: 'pem', type: 'sec1' }),
  );
  await writeFile(path.join(dir, 'client.crt'), pki.client.cert);
  await writeFile(path.join(dir, 'client.key'), pki.client.key);
  await writeFile(path.join(dir, 'ca.crt'), pki.ca.cert);
  await writeFile(path.join(dir, 'broken.json'), '{"kty":"EC","d":"TOP-SECRET-D",');
  const common = { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] };
  provider = await startAuthorizationServer({
    ...BUNDLES_SERVER,
    clients: [
      {
        ...common,
        client_id: 'from-config-basic',
        client_secret: SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        ...common,
        client_id: 'from-config-jwt',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'config-key' }] },
      },
    ],
  });
});

afterAll(async () => {
  await provider.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('createClientCredentialsTokenSource', () => {
  it('client_secret_basic with the secret from the environment, discovered from the issuer', async () => {
    const tokens = await createClientCredentialsTokenSource(
      parsed({
        issuer: provider.issuer,
        clientId: 'from-config-basic',
        method: 'client_secret_basic',
        clientSecretEnv: 'GH_TEST_SECRET',
      }),
      { env: { GH_TEST_SECRET: SECRET } },
    );
    try {
      expect(await provider.introspect(await tokens.getAccessToken())).toMatchObject({
        active: true,
      });
    } finally {
      await tokens.close();
    }
  });

  it.each(['client-key.jwk.json', 'client-key.pem'])(
    'private_key_jwt with the key from %s, relative to the config directory',
    async (privateKeyFile) => {
      const tokens = await createClientCredentialsTokenSource(
        parsed({
          tokenEndpoint: provider.tokenEndpoint,
          clientId: 'from-config-jwt',
          method: 'private_key_jwt',
          privateKeyFile,
        }),
        { env: {}, baseDir: dir },
      );
      try {
        expect(await provider.introspect(await tokens.getAccessToken())).toMatchObject({
          active: true,
          client_id: 'from-config-jwt',
        });
      } finally {
        await tokens.close();
      }
    },
  );

  it('tls_client_auth: certificate, key and CA files become the mutual TLS dispatcher', async () => {
    const config = parsed({
      tokenEndpoint: 'https://as.example/token',
      clientId: 'from-config-tls',
      method: 'tls_client_auth',
      certFile: 'client.crt',
      keyFile: 'client.key',
      caFile: 'ca.crt',
      requestTimeoutMs: 2_000,
      refreshSkewS: 10,
    });
    const options = await clientCredentialsOptionsFromConfig(config, { env: {}, baseDir: dir });
    expect(options).toMatchObject({ timeoutMs: 2_000, refreshSkewS: 10 });
    expect(options.cert?.toString()).toBe(pki.client.cert);
    const tokens = await createClientCredentialsTokenSource(config, { env: {}, baseDir: dir });
    expect(tokens.dispatcher()).toBeDefined();
    await tokens.close();
  });

  it("the schema's output fits as it is, its defaults included", async () => {
    // zod's output for `.optional()` fields is `T | undefined`; net takes the schema's type.
    const config = parsed({
      tokenEndpoint: provider.tokenEndpoint,
      clientId: 'from-config-basic',
      method: 'client_secret_basic',
      clientSecretEnv: 'GH_TEST_SECRET',
    });
    expect(config).toMatchObject({ requestTimeoutMs: 10_000, refreshSkewS: 30 });
    const options = await clientCredentialsOptionsFromConfig(config, {
      env: { GH_TEST_SECRET: SECRET },
    });
    expect(options).toMatchObject({ timeoutMs: 10_000, refreshSkewS: 30 });
    const tokens = await createClientCredentialsTokenSource(config, {
      env: { GH_TEST_SECRET: SECRET },
    });
    await tokens.close();
  });
});

describe('config problems name the field and never show a secret', () => {
  it.each<[string, z.input<typeof centralServerSchema>, RegExp]>([
    [
      'an unset secret variable',
      {
        tokenEndpoint: 'https://as.example/token',
        clientId: 'a',
        method: 'client_secret_post',
        clientSecretEnv: 'GH_UNSET',
      },
      /^clientSecretEnv: environment variable GH_UNSET is not set or empty$/,
    ],
    [
      'a missing key file',
      {
        tokenEndpoint: 'https://as.example/token',
        clientId: 'a',
        method: 'private_key_jwt',
        privateKeyFile: 'nope.pem',
      },
      /^privateKeyFile: cannot read .*nope\.pem \(ENOENT\)$/,
    ],
    [
      'a JWK file that is not JSON',
      {
        tokenEndpoint: 'https://as.example/token',
        clientId: 'a',
        method: 'private_key_jwt',
        privateKeyFile: 'broken.json',
      },
      /^privateKeyFile: broken\.json starts with "\{" but is not valid JSON$/,
    ],
    [
      'an empty secret variable',
      {
        tokenEndpoint: 'https://as.example/token',
        clientId: 'a',
        method: 'client_secret_basic',
        clientSecretEnv: 'GH_EMPTY',
      },
      /^clientSecretEnv: environment variable GH_EMPTY is not set or empty$/,
    ],
  ])('%s', async (_name, config, message) => {
    const error = await rejection(
      createClientCredentialsTokenSource(parsed(config), { env: { GH_EMPTY: '' }, baseDir: dir }),
    );
    expect(error.code).toBe('GH_OAUTH_CONFIG_INVALID');
    expect(error.message).toMatch(message);
    expect(everythingShown(error)).not.toContain('TOP-SECRET-D');
  });
});
