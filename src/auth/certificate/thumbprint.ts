import { createHash, type X509Certificate } from 'node:crypto';

/**
 * RFC 8705 section 3.1: the `x5t#S256` confirmation method is the base64url-encoded
 * SHA-256 of the DER encoding of the certificate. `cert.raw` is that DER, byte for byte
 * as presented (the parsers in client-certificate.ts refuse anything that would not
 * round-trip).
 */
export function x5tS256(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('base64url');
}

/** base64url without padding of a 32-byte value: 43 characters (RFC 7515 section 2). */
const X5T_S256 = /^[A-Za-z0-9_-]{43}$/;

/** Whether `value` has the shape of an `x5t#S256` value. */
export function isX5tS256(value: string): boolean {
  return X5T_S256.test(value);
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/**
 * Envoy's XFCC `Hash` is "the SHA 256 digest of the current client certificate" in hex
 * (Envoy docs: HTTP header manipulation, x-forwarded-client-cert; Envoy writes it with
 * Hex::encode of X509_digest over the DER). The same digest as `x5t#S256`, in another
 * encoding. Undefined when `hex` is not 64 hex digits.
 */
export function x5tS256FromSha256Hex(hex: string): string | undefined {
  if (!SHA256_HEX.test(hex)) return undefined;
  return Buffer.from(hex, 'hex').toString('base64url');
}
