import { createHash } from 'node:crypto';
import {
  compileDeclarativePolicy,
  isDeclarativePolicyFile,
} from '../../policy/declarative/compile-declarative.js';
import type { RegoFile } from '../../policy/compile-wasm.js';
import {
  readTarGzBounded,
  TarEntryTypeError,
  TarLimitError,
  type TarEntry,
} from '../../policy/tar-reader.js';
import { BundleError, type BundleErrorCode } from './bundle-error.js';
import { DEFAULT_BUNDLE_LIMITS, validateBundleLimits, type BundleLimits } from './bundle-limits.js';
import { baseName, directorySegments, normalizeBundlePath } from './bundle-paths.js';
import { insertDataFile, parseDataFile, type DataTree } from './data-tree.js';
import { NO_MANIFEST, parseManifest } from './manifest.js';
import type { OpenApiFile } from '../openapi/catalog-with-openapi.js';
import { isOpenApiDocumentFile } from '../openapi/parse-openapi.js';
import {
  SIGNATURES_FILE,
  verifyBundleSignature,
  type BundleVerification,
} from './verify-signature.js';
import { CONFIG_DEFAULTS } from '../../config/schema.js';

/** A bundle as Gatehouse uses it: Rego to compile, the data document, the API catalog. */
export interface Bundle {
  /** `.manifest` revision, or '' when the bundle has no manifest or no revision. */
  readonly revision: string;
  /** `.manifest` roots, or [''] (the whole tree) by default. */
  readonly roots: readonly string[];
  /** Every `*.rego` except `*_test.rego` (tests are for `opa test`), sorted by path. */
  readonly regoFiles: readonly RegoFile[];
  /** Every data.json / data.yaml / data.yml merged at its directory path. */
  readonly data: DataTree;
  /** The API catalog file, when the bundle has one. */
  readonly catalogText: string | undefined;
  /** Every `*.openapi.yaml|yml|json`, sorted by path: one catalog service each (src/sync/openapi/). */
  readonly openApiFiles: readonly OpenApiFile[];
  /** `/policy.wasm`, as `opa build -t wasm` writes it. */
  readonly wasm: Buffer | undefined;
  /** `.manifest` as decoded, or undefined. */
  readonly manifest: unknown;
  /** sha256 over every file but .signatures.json (path and content), for change detection. */
  readonly filesHash: string;
  /** Bundle paths, sorted, without .signatures.json. */
  readonly files: readonly string[];
  /** Whether the signature was verified (only when verification was configured). */
  readonly verified: boolean;
}

export interface ReadBundleOptions {
  /** Default {@link DEFAULT_BUNDLE_LIMITS}. */
  readonly limits?: BundleLimits;
  /** The API catalog, relative to the bundle root. Default 'catalog.yaml'. */
  readonly catalogFile?: string;
  /** When set, the bundle must be signed by this key (OPA bundle signing); otherwise a signature is ignored. */
  readonly verification?: BundleVerification;
  /** Where the bundle came from (a URL), to name it in error messages. */
  readonly source?: string;
}

/** The schema's catalogFile default (policies.catalogFile and bundle.catalogFile). */
export const DEFAULT_CATALOG_FILE = CONFIG_DEFAULTS.policies.catalogFile;

const WASM_FILE = 'policy.wasm';
const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);
/** The text files Gatehouse reads must be UTF-8; a stray byte is a corrupt file, not data. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Reads an OPA bundle (a gzip'ed tarball: OPA docs, "Bundle File Format") from memory.
 * Nothing in the archive is trusted until it is checked: sizes against `limits`, every
 * path against traversal and ambiguity, then, when configured, the signature over every
 * file, and only then are files parsed. Throws BundleError; never returns half a bundle.
 */
export async function readBundle(
  archive: Buffer,
  options: ReadBundleOptions = {},
): Promise<Bundle> {
  const limits = validateBundleLimits(options.limits ?? DEFAULT_BUNDLE_LIMITS);
  const fail = (code: BundleErrorCode, message: string, cause?: unknown): BundleError =>
    new BundleError(
      code,
      options.source === undefined ? message : `bundle ${options.source}: ${message}`,
      cause === undefined ? undefined : { cause },
    );
  const catalogFile = catalogPath(options.catalogFile ?? DEFAULT_CATALOG_FILE);

  if (archive.length > limits.maxCompressedBytes) {
    throw fail(
      'GH_BUNDLE_TOO_LARGE',
      `archive is ${archive.length} bytes, over the ${limits.maxCompressedBytes}-byte limit`,
    );
  }
  const files = await unpack(archive, limits, fail);

  for (const path of files.keys()) {
    // OPA treats a bundle with patch.json as a delta bundle, a different format (OPA docs,
    // "Delta Bundles"); reading it as a snapshot would silently drop the patch.
    if (baseName(path) === 'patch.json') {
      throw fail('GH_BUNDLE_INVALID', `${path}: delta bundles are not supported`);
    }
  }
  if (options.verification !== undefined) {
    try {
      await verifyBundleSignature(files, options.verification);
    } catch (error) {
      if (error instanceof BundleError) throw fail(error.code, error.message, error);
      throw error;
    }
  }

  let manifest = NO_MANIFEST;
  const manifestFile = files.get('.manifest');
  if (manifestFile !== undefined) {
    try {
      manifest = parseManifest(manifestFile);
    } catch (error) {
      throw fail('GH_BUNDLE_INVALID', (error as Error).message, error);
    }
  }

  const data: DataTree = {};
  const regoFiles: RegoFile[] = [];
  let wasm: Buffer | undefined;
  let catalogText: string | undefined;
  const openApiFiles: OpenApiFile[] = [];
  const paths = [...files.keys()].filter((path) => path !== SIGNATURES_FILE).sort(compareUtf8);
  const filesHash = createHash('sha256');
  for (const path of paths) {
    const content = files.get(path) ?? Buffer.alloc(0);
    // Length-prefixed, so no two different file sets can feed the hash the same bytes.
    filesHash.update(`${path}\0${content.length}\0`).update(content);
    const name = baseName(path);
    try {
      if (name === 'data.json' || name === 'data.yaml' || name === 'data.yml') {
        insertDataFile(data, directorySegments(path), parseDataFile(path, content), path);
      } else if (path.endsWith('.rego') && !path.endsWith('_test.rego')) {
        regoFiles.push({ path, content: decodeText(path, content) });
      } else if (isDeclarativePolicyFile(path)) {
        // Declarative policies travel in bundles too, compiled here like a folder's.
        regoFiles.push(compileDeclarativePolicy({ path, content: decodeText(path, content) }));
      } else if (isOpenApiDocumentFile(path)) {
        openApiFiles.push({ path, content: decodeText(path, content) });
      } else if (path === WASM_FILE) {
        if (!content.subarray(0, 4).equals(WASM_MAGIC)) {
          throw new Error(`${path} is not a WebAssembly module`);
        }
        wasm = content;
      }
      if (path === catalogFile) catalogText = decodeText(path, content);
    } catch (error) {
      throw fail('GH_BUNDLE_INVALID', (error as Error).message, error);
    }
  }

  return Object.freeze({
    revision: manifest.revision,
    roots: manifest.roots,
    regoFiles: Object.freeze(regoFiles),
    data,
    catalogText,
    openApiFiles: Object.freeze(openApiFiles),
    wasm,
    manifest: manifest.raw,
    filesHash: filesHash.digest('hex'),
    files: Object.freeze(paths),
    verified: options.verification !== undefined,
  });
}

/** Gunzips and untars within the limits, then normalizes every path and refuses duplicates. */
async function unpack(
  archive: Buffer,
  limits: BundleLimits,
  fail: (code: BundleErrorCode, message: string, cause?: unknown) => BundleError,
): Promise<Map<string, Buffer>> {
  let entries: TarEntry[];
  try {
    entries = await readTarGzBounded(archive, limits);
  } catch (error) {
    const message = (error as Error).message;
    if (error instanceof TarLimitError) throw fail('GH_BUNDLE_TOO_LARGE', message, error);
    // Links and devices could point outside the bundle: the same class of attack as "../".
    if (error instanceof TarEntryTypeError) throw fail('GH_BUNDLE_UNSAFE_PATH', message, error);
    throw fail('GH_BUNDLE_INVALID', message, error);
  }
  const files = new Map<string, Buffer>();
  for (const entry of entries) {
    let path: string;
    try {
      path = normalizeBundlePath(entry.path);
    } catch (error) {
      if (error instanceof BundleError) throw fail(error.code, error.message, error);
      throw error;
    }
    // Two entries for one path: OPA would verify one and load the other, or merge them in
    // archive order; either way what is checked might not be what is used.
    if (files.has(path)) {
      throw fail('GH_BUNDLE_UNSAFE_PATH', `${path} appears more than once in the archive`);
    }
    files.set(path, entry.content);
  }
  return files;
}

function catalogPath(catalogFile: string): string {
  try {
    return normalizeBundlePath(catalogFile);
  } catch (error) {
    throw new BundleError(
      'GH_BUNDLE_OPTIONS_INVALID',
      `catalogFile ${JSON.stringify(catalogFile)} is not a path inside a bundle`,
      { cause: error },
    );
  }
}

function decodeText(path: string, content: Buffer): string {
  try {
    return utf8.decode(content);
  } catch {
    throw new Error(`${path} is not valid UTF-8`);
  }
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
