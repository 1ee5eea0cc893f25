import type { JWTPayload } from 'jose';

/**
 * The scopes a token grants: the `scope` claim (space-separated, RFC 8693 section 4.2 and
 * RFC 9068 section 2.2.3) or an `scp` array (a common alternative). Anything else grants none.
 */
export function grantedScopes(claims: JWTPayload): ReadonlySet<string> {
  const scope = claims.scope;
  if (typeof scope === 'string') return new Set(scope.split(' ').filter((s) => s !== ''));
  const scp = claims.scp;
  if (Array.isArray(scp)) return new Set(scp.filter((s): s is string => typeof s === 'string'));
  return new Set();
}

/** The required scopes the token does not carry (all-of semantics). */
export function missingScopes(claims: JWTPayload, required: readonly string[]): string[] {
  if (required.length === 0) return [];
  const granted = grantedScopes(claims);
  return required.filter((scope) => !granted.has(scope));
}
