import { BUNDLE_ERRORS } from '../../errors/error-codes.js';
import { GatehouseError } from '../../errors/gatehouse-error.js';

/**
 * The closed set of bundle error codes; what each means is in the one registry
 * (src/errors/error-codes.ts). Each is a log field and the `lastError.code` of the policy
 * source, so a dashboard can tell a tampered bundle from a flaky network.
 */
export const BUNDLE_ERROR_CODES = BUNDLE_ERRORS;

export type BundleErrorCode = keyof typeof BUNDLE_ERROR_CODES;

/** Everything that goes wrong with a bundle is one of these; the previous snapshot keeps serving. */
export class BundleError extends GatehouseError<BundleErrorCode> {
  constructor(code: BundleErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'BundleError';
  }
}
