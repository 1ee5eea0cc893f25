import type { DenyCode } from '../../decision/deny-codes.js';
import type { IntrospectionResult } from './introspection-client.js';

/**
 * How the check pipeline answers a request whose opaque token was not introspected
 * `active`. Both codes are rows of the one answer table (DENY_CODES in
 * src/decision/deny-codes.ts); this only says which result takes which.
 *
 * - GH_ERR_TOKEN_INACTIVE: the authorization server says the token cannot be used
 *   (RFC 7662 section 2.2 `active: false`: unknown, expired, revoked, ...; the server need
 *   not say which). The client's problem: 401 with `error="invalid_token"` (RFC 6750
 *   section 3.1), like every other token failure.
 * - GH_ERR_INTROSPECTION_UNAVAILABLE: nothing is known about the token (timeout, network,
 *   HTTP error, malformed answer). It means HTTP 503, "try again later", and does not blame
 *   the token (no invalid_token challenge, so a client does not throw a good token away).
 *   But it is answered as the table answers every internal failure, an explicit 403 /
 *   PERMISSION_DENIED: a real 503 or a gRPC error is what Envoy's `failure_mode_allow:
 *   true` turns into an allow. Fail closed.
 * - GH_ERR_INTROSPECTION_THROTTLED: the issuer was not asked, because this process has
 *   sent it `maxCallsPerS` requests per second already (a flood of unknown tokens). Also
 *   nothing known, also an explicit 403, but named apart so an operator can tell an attack
 *   on the budget from an outage of the server.
 */
export type IntrospectionDenyCode = Extract<
  DenyCode,
  'GH_ERR_TOKEN_INACTIVE' | 'GH_ERR_INTROSPECTION_UNAVAILABLE' | 'GH_ERR_INTROSPECTION_THROTTLED'
>;

/** The deny code for an introspection result; undefined for `active` (go on to authorize). */
export function introspectionDenyCode(
  result: IntrospectionResult,
): IntrospectionDenyCode | undefined {
  switch (result.kind) {
    case 'active':
      return undefined;
    case 'inactive':
      return 'GH_ERR_TOKEN_INACTIVE';
    case 'unavailable':
      return result.code === 'GH_INTROSPECTION_RATE_LIMITED'
        ? 'GH_ERR_INTROSPECTION_THROTTLED'
        : 'GH_ERR_INTROSPECTION_UNAVAILABLE';
  }
}
