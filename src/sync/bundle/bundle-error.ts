/**
 * The closed set of bundle error codes. Each is a metric label and a log field, so a
 * dashboard can tell a tampered bundle from a flaky network.
 */
export const BUNDLE_ERROR_CODES = {
  /** The archive or a file in it is malformed: gzip, tar, JSON, YAML, manifest, data tree. */
  GH_BUNDLE_INVALID: 'the bundle is malformed',
  /** The archive, its expanded size, its file count or one file is over a configured limit. */
  GH_BUNDLE_TOO_LARGE: 'the bundle is over a size limit',
  /** A path that could escape the bundle or be read two ways: `..`, absolute, `\`, NUL, duplicate, link. */
  GH_BUNDLE_UNSAFE_PATH: 'the bundle holds an unsafe path or a link',
  /** Verification is configured and the bundle is unsigned, tampered with or signed by another key. */
  GH_BUNDLE_SIGNATURE_INVALID: 'the bundle signature does not verify',
  /** The download failed: network error, timeout, or an HTTP status other than 200 and 304. */
  GH_BUNDLE_DOWNLOAD_FAILED: 'the bundle download failed',
  /** The poller or reader was given options it cannot work with. */
  GH_BUNDLE_OPTIONS_INVALID: 'the bundle options are invalid',
} as const;

export type BundleErrorCode = keyof typeof BUNDLE_ERROR_CODES;

/** Everything that goes wrong with a bundle is one of these; the previous snapshot keeps serving. */
export class BundleError extends Error {
  constructor(
    readonly code: BundleErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'BundleError';
  }
}
