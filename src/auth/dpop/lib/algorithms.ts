import { ASYMMETRIC_ALGORITHMS } from '../../jws-algorithms.js';

/**
 * The registered asymmetric JWS algorithms a DPoP proof may use (RFC 9449 section 4.3
 * check 5: "a registered asymmetric digital signature algorithm ... not none"): RSA
 * PKCS#1 v1.5 and PSS, ECDSA (RFC 7518 section 3.1) and EdDSA (RFC 8037 section 3.1,
 * "Ed25519" being its fully specified name). Symmetric MACs (HS*) are excluded: a proof
 * must be verifiable with the public key it carries, and a shared secret cannot be public.
 */
export const ASYMMETRIC_JWS_ALGORITHMS: ReadonlySet<string> = new Set(ASYMMETRIC_ALGORITHMS);
