import { DENY_CODES, type DenyCode } from './deny-codes.js';

/** Header name/value pairs, in order. A list, not a map: a name may repeat. */
export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>;

/** Which API a request matched, for logs, metrics and the adapters. */
export interface MatchedApiRef {
  readonly id: string;
  readonly service: string;
}

export interface AllowDecision {
  readonly allowed: true;
  readonly code: 'GH_OK';
  readonly api: MatchedApiRef | undefined;
  /** Headers to add to (or overwrite on) the request sent upstream. */
  readonly upstreamHeaders: HeaderList;
  /** Request headers to strip before the request goes upstream. */
  readonly upstreamHeadersToRemove: readonly string[];
  /** Headers to add to the response sent back to the client. */
  readonly responseHeaders: HeaderList;
  readonly revision: string;
  /** A policy's `query_parameters_to_set` (Envoy OkHttpResponse), in order. */
  readonly queryParametersToSet?: HeaderList;
  /** A policy's `query_parameters_to_remove`. */
  readonly queryParametersToRemove?: readonly string[];
  /** A policy's `dynamic_metadata`, for Envoy's CheckResponse.dynamic_metadata. */
  readonly dynamicMetadata?: Readonly<Record<string, unknown>>;
}

export interface DenyDecision {
  readonly allowed: false;
  readonly code: DenyCode;
  /** For logs only: why, in words an operator can act on. Never sent to the client. */
  readonly reason: string;
  /** The HTTP status the client sees (always 4xx, see deny-codes.ts). */
  readonly status: number;
  /** Response headers for the client, including any `WWW-Authenticate` challenge. */
  readonly headers: HeaderList;
  readonly body: string;
  readonly api: MatchedApiRef | undefined;
  readonly revision: string | undefined;
  /** The denying policy's `dynamic_metadata`, for Envoy's CheckResponse.dynamic_metadata. */
  readonly dynamicMetadata?: Readonly<Record<string, unknown>>;
  /**
   * The finer cause (a GH_DPOP_*, GH_CERT_* or GH_INTROSPECTION_* code of
   * src/errors/error-codes.ts), for the log line and the deny-details metric; never sent.
   */
  readonly detail?: string | undefined;
}

export type Decision = AllowDecision | DenyDecision;

export interface DenyOptions {
  readonly realm: string;
  readonly api?: MatchedApiRef | undefined;
  readonly revision?: string | undefined;
  /** Scopes to name in an insufficient_scope challenge (RFC 6750 section 3). */
  readonly scopes?: readonly string[];
  /** Overrides from a policy's object result. */
  readonly status?: number | undefined;
  readonly headers?: HeaderList | undefined;
  readonly body?: string | undefined;
  readonly dynamicMetadata?: Readonly<Record<string, unknown>> | undefined;
  /** See DenyDecision.detail. */
  readonly detail?: string | undefined;
}

/** Builds a deny from the code table: status, challenge and body all come from one place. */
export function deny(code: DenyCode, reason: string, options: DenyOptions): DenyDecision {
  const spec = DENY_CODES[code];
  const headers: Array<readonly [string, string]> = [];
  const challenge = bearerChallenge(spec.challenge, options.realm, spec.message, options.scopes);
  if (challenge !== undefined) headers.push(['www-authenticate', challenge]);
  if (options.headers !== undefined) headers.push(...options.headers);
  const body =
    options.body ??
    JSON.stringify({ error: code, message: spec.message, status: options.status ?? spec.status });
  if (options.body === undefined) headers.push(['content-type', 'application/json']);
  return {
    allowed: false,
    code,
    reason,
    status: options.status ?? spec.status,
    headers,
    body,
    api: options.api,
    revision: options.revision,
    ...(options.dynamicMetadata === undefined ? {} : { dynamicMetadata: options.dynamicMetadata }),
    ...(options.detail === undefined ? {} : { detail: options.detail }),
  };
}

function bearerChallenge(
  challenge: (typeof DENY_CODES)[DenyCode]['challenge'],
  realm: string,
  description: string,
  scopes: readonly string[] | undefined,
): string | undefined {
  if (challenge === undefined) return undefined;
  // RFC 6750 section 3: quoted-string values; realm, error, error_description, scope.
  const parts = [`realm="${realm}"`];
  if (challenge === 'invalid_dpop_proof' || challenge === 'use_dpop_nonce') {
    // RFC 9449 sections 7.1 and 9: the DPoP scheme's own challenge.
    return `DPoP ${[...parts, `error="${challenge}"`, `error_description="${description}"`].join(', ')}`;
  }
  if (challenge !== 'bearer') {
    parts.push(`error="${challenge}"`, `error_description="${description}"`);
  }
  if (challenge === 'insufficient_scope' && scopes !== undefined && scopes.length > 0) {
    parts.push(`scope="${scopes.join(' ')}"`);
  }
  return `Bearer ${parts.join(', ')}`;
}

/**
 * The names for Envoy's `headers_to_remove` (gRPC) and `x-envoy-auth-headers-to-remove`
 * (HTTP mode): the removals less the headers the decision sets. Envoy's ext_authz filter
 * applies the headers to set first and the removals after them, so a name in both would
 * strip the value Gatehouse just set (a claimsToHeaders header never reached the upstream).
 * Setting a header already replaces whatever the client sent under that name.
 */
export function removalsAfterSet(decision: AllowDecision): string[] {
  const set = new Set(decision.upstreamHeaders.map(([name]) => name.toLowerCase()));
  return decision.upstreamHeadersToRemove.filter((name) => !set.has(name.toLowerCase()));
}
