import type { JWK } from 'jose';

/**
 * Members that only a private or symmetric key has: RSA (RFC 7518 section 6.3.2), EC and
 * OKP `d` (RFC 7518 section 6.2.2, RFC 8037 section 2) and `oct` `k` (RFC 7518 section
 * 6.4.1). RFC 9449 section 4.3 check 7: the proof's jwk must not contain a private key.
 */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** The private-key members present in `jwk`, empty for a public key. */
export function privateMembers(jwk: Readonly<Record<string, unknown>>): string[] {
  return PRIVATE_MEMBERS.filter((name) => Object.hasOwn(jwk, name));
}

/** The members that make up each public key type (the RFC 7638 section 3.2 members). */
const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  RSA: ['e', 'n'],
  EC: ['crv', 'x', 'y'],
  OKP: ['crv', 'x'],
};

/**
 * A copy of `jwk` holding only its key type's public members, or undefined if one is
 * missing or not a string, or the key type has no public form. Dropping the rest (`alg`,
 * `use`, `key_ops`, `ext`, ...) means nothing but the key material decides how the key is
 * imported; the thumbprint is computed over the same members (RFC 7638 section 3.2).
 */
export function publicJwk(jwk: Readonly<Record<string, unknown>>): JWK | undefined {
  const kty = jwk.kty;
  if (typeof kty !== 'string' || !Object.hasOwn(PUBLIC_MEMBERS, kty)) return undefined;
  const copy: Record<string, string> = { kty };
  for (const name of PUBLIC_MEMBERS[kty] ?? []) {
    const value = jwk[name];
    if (typeof value !== 'string' || value === '') return undefined;
    copy[name] = value;
  }
  return copy;
}
