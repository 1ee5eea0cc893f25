/**
 * The closed set of errors the OIDC key sync raises, with what each means. The code is
 * the `lastError.code` in a source's status, the log field and the metric label.
 */
export const OIDC_SYNC_ERRORS = {
  GH_OIDC_ISSUER_INVALID:
    'the configured issuer is not an https URL (http only for loopback) without query or fragment',
  GH_OIDC_DISCOVERY_FAILED:
    'the discovery document could not be fetched (network error, timeout, non-200 answer)',
  GH_OIDC_METADATA_INVALID:
    'the discovery document is not a JSON object with a usable jwks_uri and endpoints',
  GH_OIDC_ISSUER_MISMATCH:
    'the discovery document names another issuer than the configured one (OIDC Discovery 4.3)',
  GH_OIDC_JWKS_FETCH_FAILED: 'the JWKS could not be fetched (network error, timeout, non-200)',
  GH_OIDC_REFRESH_TIMEOUT: 'one whole key refresh overran its deadline and was abandoned',
  GH_OIDC_CERTIFICATE_INVALID:
    'the signer certificate file holds no usable X.509 certificate for the allowed algorithms',
  GH_OIDC_JWKS_UNUSABLE:
    'the key set holds no key that can verify the configured algorithms (empty, only "use: enc", other algorithms or key types, keys that do not import); the previous keys are kept',
} as const;

export type OidcSyncErrorCode = keyof typeof OIDC_SYNC_ERRORS;

/** Discovery failed or its answer was refused. Keeps the underlying error as `cause`. */
export class DiscoveryError extends Error {
  constructor(
    readonly code: Extract<
      OidcSyncErrorCode,
      | 'GH_OIDC_ISSUER_INVALID'
      | 'GH_OIDC_DISCOVERY_FAILED'
      | 'GH_OIDC_METADATA_INVALID'
      | 'GH_OIDC_ISSUER_MISMATCH'
    >,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'DiscoveryError';
  }
}

/** Loading a key set failed for a reason other than discovery or the JWKS contents. */
export class KeySourceError extends Error {
  constructor(
    readonly code: Extract<
      OidcSyncErrorCode,
      | 'GH_OIDC_JWKS_FETCH_FAILED'
      | 'GH_OIDC_REFRESH_TIMEOUT'
      | 'GH_OIDC_CERTIFICATE_INVALID'
      | 'GH_OIDC_JWKS_UNUSABLE'
    >,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'KeySourceError';
  }
}
