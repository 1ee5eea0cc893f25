/**
 * Request headers that carry "who the caller is" to an upstream. A client must never choose
 * them: on every allowed request, of every API, each is removed from the client's request
 * unless Gatehouse sets it from verified claims (or a policy sets it) in that decision.
 *
 * The snapshot's set is every `claimsToHeaders` name of any API plus `routing.identityHeaders`
 * (this list by default): an API that maps no claim to `x-user-sub` still strips a client's
 * `x-user-sub`, because another API's upstream (or the same upstream) may believe it.
 */
export const DEFAULT_IDENTITY_HEADERS = [
  // Common application conventions.
  'x-user',
  'x-user-id',
  'x-user-sub',
  'x-user-email',
  'x-user-name',
  'x-user-roles',
  'x-user-groups',
  'x-remote-user',
  'remote-user',
  // oauth2-proxy (X-Forwarded-* to the upstream, X-Auth-Request-* for auth_request).
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-preferred-username',
  'x-forwarded-groups',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-preferred-username',
  'x-auth-request-groups',
  // Authelia and similar forward-auth servers.
  'remote-email',
  'remote-name',
  'remote-groups',
  // Kong.
  'x-consumer-id',
  'x-consumer-custom-id',
  'x-consumer-username',
  'x-authenticated-userid',
  'x-authenticated-scope',
  // Cloud identity-aware proxies and load balancers.
  'x-goog-authenticated-user-email',
  'x-goog-authenticated-user-id',
  'x-ms-client-principal',
  'x-ms-client-principal-id',
  'x-ms-client-principal-name',
  'x-amzn-oidc-identity',
  'x-amzn-oidc-data',
  'x-amzn-oidc-accesstoken',
] as const;

/**
 * The snapshot-wide set, computed once per snapshot build: every header any API fills from
 * claims, plus the configured identity headers; lower-case, each once, sorted.
 */
export function identityHeaderSet(
  claimHeaderNames: Iterable<string>,
  configured: readonly string[],
): readonly string[] {
  const names = new Set<string>();
  for (const name of claimHeaderNames) names.add(name.toLowerCase());
  for (const name of configured) names.add(name.toLowerCase());
  return Object.freeze([...names].sort());
}
