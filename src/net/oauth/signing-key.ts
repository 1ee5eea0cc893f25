import { createPrivateKey, KeyObject, type JsonWebKey } from 'node:crypto';
import { configError } from './errors.js';

/** The JWS algorithms Gatehouse signs private_key_jwt assertions with. */
export const ASSERTION_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
export type AssertionAlgorithm = (typeof ASSERTION_ALGORITHMS)[number];

/** A private key as configured: PEM text (PKCS#8, PKCS#1 or SEC1), a private JWK, or a KeyObject. */
export type PrivateKeyInput = string | JsonWebKey | KeyObject;

export interface SigningKey {
  readonly key: KeyObject;
  readonly algorithm: AssertionAlgorithm;
  /** The JWS `kid` header, when configured or present in the JWK. */
  readonly keyId: string | undefined;
}

/**
 * Parses the private key and settles the algorithm, so a wrong key type or curve is a
 * start-up error naming the option instead of an `invalid_client` from the server.
 * Without an explicit algorithm: the JWK's `alg` if it has one, else the obvious one for
 * the key type (RSA: RS256, RSA-PSS: PS256, P-256: ES256, Ed25519/Ed448: EdDSA).
 */
export function loadSigningKey(
  input: PrivateKeyInput,
  algorithm: AssertionAlgorithm | undefined,
  keyId: string | undefined,
): SigningKey {
  let key: KeyObject;
  let jwkAlg: unknown;
  let jwkKid: unknown;
  try {
    if (input instanceof KeyObject) {
      key = input;
    } else if (typeof input === 'string') {
      key = createPrivateKey({ key: input, format: 'pem' });
    } else {
      jwkAlg = (input as { alg?: unknown }).alg;
      jwkKid = (input as { kid?: unknown }).kid;
      key = createPrivateKey({ key: input, format: 'jwk' });
    }
  } catch (error) {
    // Node's message names the format problem, never the key material.
    throw configError('privateKey', `is not a usable private key (${describe(error)})`, error);
  }
  if (key.type !== 'private') {
    throw configError('privateKey', `must be a private key, got a ${key.type} key`);
  }

  const chosen = algorithm ?? (isAssertionAlgorithm(jwkAlg) ? jwkAlg : defaultAlgorithm(key));
  if (chosen === undefined) {
    throw configError(
      'privateKey',
      `a ${describeKey(key)} key has no supported algorithm (${ASSERTION_ALGORITHMS.join(', ')})`,
    );
  }
  const mismatch = algorithmMismatch(key, chosen);
  if (mismatch !== undefined) throw configError('algorithm', mismatch);
  return {
    key,
    algorithm: chosen,
    keyId: keyId ?? (typeof jwkKid === 'string' ? jwkKid : undefined),
  };
}

export function isAssertionAlgorithm(value: unknown): value is AssertionAlgorithm {
  return (ASSERTION_ALGORITHMS as readonly unknown[]).includes(value);
}

function defaultAlgorithm(key: KeyObject): AssertionAlgorithm | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'rsa-pss':
      return 'PS256';
    case 'ec':
      return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ES256' : undefined;
    case 'ed25519':
    case 'ed448':
      return 'EdDSA';
    default:
      return undefined;
  }
}

/** Why `algorithm` cannot be used with `key`, or undefined when it can. */
function algorithmMismatch(key: KeyObject, algorithm: AssertionAlgorithm): string | undefined {
  const type = key.asymmetricKeyType;
  switch (algorithm) {
    case 'RS256':
    case 'PS256': {
      const fits = type === 'rsa' || (algorithm === 'PS256' && type === 'rsa-pss');
      if (!fits) return `${algorithm} needs an RSA key, got ${describeKey(key)}`;
      // RFC 7518 sections 3.3 and 3.5: "A key of size 2048 bits or larger MUST be used".
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) return `${algorithm} needs an RSA key of at least 2048 bits, got ${bits}`;
      return undefined;
    }
    case 'ES256':
      // RFC 7518 section 3.4: ES256 is ECDSA on P-256 (prime256v1) only.
      return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
        ? undefined
        : `ES256 needs a P-256 key, got ${describeKey(key)}`;
    case 'EdDSA':
      // RFC 8037 section 3.1.
      return type === 'ed25519' || type === 'ed448'
        ? undefined
        : `EdDSA needs an Ed25519 or Ed448 key, got ${describeKey(key)}`;
  }
}

function describeKey(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return `${key.asymmetricKeyType ?? 'symmetric'}${curve === undefined ? '' : ` ${curve}`}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
