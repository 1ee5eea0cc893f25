import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { SigningKey } from './signing-key.js';

/**
 * RFC 7523 section 2.2: the client authenticates with a JWT in `client_assertion`, and says
 * so in `client_assertion_type`.
 */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface ClientAssertionParams {
  readonly clientId: string;
  /** The token endpoint URL or the issuer identifier (RFC 7523 section 3, item 3). */
  readonly audience: string;
  /** Seconds from `iat` to `exp`. */
  readonly lifetimeS: number;
  /** The current time, in milliseconds since the epoch. */
  readonly nowMs: number;
}

/**
 * A signed client assertion (RFC 7523 section 3; OIDC Core 1.0 section 9 for the
 * client_secret_jwt and private_key_jwt names):
 * - `iss` and `sub` are both the client_id: the client asserts its own identity;
 * - `aud` identifies the authorization server;
 * - `jti` is random and single-use: servers remember it until `exp` to refuse replays
 *   (section 3, item 7), so every token request signs a fresh assertion;
 * - `exp` is short, which also bounds how long the server must remember the `jti`.
 */
export async function signClientAssertion(
  params: ClientAssertionParams,
  signer:
    | { readonly kind: 'secret'; readonly secret: Uint8Array }
    | { readonly kind: 'key'; readonly key: SigningKey },
): Promise<string> {
  const iat = Math.floor(params.nowMs / 1000);
  const jwt = new SignJWT({})
    .setIssuer(params.clientId)
    .setSubject(params.clientId)
    .setAudience(params.audience)
    .setJti(randomBytes(32).toString('base64url'))
    .setIssuedAt(iat)
    .setExpirationTime(iat + params.lifetimeS);
  if (signer.kind === 'secret') {
    // client_secret_jwt: HMAC over the client secret's octets (OIDC Core 1.0 section 9).
    return jwt.setProtectedHeader({ alg: 'HS256' }).sign(signer.secret);
  }
  const { key, algorithm, keyId } = signer.key;
  return jwt
    .setProtectedHeader(keyId === undefined ? { alg: algorithm } : { alg: algorithm, kid: keyId })
    .sign(key);
}
