import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';

/**
 * A local development signing key, so the quick start has tokens to send. The private key
 * stays in .gatehouse/dev (git-ignored, made on first use); the example config trusts the
 * public half through .gatehouse/dev/jwks.json. Never use it outside development.
 */
export const DEV_ISSUER = 'https://dev.gatehouse.local';
export const DEV_AUDIENCE = 'gatehouse-examples';
const KEY_ID = 'gatehouse-dev-1';

export interface DevKey {
  readonly privateKey: CryptoKey;
  readonly kid: string;
}

export async function ensureDevKey(dir: string): Promise<DevKey> {
  const privatePath = path.join(dir, 'signing-key.jwk.json');
  const existing = await readFile(privatePath, 'utf8').catch(() => undefined);
  if (existing !== undefined) {
    const jwk = JSON.parse(existing) as JWK;
    return { privateKey: (await importJWK(jwk, 'RS256')) as CryptoKey, kid: jwk.kid ?? KEY_ID };
  }
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid: KEY_ID, alg: 'RS256', use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid: KEY_ID, alg: 'RS256' };
  await mkdir(dir, { recursive: true });
  await writeFile(privatePath, JSON.stringify(privateJwk, null, 2));
  await chmod(privatePath, 0o600);
  await writeFile(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [publicJwk] }, null, 2));
  return { privateKey, kid: KEY_ID };
}
