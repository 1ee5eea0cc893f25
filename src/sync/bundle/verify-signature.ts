import { createPublicKey } from 'node:crypto';
import { compactVerify, errors, type KeyInput } from 'jose';
import { BundleError } from './bundle-error.js';
import { fileDigest, FileDigestError } from './file-digest.js';
import type { BundleSigningAlgorithm } from '../../jose/jws-algorithms.js';

/** How to check a bundle's signature, the counterpart of OPA's `bundles.<name>.signing` and `keys`. */
export interface BundleVerification {
  /**
   * For RS/PS/ES: a PEM public key ("PUBLIC KEY", "RSA PUBLIC KEY") or certificate, a
   * public JWK, or a KeyObject / CryptoKey. For HS: the shared secret, as a string (its
   * UTF-8 bytes, as OPA's `keys.<id>.key`) or bytes. A private key is refused: a sidecar
   * only needs the public half, and should not be handed the other.
   */
  readonly key: string | KeyInput;
  /** The only algorithm accepted: the JWS header cannot pick another (no algorithm confusion). */
  readonly algorithm: BundleSigningAlgorithm;
  /**
   * The key's name, as in OPA's `signing.keyid`. As in OPA (bundle/verify.go), a configured
   * key id takes precedence over the token's `kid`, so the token's `kid` never selects a
   * key; there is exactly one. It appears in error messages.
   */
  readonly keyId?: string;
  /** Must equal the signature's `scope` claim; both default to "" (OPA bundle/verify.go). */
  readonly scope?: string;
}

/** The signatures file and the JWT `files` claim (OPA docs, "Signature Format"). */
interface SignedFile {
  readonly name: string;
  readonly hash: string;
  readonly algorithm: string;
}

export const SIGNATURES_FILE = '.signatures.json';

/**
 * Verifies a bundle against its .signatures.json as OPA does (bundle/verify.go): exactly one
 * JWS, valid under the configured key and algorithm, with the configured scope, whose
 * `files` list matches the bundle exactly: every file except .signatures.json listed, with
 * an equal digest, and no listed file missing. Throws GH_BUNDLE_SIGNATURE_INVALID on any
 * failure, naming the file.
 *
 * `files` maps bundle paths (normalized, no leading "/") to contents.
 */
export async function verifyBundleSignature(
  files: ReadonlyMap<string, Buffer>,
  verification: BundleVerification,
): Promise<void> {
  const signatures = files.get(SIGNATURES_FILE);
  if (signatures === undefined) {
    throw invalid(
      `the bundle is not signed: it has no ${SIGNATURES_FILE}, and verification is configured`,
    );
  }
  const token = singleToken(signatures);
  const key = verificationKey(verification);
  const keyName =
    verification.keyId === undefined ? 'the configured key' : `key "${verification.keyId}"`;

  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(token, key, { algorithms: [verification.algorithm] }));
  } catch (error) {
    if (error instanceof errors.JOSEAlgNotAllowed) {
      throw invalid(
        `${SIGNATURES_FILE}: the signature uses another algorithm than ${verification.algorithm}`,
        error,
      );
    }
    if (error instanceof errors.JWSSignatureVerificationFailed) {
      throw invalid(`${SIGNATURES_FILE}: the signature does not verify with ${keyName}`, error);
    }
    throw invalid(`${SIGNATURES_FILE}: ${(error as Error).message}`, error);
  }

  const claims = parseClaims(payload);
  const expectedScope = verification.scope ?? '';
  if (claims.scope !== expectedScope) {
    throw invalid(
      `${SIGNATURES_FILE}: the signature's scope ${JSON.stringify(claims.scope)} is not the configured ${JSON.stringify(expectedScope)}`,
    );
  }
  checkFiles(files, claims.files);
}

function checkFiles(files: ReadonlyMap<string, Buffer>, signed: readonly SignedFile[]): void {
  const unmatched = new Map<string, SignedFile>();
  for (const entry of signed) {
    if (unmatched.has(entry.name)) {
      throw invalid(`${SIGNATURES_FILE}: the signature lists ${entry.name} twice`);
    }
    unmatched.set(entry.name, entry);
  }
  for (const [path, content] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (path === SIGNATURES_FILE) continue;
    const entry = unmatched.get(path);
    if (entry === undefined) {
      throw invalid(
        `${path} is not covered by the signature: it was added or renamed after signing`,
      );
    }
    let digest: string;
    try {
      digest = fileDigest(path, content, entry.algorithm);
    } catch (error) {
      if (error instanceof FileDigestError) throw invalid(error.message, error);
      throw error;
    }
    if (digest !== entry.hash.toLowerCase()) {
      throw invalid(
        `${path} does not match its signed ${entry.algorithm} digest: it was changed after signing`,
      );
    }
    unmatched.delete(path);
  }
  if (unmatched.size > 0) {
    throw invalid(
      `the signature lists files the bundle does not contain: ${[...unmatched.keys()].sort().join(', ')}`,
    );
  }
}

/** .signatures.json is `{"signatures": ["<JWS>"], "plugin": "..."}`; OPA accepts exactly one JWS. */
function singleToken(content: Buffer): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content.toString('utf8')) as unknown;
  } catch (error) {
    throw invalid(`${SIGNATURES_FILE} is not valid JSON: ${(error as Error).message}`, error);
  }
  const { signatures, plugin } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
    signatures?: unknown;
    plugin?: unknown;
  };
  // "_default" is OPA's built-in verifier, which `opa build` names; any other plugin is a
  // verifier compiled into some OPA build, whose rules Gatehouse cannot know.
  if (plugin !== undefined && plugin !== '' && plugin !== '_default') {
    throw invalid(
      `${SIGNATURES_FILE} asks for the signing plugin ${JSON.stringify(plugin)}, which Gatehouse does not have`,
    );
  }
  if (!Array.isArray(signatures) || signatures.length !== 1 || typeof signatures[0] !== 'string') {
    throw invalid(`${SIGNATURES_FILE} must hold "signatures": an array of exactly one JWS`);
  }
  return signatures[0];
}

function parseClaims(payload: Uint8Array): { scope: string; files: SignedFile[] } {
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload).toString('utf8')) as unknown;
  } catch (error) {
    throw invalid(`${SIGNATURES_FILE}: the signed payload is not JSON`, error);
  }
  const { files, scope } = (typeof claims === 'object' && claims !== null ? claims : {}) as {
    files?: unknown;
    scope?: unknown;
  };
  if (scope !== undefined && typeof scope !== 'string') {
    throw invalid(`${SIGNATURES_FILE}: the signed "scope" must be a string`);
  }
  if (!Array.isArray(files) || !files.every(isSignedFile)) {
    throw invalid(
      `${SIGNATURES_FILE}: the signed "files" must be a list of {name, hash, algorithm}`,
    );
  }
  return { scope: scope ?? '', files };
}

function isSignedFile(value: unknown): value is SignedFile {
  if (typeof value !== 'object' || value === null) return false;
  const { name, hash, algorithm } = value as Record<string, unknown>;
  return typeof name === 'string' && typeof hash === 'string' && typeof algorithm === 'string';
}

function verificationKey(verification: BundleVerification): KeyInput {
  const { key, algorithm } = verification;
  if (algorithm.startsWith('HS')) {
    return typeof key === 'string' ? new TextEncoder().encode(key) : key;
  }
  if (typeof key !== 'string') {
    if (key instanceof Uint8Array) {
      throw options(`verification.key: ${algorithm} needs a public key, not raw bytes`);
    }
    return key;
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
    throw options(
      'verification.key is a private key: configure the public key (or certificate) instead',
    );
  }
  try {
    // Node reads every PEM form OPA accepts for verification: SPKI, PKCS#1, X.509.
    return createPublicKey(key);
  } catch (error) {
    throw options(
      `verification.key is not a PEM public key or certificate: ${(error as Error).message}`,
      error,
    );
  }
}

function invalid(message: string, cause?: unknown): BundleError {
  return new BundleError(
    'GH_BUNDLE_SIGNATURE_INVALID',
    message,
    cause === undefined ? undefined : { cause },
  );
}

function options(message: string, cause?: unknown): BundleError {
  return new BundleError(
    'GH_BUNDLE_OPTIONS_INVALID',
    message,
    cause === undefined ? undefined : { cause },
  );
}
