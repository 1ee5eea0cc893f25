import { GatehouseError } from '../../errors/gatehouse-error.js';

/** What Gatehouse reads from a bundle's .manifest (OPA bundle format, "Manifest"). */
export interface BundleManifest {
  readonly revision: string;
  /** Data and policy paths the bundle owns, without leading or trailing "/"; [""] is everything. */
  readonly roots: readonly string[];
  /** The manifest as decoded, for fields Gatehouse does not interpret (metadata, wasm, ...). */
  readonly raw: unknown;
}

export class ManifestError extends GatehouseError<'GH_BUNDLE_INVALID'> {
  constructor(message: string, options?: ErrorOptions) {
    super('GH_BUNDLE_INVALID', message, options);
    this.name = 'ManifestError';
  }
}

/** A bundle without a .manifest: no revision, and it owns the whole data tree (OPA's default). */
export const NO_MANIFEST: BundleManifest = Object.freeze({
  revision: '',
  roots: Object.freeze(['']),
  raw: undefined,
});

/**
 * Parses .manifest. OPA decodes it as JSON into a typed struct, so a revision that is not a
 * string or roots that are not strings fail there too; roots are trimmed of "/" and must
 * not overlap (bundle/bundle.go, validateAndInjectDefaults).
 */
export function parseManifest(content: Buffer): BundleManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(content.toString('utf8')) as unknown;
  } catch (error) {
    throw new ManifestError(`.manifest is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ManifestError('.manifest must hold a JSON object');
  }
  const { revision, roots } = raw as { revision?: unknown; roots?: unknown };
  if (revision !== undefined && typeof revision !== 'string') {
    throw new ManifestError('.manifest "revision" must be a string');
  }
  let rootList: string[] = [''];
  if (roots !== undefined && roots !== null) {
    if (!Array.isArray(roots) || !roots.every((root): root is string => typeof root === 'string')) {
      throw new ManifestError('.manifest "roots" must be an array of strings');
    }
    rootList = roots.map((root) => root.replace(/^\/+|\/+$/g, ''));
  }
  for (let i = 0; i < rootList.length; i++) {
    for (let j = i + 1; j < rootList.length; j++) {
      const [a, b] = [rootList[i] ?? '', rootList[j] ?? ''];
      if (rootsOverlap(a, b)) {
        throw new ManifestError(`.manifest has overlapping roots "${a}" and "${b}"`);
      }
    }
  }
  return Object.freeze({ revision: revision ?? '', roots: Object.freeze(rootList), raw });
}

/** "a" and "a/b" overlap, "a" and "ab" do not; "" overlaps everything (OPA RootPathsOverlap). */
function rootsOverlap(a: string, b: string): boolean {
  if (a === '' || b === '') return true;
  const first = a.split('/');
  const second = b.split('/');
  const common = Math.min(first.length, second.length);
  return first.slice(0, common).join('/') === second.slice(0, common).join('/');
}
