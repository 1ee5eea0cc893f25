import { generateKeyPairSync } from 'node:crypto';

export interface PemKeyPair {
  readonly privatePem: string;
  readonly publicPem: string;
}

/** A fresh key pair as PEM: PKCS#8 private (what opa's --signing-key reads), SPKI public. */
export function pemKeyPair(kind: 'rsa' | 'ec'): PemKeyPair {
  const { privateKey, publicKey } =
    kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
