/**
 * Strict reading of the JWS Compact Serialization (RFC 7515 section 7.1): three parts, each
 * the base64url encoding of its octets in the one spelling RFC 7515 allows.
 *
 * Base64url in a JWS has no padding and only the URL-safe alphabet (RFC 7515 section 2 and
 * appendix C). Decoders are more forgiving: most accept `=` padding, `+` and `/`, and ignore
 * the unused low bits of the last character (RFC 4648 section 3.5), so several strings decode
 * to the same signature. Such a re-spelling is a different token to everything keyed by the
 * token string (caches, replay and revocation lists, logs), though it verifies the same: the
 * kind of confusion RFC 8725 section 3.7 warns about. Only the canonical spelling is accepted.
 */

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Three dot-separated parts in the base64 or base64url alphabet, padded or not: what a lenient
 * decoder would read as a compact JWS. Such a token is verified as a JWT, where
 * compactJwsProblem refuses any spelling but the canonical one; it is never an opaque token.
 */
const JWS_SHAPED = /^[A-Za-z0-9_\-+/]+=*\.[A-Za-z0-9_\-+/]+=*\.[A-Za-z0-9_\-+/]*=*$/;

const PART_NAMES = ['header', 'payload', 'signature'] as const;

/**
 * Why `segment` is not the canonical base64url (no padding) of some octets, or undefined
 * when it is. The empty string is canonical: it encodes no octets.
 */
export function base64urlProblem(segment: string): string | undefined {
  if (!BASE64URL.test(segment))
    return 'not unpadded base64url (padding, "+", "/" or another character)';
  const rest = segment.length % 4;
  // RFC 4648 section 4: a final quantum is 8 or 16 bits, 2 or 3 characters; one character
  // holds only 6 bits, never an octet.
  if (rest === 1) return 'a base64url length of 1 mod 4 encodes no whole octets';
  if (rest === 0) return undefined;
  // RFC 4648 section 3.5: the bits of the last character past the final octet must be zero.
  // With 2 characters they are its 4 low bits, with 3 characters its 2 low bits.
  const last = ALPHABET.indexOf(segment.charAt(segment.length - 1));
  const unusedBits = rest === 2 ? 0b1111 : 0b11;
  if ((last & unusedBits) !== 0) return 'the last base64url character has non-zero unused bits';
  return undefined;
}

/** Why `token` is not a strictly encoded compact JWS, or undefined when it is one. */
export function compactJwsProblem(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return 'not a compact JWS (three dot-separated parts)';
  for (const [index, part] of parts.entries()) {
    const problem = base64urlProblem(part);
    if (problem !== undefined) return `${PART_NAMES[index] ?? 'part'}: ${problem}`;
  }
  return undefined;
}

/** Shaped like a compact JWS, even if not canonically encoded (see JWS_SHAPED). */
export function looksLikeCompactJws(token: string): boolean {
  return JWS_SHAPED.test(token);
}
