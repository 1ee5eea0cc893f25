/**
 * The closed set of reasons Gatehouse denies a request, and how each is answered.
 *
 * One table maps every code to the HTTP status a client sees, the gRPC status Envoy is
 * given in CheckResponse.status and the RFC 6750 challenge. The code is also the log field
 * and the metric label, so a deny can be traced from a client's 401 to the line that said
 * why. Internal failures are answered 403 on purpose: Envoy and most proxies turn a 5xx
 * or a gRPC error from the authorizer into "failure", which `failure_mode_allow: true`
 * turns into an allow (CVE-2023-27488, CVE-2024-23324). An explicit 403 is a deny under
 * every proxy setting.
 */

/** gRPC status codes used in CheckResponse.status (google.rpc.Code). */
export const GrpcCode = {
  OK: 0,
  PERMISSION_DENIED: 7,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/**
 * Which `WWW-Authenticate` challenge a deny carries (RFC 6750 section 3).
 * - `bearer`: no error attribute: the request carried no credential (section 3.1).
 * - the others: the `error` attribute to send.
 */
export type Challenge =
  | 'bearer'
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  /** RFC 9449 section 7.1: `DPoP error="invalid_dpop_proof"`. */
  | 'invalid_dpop_proof'
  /** RFC 9449 section 9: `DPoP error="use_dpop_nonce"`, sent with a `DPoP-Nonce` header. */
  | 'use_dpop_nonce';

export interface DenyCodeSpec {
  /**
   * 429 is for GH_ERR_OVERLOADED only (RFC 6585 section 4: "too many requests", with
   * Retry-After): still a 4xx, so a deny under every proxy setting; NGINX's auth_request,
   * which knows only 401 and 403, is answered 403 by the HTTP transport. 405 and 413 are
   * for the HTTP doors' own refusals of a call (RFC 9110 sections 15.5.6, 15.5.14).
   */
  readonly status: 400 | 401 | 403 | 405 | 413 | 429;
  readonly grpcCode: GrpcCode;
  readonly challenge: Challenge | undefined;
  /** Said to the client in the response body; never contains request data. */
  readonly message: string;
}

export const DENY_CODES = {
  GH_ERR_INVALID_REQUEST: {
    status: 400,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: 'invalid_request',
    message: 'malformed request',
  },
  GH_ERR_BODY_TOO_LARGE: {
    status: 413,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'the request body is too large',
  },
  GH_ERR_METHOD_NOT_ALLOWED: {
    status: 405,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'the check endpoint takes POST',
  },
  GH_ERR_PATH_INVALID: {
    status: 400,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'malformed request path',
  },
  GH_ERR_HOST_INVALID: {
    status: 400,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: 'invalid_request',
    message: 'malformed or ambiguous request host',
  },
  GH_ERR_UNTRUSTED_PROXY: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'forwarded request attributes from an untrusted peer',
  },
  GH_ERR_API_UNKNOWN: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'no API matches this request',
  },
  GH_ERR_NO_CREDENTIAL: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'bearer',
    message: 'a bearer token is required',
  },
  GH_ERR_TOKEN_MALFORMED: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token is malformed',
  },
  GH_ERR_TOKEN_TOO_LARGE: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token is too large',
  },
  GH_ERR_TOKEN_HEADER: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token header is not accepted',
  },
  GH_ERR_TOKEN_ALG: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token algorithm is not allowed',
  },
  GH_ERR_TOKEN_ISSUER: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token issuer is not accepted',
  },
  GH_ERR_TOKEN_KEY_UNKNOWN: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token signing key is unknown',
  },
  GH_ERR_TOKEN_SIGNATURE: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token signature is invalid',
  },
  GH_ERR_TOKEN_EXPIRED: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token has expired',
  },
  GH_ERR_TOKEN_NOT_YET_VALID: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token is not yet valid',
  },
  GH_ERR_TOKEN_AUDIENCE: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token audience is not accepted',
  },
  GH_ERR_TOKEN_CLAIMS: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token claims are invalid',
  },
  GH_ERR_TOKEN_INACTIVE: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token is not active',
  },
  GH_ERR_TOKEN_BINDING: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_token',
    message: 'the token is bound to another key or certificate',
  },
  GH_ERR_DPOP_PROOF: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'invalid_dpop_proof',
    message: 'the DPoP proof is invalid',
  },
  GH_ERR_DPOP_NONCE: {
    status: 401,
    grpcCode: GrpcCode.UNAUTHENTICATED,
    challenge: 'use_dpop_nonce',
    message: 'the DPoP proof must carry the nonce in DPoP-Nonce',
  },
  GH_ERR_DPOP_REPLAY_UNCHECKED: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    // No challenge: the proof may be fine; the shared replay store did not answer.
    challenge: undefined,
    message: 'denied: the DPoP proof could not be checked against replays',
  },
  GH_ERR_INTROSPECTION_UNAVAILABLE: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'denied: the token could not be checked with its issuer',
  },
  GH_ERR_INTROSPECTION_THROTTLED: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'denied: too many tokens to check with the issuer right now',
  },
  GH_ERR_ISSUER_KEYS_STALE: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    // No challenge: the token may be fine; the authorizer cannot vouch for the keys.
    challenge: undefined,
    message: 'denied: the issuer keys have not been refreshed recently enough',
  },
  GH_ERR_SCOPE_MISSING: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: 'insufficient_scope',
    message: 'the token lacks a required scope',
  },
  GH_ERR_POLICY_DENIED: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'denied by policy',
  },
  GH_ERR_POLICY_ERROR: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'denied: the policy could not be evaluated',
  },
  GH_ERR_POLICY_RESULT_INVALID: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'denied: the policy returned an invalid result',
  },
  GH_ERR_CLAIM_NOT_REPRESENTABLE: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'denied: a claim cannot be sent upstream as a header',
  },
  GH_ERR_NO_SNAPSHOT: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'denied: no policy snapshot is loaded yet',
  },
  GH_ERR_OVERLOADED: {
    status: 429,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'denied: too many checks in flight; retry later',
  },
  GH_ERR_INTERNAL: {
    status: 403,
    grpcCode: GrpcCode.PERMISSION_DENIED,
    challenge: undefined,
    message: 'denied: internal error',
  },
} as const satisfies Record<string, DenyCodeSpec>;

export type DenyCode = keyof typeof DENY_CODES;
