/**
 * The JWS algorithms Gatehouse knows (RFC 7518 section 3.1, RFC 8037 section 3.1:
 * "Ed25519" being EdDSA's fully specified name). `none` is never among them.
 */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** Symmetric MACs: verified with a shared secret, never with a public key. */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
