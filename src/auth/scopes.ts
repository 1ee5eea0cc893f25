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

/**
 * Whether the token carries the required scopes: every one ("all") or at least one ("any").
 * No required scopes: always satisfied.
 */
export function hasRequiredScopes(
  claims: JWTPayload,
  required: readonly string[],
  match: 'all' | 'any',
): boolean {
  if (required.length === 0) return true;
  const granted = grantedScopes(claims);
  return match === 'all'
    ? required.every((scope) => granted.has(scope))
    : required.some((scope) => granted.has(scope));
}
