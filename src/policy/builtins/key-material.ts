import { createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';

/**
 * Verification keys as Rego policies pass them to io.jwt.verify_* and decode_verify's
 * `cert` (OPA docs, "Token verification"): a PEM certificate, a PEM public key, a JWK, or
 * a JWK Set, as a string. Parsed once per distinct string: policies pass the same constant
 * on every request, and parsing PEM or JWK on each would cost more than verifying.
 */

export interface VerificationKey {
  readonly key: KeyObject;
  /** The JWK's `kid`, when the key came from a JWK with one. */
  readonly kid: string | undefined;
  /** The JWK's `alg`, when it names one. */
  readonly alg: string | undefined;
}

const CACHE_LIMIT = 256;
const cache = new Map<string, readonly VerificationKey[]>();

/** The keys in `material`; throws when it is none of the accepted forms. */
export function verificationKeys(material: string): readonly VerificationKey[] {
  const cached = cache.get(material);
  if (cached !== undefined) return cached;
  const keys = parse(material);
  if (cache.size >= CACHE_LIMIT) {
    // Oldest first: Map keeps insertion order.
    const oldest = cache.keys().next();
    if (oldest.done !== true) cache.delete(oldest.value);
  }
  cache.set(material, keys);
  return keys;
}

function parse(material: string): readonly VerificationKey[] {
  const text = material.trim();
  if (text.startsWith('-----BEGIN CERTIFICATE-----')) {
    return pemBlocks(text, 'CERTIFICATE').map((pem) => ({
      key: new X509Certificate(pem).publicKey,
      kid: undefined,
      alg: undefined,
    }));
  }
  if (text.startsWith('-----BEGIN')) {
    return [{ key: createPublicKey(text), kid: undefined, alg: undefined }];
  }
  const parsed = JSON.parse(text) as unknown;
  if (isRecord(parsed) && Array.isArray(parsed.keys)) {
    return parsed.keys.filter(isRecord).map(fromJwk);
  }
  if (isRecord(parsed)) return [fromJwk(parsed)];
  throw new Error('not a PEM certificate, PEM public key, JWK or JWK Set');
}

function fromJwk(jwk: Record<string, unknown>): VerificationKey {
  // A symmetric or private JWK is not a verification key: refuse rather than verify with it.
  if (jwk.kty === 'oct' || 'd' in jwk) throw new Error('the JWK is not a public key');
  return {
    // node:crypto's JWK import checks the members for the key type.
    key: createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }),
    kid: typeof jwk.kid === 'string' ? jwk.kid : undefined,
    alg: typeof jwk.alg === 'string' ? jwk.alg : undefined,
  };
}

function pemBlocks(text: string, label: string): string[] {
  const pattern = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return text.match(pattern) ?? [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
