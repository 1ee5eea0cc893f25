import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { baseName } from './bundle-paths.js';
import { canonicalJsonFromText, canonicalJsonFromValue } from './canonical-json.js';
import { GatehouseError } from '../../errors/gatehouse-error.js';

/**
 * Files whose signature digest covers their parsed content rather than their bytes
 * (OPA bundle/bundle.go, IsStructuredDoc). data.yml is on the list too: `opa sign` and the
 * verifier of OPA 1.22 both hash it parsed, as checked in test/sync/bundle.
 */
const STRUCTURED_FILES = new Set([
  'data.json',
  'data.yaml',
  'data.yml',
  '.manifest',
  '.signatures.json',
]);

/**
 * The JWS `files[].algorithm` names OPA may write (bundle/hash.go) mapped to node:crypto.
 * MD5 and SHA-1 are left out on purpose: collisions are practical for both, so a digest
 * in either would let whoever prepares a bundle swap a file for a colliding one.
 */
const HASH_ALGORITHMS: Readonly<Record<string, string>> = {
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512-224': 'sha512-224',
  'SHA-512-256': 'sha512-256',
};

export class FileDigestError extends GatehouseError<'GH_BUNDLE_SIGNATURE_INVALID'> {
  constructor(message: string, options?: ErrorOptions) {
    super('GH_BUNDLE_SIGNATURE_INVALID', message, options);
    this.name = 'FileDigestError';
  }
}

export function isStructuredFile(path: string): boolean {
  return STRUCTURED_FILES.has(baseName(path));
}

/**
 * The bytes OPA hashes for a bundle file: the raw content, or for a structured file its
 * canonical JSON (see canonical-json.ts). Like OPA's util.Unmarshal, a structured file that
 * is not JSON is read as YAML.
 */
export function signedBytes(path: string, content: Buffer): Buffer {
  if (!isStructuredFile(path)) return content;
  const text = content.toString('utf8');
  let canonical: string;
  try {
    canonical = canonicalJsonFromText(text);
  } catch (jsonError) {
    try {
      canonical = canonicalJsonFromValue(parseYaml(text) as unknown);
    } catch (yamlError) {
      throw new FileDigestError(
        `${path} is neither JSON (${(jsonError as Error).message}) nor YAML (${(yamlError as Error).message})`,
        { cause: yamlError },
      );
    }
  }
  return Buffer.from(canonical, 'utf8');
}

/** Hex digest of `path` as a bundle signature lists it; `algorithm` is the JWS name, e.g. "SHA-256". */
export function fileDigest(path: string, content: Buffer, algorithm: string): string {
  const nodeAlgorithm = HASH_ALGORITHMS[algorithm];
  if (nodeAlgorithm === undefined) {
    throw new FileDigestError(
      `${path}: hashing algorithm ${JSON.stringify(algorithm)} is not accepted ` +
        `(accepted: ${Object.keys(HASH_ALGORITHMS).join(', ')})`,
    );
  }
  return createHash(nodeAlgorithm).update(signedBytes(path, content)).digest('hex');
}
