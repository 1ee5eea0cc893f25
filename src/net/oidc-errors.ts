import { OIDC_SYNC_ERRORS } from '../errors/error-codes.js';
import { GatehouseError } from '../errors/gatehouse-error.js';

/**
 * The closed set of errors the OIDC key sync raises; what each means is in the one registry
 * (src/errors/error-codes.ts). The code is the `lastError.code` in a source's status, the
 * log field and the `reason` label of gatehouse_jwks_refresh_failures_total.
 */
export { OIDC_SYNC_ERRORS };

export type OidcSyncErrorCode = keyof typeof OIDC_SYNC_ERRORS;

export type DiscoveryErrorCode = Extract<
  OidcSyncErrorCode,
  | 'GH_OIDC_ISSUER_INVALID'
  | 'GH_OIDC_DISCOVERY_FAILED'
  | 'GH_OIDC_METADATA_INVALID'
  | 'GH_OIDC_ISSUER_MISMATCH'
>;

/** Discovery failed or its answer was refused. Keeps the underlying error as `cause`. */
export class DiscoveryError extends GatehouseError<DiscoveryErrorCode> {
  constructor(code: DiscoveryErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'DiscoveryError';
  }
}

export type KeySourceErrorCode = Extract<
  OidcSyncErrorCode,
  | 'GH_OIDC_JWKS_FETCH_FAILED'
  | 'GH_OIDC_REFRESH_TIMEOUT'
  | 'GH_OIDC_CERTIFICATE_INVALID'
  | 'GH_OIDC_JWKS_UNUSABLE'
>;

/** Loading a key set failed for a reason other than discovery or the JWKS contents. */
export class KeySourceError extends GatehouseError<KeySourceErrorCode> {
  constructor(code: KeySourceErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'KeySourceError';
  }
}
