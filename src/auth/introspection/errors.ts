/**
 * Why an introspection answered `unavailable`: a closed set, each with what it means.
 * The code is the log field and the metric label; the `reason` next to it is for people.
 * None of them says anything about the token: an `unavailable` answer means the
 * authorization server could not be asked or did not answer usably, so nothing is known.
 */
export const INTROSPECTION_FAILURES = {
  GH_INTROSPECTION_TIMEOUT: 'the introspection endpoint did not answer within timeoutMs',
  GH_INTROSPECTION_NETWORK:
    'the request failed before an answer: connection refused or reset, TLS handshake, or a body over maxResponseBytes',
  GH_INTROSPECTION_HTTP_STATUS:
    'the endpoint answered with a status other than 200 (401 invalid_client: the introspecting client is not accepted)',
  GH_INTROSPECTION_MALFORMED:
    'the 200 answer is not an RFC 7662 section 2.2 response: not a JSON object, no boolean "active", or a member of the wrong type',
  GH_INTROSPECTION_CLIENT_AUTH:
    'the client authentication for the request could not be built (e.g. signing the client assertion failed)',
  GH_INTROSPECTION_CLOSED: 'the introspection client was closed',
  GH_INTROSPECTION_RATE_LIMITED:
    'not asked: this issuer was sent maxCallsPerS introspection requests per second already (the burst is spent)',
} as const;

export type IntrospectionFailureCode = keyof typeof INTROSPECTION_FAILURES;

/** A start-up error: the options are unusable. The message names the option. */
export class IntrospectionConfigError extends Error {
  readonly code = 'GH_INTROSPECTION_CONFIG_INVALID';
  constructor(option: string, problem: string, options?: ErrorOptions) {
    super(`${option}: ${problem}`, options);
    this.name = 'IntrospectionConfigError';
  }
}
