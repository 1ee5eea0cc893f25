import { BundleError } from './bundle-error.js';

/** Bounds on what a bundle may make Gatehouse hold in memory. All sizes in bytes. */
export interface BundleLimits {
  /** The archive as downloaded (gzip'ed). */
  readonly maxCompressedBytes: number;
  /** The tar stream after gunzip: the guard against gzip bombs. */
  readonly maxUncompressedBytes: number;
  /** Regular files in the archive. */
  readonly maxFiles: number;
  /** Any one file, checked against its tar header before it is read. */
  readonly maxFileBytes: number;
}

const MIB = 1024 * 1024;

/**
 * Roomy for policy bundles (OPA's own default caps each file at 1 GiB, which is far more
 * than a sidecar should buffer), tight enough that a hostile server cannot exhaust memory.
 */
export const DEFAULT_BUNDLE_LIMITS: BundleLimits = Object.freeze({
  maxCompressedBytes: 32 * MIB,
  maxUncompressedBytes: 128 * MIB,
  maxFiles: 10_000,
  maxFileBytes: 16 * MIB,
});

/** Throws GH_BUNDLE_OPTIONS_INVALID naming the first limit that is not a positive integer. */
export function validateBundleLimits(limits: BundleLimits, optionName = 'limits'): BundleLimits {
  for (const key of [
    'maxCompressedBytes',
    'maxUncompressedBytes',
    'maxFiles',
    'maxFileBytes',
  ] as const) {
    const value = limits[key];
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new BundleError(
        'GH_BUNDLE_OPTIONS_INVALID',
        `${optionName}.${key} must be a positive integer, got ${String(value)}`,
      );
    }
  }
  return limits;
}
