/** RSA PKCS#1 v1.5, RSA-PSS and ECDSA (RFC 7518 section 3.1): the ones OPA and JOSE share. */
const RSA_PSS_ECDSA_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
] as const;

/**
 * The JWS algorithms Gatehouse knows (RFC 7518 section 3.1, RFC 8037 section 3.1:
 * "Ed25519" being EdDSA's fully specified name). `none` is never among them.
 */
export const ASYMMETRIC_ALGORITHMS = [...RSA_PSS_ECDSA_ALGORITHMS, 'EdDSA', 'Ed25519'] as const;

/** Symmetric MACs: verified with a shared secret, never with a public key. */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;

/**
 * The registered asymmetric JWS algorithms a DPoP proof may use (RFC 9449 section 4.3
 * check 5: "a registered asymmetric digital signature algorithm ... not none"): RSA
 * PKCS#1 v1.5 and PSS, ECDSA (RFC 7518 section 3.1) and EdDSA (RFC 8037 section 3.1,
 * "Ed25519" being its fully specified name). Symmetric MACs (HS*) are excluded: a proof
 * must be verifiable with the public key it carries, and a shared secret cannot be public.
 */
export const ASYMMETRIC_JWS_ALGORITHMS: ReadonlySet<string> = new Set(ASYMMETRIC_ALGORITHMS);

/** The signing algorithms OPA's bundle signing supports (OPA docs, "Bundle Signing"). */
export const BUNDLE_SIGNING_ALGORITHMS = [...RSA_PSS_ECDSA_ALGORITHMS, ...HMAC_ALGORITHMS] as const;
export type BundleSigningAlgorithm = (typeof BUNDLE_SIGNING_ALGORITHMS)[number];
