import { SignJWT } from 'jose';
import { ensureDevKey } from './dev-keys.js';

export interface DevTokenOptions {
  readonly sub: string;
  /** Role names, put in the `roles` claim the example policies read. */
  readonly roles: readonly string[];
  /** Space-separated scopes (RFC 8693 section 4.2 `scope` claim). */
  readonly scope: string;
  readonly aud: string;
  readonly iss: string;
  readonly ttlS: number;
  readonly keyDir: string;
}

/**
 * A JWT signed with the local development key, which the example config
 * (config/gatehouse.dev.yaml) trusts. `typ: at+jwt` as RFC 9068 section 2.1 asks.
 */
export async function mintDevToken(options: DevTokenOptions): Promise<string> {
  const key = await ensureDevKey(options.keyDir);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: [...options.roles], scope: options.scope })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
    .setIssuer(options.iss)
    .setAudience(options.aud)
    .setSubject(options.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + options.ttlS)
    .sign(key.privateKey);
}
