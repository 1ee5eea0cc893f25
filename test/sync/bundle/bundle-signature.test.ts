import { createPublicKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleError } from '../../../src/sync/bundle/bundle-error.js';
import { fileDigest } from '../../../src/sync/bundle/file-digest.js';
import { readBundle } from '../../../src/sync/bundle/read-bundle.js';
import type { BundleVerification } from '../../../src/sync/bundle/verify-signature.js';
import { readTarGz } from '../../../src/policy/tar-reader.js';
import { pemKeyPair, type PemKeyPair } from './helpers/keys.js';
import { opaBuild, opaSignFolder, repack, writeKeyFile } from './helpers/opa-cli.js';
import { specsOf, tarGz } from './helpers/tar-writer.js';

const POLICY = `package orders

default allow := false

allow if input.method == "GET"
`;
const CATALOG = 'apis:\n  - id: orders\n    methods: [GET]\n    pathTemplate: /orders\n';
/**
 * Data whose canonical form differs from its text in every way OPA's hashing cares about:
 * key order, whitespace, number literals ("1.50", a 20-digit integer, "1E3", "-0"), HTML
 * characters, \u escapes, U+2028, \b, non-ASCII, an emoji as a surrogate pair escape, a
 * lone surrogate, a repeated key.
 */
const TRICKY_DATA_JSON = `{
  "zeta": [3, 2, 1],
  "alpha": { "price": 1.50, "big": 12345678901234567890, "exp": 1E3, "negzero": -0 },
  "html": "<a href=\\"x\\">&amp;</a>",
  "escapes": "tab\\tbell\\u0007bs\\bff\\fsep\\u2028end\\u00e9\\ud83d\\ude00 lone\\ud800!",
  "dup": 1, "dup": 2,
  "ünïcode-key": null
}`;

let dir: string;
let rsa: PemKeyPair;
let ec: PemKeyPair;
let rsaKeyFile: string;
let ecKeyFile: string;
let otherRsa: PemKeyPair;
/** Built once: `opa build --signing-key`, RS256. */
let signedByOpaBuild: Buffer;

const rs256 = (): BundleVerification => ({ key: rsa.publicPem, algorithm: 'RS256' });

async function rejection(archive: Buffer, verification: BundleVerification): Promise<BundleError> {
  const error: unknown = await readBundle(archive, { verification }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, 'the bundle was accepted').toBeInstanceOf(BundleError);
  return error as BundleError;
}

function entriesOf(archive: Buffer): Map<string, Buffer> {
  const entries = readTarGz(archive, { maxUncompressedBytes: 1 << 26, maxFiles: 1000 });
  return new Map(entries.map((entry) => [entry.path.replace(/^\//, ''), entry.content]));
}

/** The `files` claim of the bundle's one JWS, decoded without verifying. */
function signedFiles(archive: Buffer): Array<{ name: string; hash: string; algorithm: string }> {
  const signatures = JSON.parse(entriesOf(archive).get('.signatures.json')?.toString() ?? '{}') as {
    signatures: string[];
  };
  const payload = (signatures.signatures[0] ?? '').split('.')[1] ?? '';
  return (
    JSON.parse(Buffer.from(payload, 'base64url').toString()) as {
      files: Array<{ name: string; hash: string; algorithm: string }>;
    }
  ).files;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-sign-test-'));
  rsa = pemKeyPair('rsa');
  ec = pemKeyPair('ec');
  otherRsa = pemKeyPair('rsa');
  rsaKeyFile = await writeKeyFile(dir, 'rsa.pem', rsa.privatePem);
  ecKeyFile = await writeKeyFile(dir, 'ec.pem', ec.privatePem);
  signedByOpaBuild = await opaBuild(
    { 'orders/policy.rego': POLICY, 'orders/data.json': TRICKY_DATA_JSON },
    ['--revision', 'signed-1', '--signing-key', rsaKeyFile, '--signing-alg', 'RS256'],
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('OPA signature hashing rule, checked against the real opa', () => {
  it('our digest of every file equals the one opa build signed', () => {
    const files = entriesOf(signedByOpaBuild);
    const signed = signedFiles(signedByOpaBuild);

    expect(signed.map((file) => file.name).sort()).toEqual([
      '.manifest',
      'data.json',
      'orders/policy.rego',
    ]);
    for (const file of signed) {
      const content = files.get(file.name);
      expect(content, file.name).toBeDefined();
      expect(fileDigest(file.name, content ?? Buffer.alloc(0), file.algorithm), file.name).toBe(
        file.hash,
      );
    }
  });

  it('our digest of every file equals the one opa sign signed, data.yaml and data.yml too', async () => {
    const archive = await opaSignFolder(
      {
        '.manifest': '{ "roots": [""],\n  "revision": "r7" }\n',
        'catalog.yaml': CATALOG,
        'policy.rego': POLICY,
        'orders/data.json': TRICKY_DATA_JSON,
        'users/data.yaml': 'b: 1.0\nc: yes\nnested: {z: 1, a: [x, "y"]}\n',
        'users/eu/data.yml': 'a: 1\n',
      },
      ['--signing-key', rsaKeyFile],
    );
    const files = entriesOf(archive);

    for (const file of signedFiles(archive)) {
      const content = files.get(file.name);
      expect(content, file.name).toBeDefined();
      expect(fileDigest(file.name, content ?? Buffer.alloc(0), file.algorithm), file.name).toBe(
        file.hash,
      );
    }
  });
});

describe('readBundle with verification', () => {
  it('accepts a bundle signed by opa build (RS256)', async () => {
    const bundle = await readBundle(signedByOpaBuild, { verification: rs256() });

    expect(bundle.verified).toBe(true);
    expect(bundle.revision).toBe('signed-1');
    expect(bundle.regoFiles.map((file) => file.path)).toEqual(['orders/policy.rego']);
  });

  it('accepts an ES256 signature, and a public JWK as the key', async () => {
    const archive = await opaBuild({ 'p.rego': POLICY }, [
      '--signing-key',
      ecKeyFile,
      '--signing-alg',
      'ES256',
    ]);
    const jwk = await exportJWK(createPublicKey(ec.publicPem));

    expect(
      (await readBundle(archive, { verification: { key: ec.publicPem, algorithm: 'ES256' } }))
        .verified,
    ).toBe(true);
    expect(
      (await readBundle(archive, { verification: { key: jwk, algorithm: 'ES256' } })).verified,
    ).toBe(true);
  });

  it('accepts an HS256 signature with the shared secret, and refuses another secret', async () => {
    const archive = await opaBuild({ 'p.rego': POLICY }, [
      '--signing-key',
      'correct horse battery staple',
      '--signing-alg',
      'HS256',
    ]);

    const bundle = await readBundle(archive, {
      verification: { key: 'correct horse battery staple', algorithm: 'HS256' },
    });
    expect(bundle.verified).toBe(true);
    const error = await rejection(archive, { key: 'wrong secret', algorithm: 'HS256' });
    expect(error.code).toBe('GH_BUNDLE_SIGNATURE_INVALID');
    expect(error.message).toMatch(/the signature does not verify with the configured key/);
  });

  it('accepts a folder signed by opa sign, catalog included, and reads it all', async () => {
    const archive = await opaSignFolder(
      {
        '.manifest': JSON.stringify({ revision: 'r9' }),
        'catalog.yaml': CATALOG,
        'policy.rego': POLICY,
        'orders/data.json': '{"max": 3}',
      },
      ['--signing-key', rsaKeyFile],
    );

    const bundle = await readBundle(archive, { verification: rs256() });

    expect(bundle.catalogText).toBe(CATALOG);
    expect(bundle.data).toEqual({ orders: { max: 3 } });
    expect(bundle.revision).toBe('r9');
  });

  it('unsigned bundle: refused when verification is configured', async () => {
    const unsigned = await opaBuild({ 'p.rego': POLICY });

    const error = await rejection(unsigned, rs256());

    expect(error.code).toBe('GH_BUNDLE_SIGNATURE_INVALID');
    expect(error.message).toMatch(/the bundle is not signed: it has no \.signatures\.json/);
  });

  it('ignores a signature when verification is not configured', async () => {
    const bundle = await readBundle(signedByOpaBuild);

    expect(bundle.verified).toBe(false);
    expect(bundle.files).not.toContain('.signatures.json');
  });

  it('tampering: a policy changed after signing is refused, naming the file', async () => {
    const tampered = repack(signedByOpaBuild, (entries) =>
      entries.map((entry) =>
        entry.path.endsWith('policy.rego')
          ? { ...entry, content: Buffer.from(POLICY.replace('"GET"', '"DELETE"')) }
          : entry,
      ),
    );

    const error = await rejection(tampered, rs256());

    expect(error.code).toBe('GH_BUNDLE_SIGNATURE_INVALID');
    expect(error.message).toMatch(
      /orders\/policy\.rego does not match its signed SHA-256 digest: it was changed after signing/,
    );
  });

  it('tampering: a data value changed after signing is refused', async () => {
    const tampered = repack(signedByOpaBuild, (entries) =>
      entries.map((entry) =>
        entry.path === '/data.json'
          ? { ...entry, content: Buffer.from(entry.content.toString().replace('1.50', '0.01')) }
          : entry,
      ),
    );

    const error = await rejection(tampered, rs256());

    expect(error.message).toMatch(/data\.json does not match its signed SHA-256 digest/);
  });

  it('reformatting data.json (whitespace, key order, escapes) keeps the signature, as in OPA', async () => {
    // opa build rewrote the data compactly, keys sorted; the hand-written text differs in
    // every formatting detail but holds the same document.
    const reformatted = repack(signedByOpaBuild, (entries) =>
      entries.map((entry) =>
        entry.path === '/data.json'
          ? { ...entry, content: Buffer.from(`{\n  "orders": ${TRICKY_DATA_JSON}\n}\n`) }
          : entry,
      ),
    );
    expect(entriesOf(reformatted).get('data.json')).not.toEqual(
      entriesOf(signedByOpaBuild).get('data.json'),
    );

    const bundle = await readBundle(reformatted, { verification: rs256() });

    expect(bundle.verified).toBe(true);
  });

  it('tampering: a file added after signing is refused', async () => {
    const added = repack(signedByOpaBuild, (entries) => [
      ...entries,
      { path: '/backdoor.rego', content: Buffer.from('package backdoor\n\nallow := true\n') },
    ]);

    const error = await rejection(added, rs256());

    expect(error.message).toMatch(/backdoor\.rego is not covered by the signature/);
  });

  it('tampering: a signed file removed is refused', async () => {
    const removed = repack(signedByOpaBuild, (entries) =>
      entries.filter((entry) => !entry.path.endsWith('policy.rego')),
    );

    const error = await rejection(removed, rs256());

    expect(error.message).toMatch(
      /the signature lists files the bundle does not contain: orders\/policy\.rego/,
    );
  });

  it('signature by another key: refused', async () => {
    const error = await rejection(signedByOpaBuild, {
      key: otherRsa.publicPem,
      algorithm: 'RS256',
      keyId: 'prod-2024',
    });

    expect(error.code).toBe('GH_BUNDLE_SIGNATURE_INVALID');
    expect(error.message).toMatch(/the signature does not verify with key "prod-2024"/);
  });

  it('algorithm confusion: a token whose alg is not the configured one is refused', async () => {
    const error = await rejection(signedByOpaBuild, { key: rsa.publicPem, algorithm: 'PS256' });

    expect(error.message).toMatch(/the signature uses another algorithm than PS256/);
  });

  it('a forged payload under the original signature is refused', async () => {
    const forged = repack(signedByOpaBuild, (entries) =>
      entries.map((entry) => {
        if (entry.path !== '/.signatures.json') return entry;
        const { signatures } = JSON.parse(entry.content.toString()) as { signatures: string[] };
        const [header, , signature] = (signatures[0] ?? '').split('.');
        const payload = Buffer.from(JSON.stringify({ files: [] })).toString('base64url');
        return {
          ...entry,
          content: Buffer.from(
            JSON.stringify({ signatures: [`${header}.${payload}.${signature}`] }),
          ),
        };
      }),
    );

    const error = await rejection(forged, rs256());

    expect(error.message).toMatch(/does not verify/);
  });

  it('refuses a signatures file with two tokens (OPA accepts exactly one)', async () => {
    const doubled = repack(signedByOpaBuild, (entries) =>
      entries.map((entry) => {
        if (entry.path !== '/.signatures.json') return entry;
        const { signatures } = JSON.parse(entry.content.toString()) as { signatures: string[] };
        return {
          ...entry,
          content: Buffer.from(JSON.stringify({ signatures: [...signatures, ...signatures] })),
        };
      }),
    );

    const error = await rejection(doubled, rs256());

    expect(error.message).toMatch(/must hold "signatures": an array of exactly one JWS/);
  });

  it('checks the scope claim (opa build --claims-file)', async () => {
    const claimsFile = await writeKeyFile(dir, 'claims.json', JSON.stringify({ scope: 'write' }));
    const scoped = await opaBuild({ 'p.rego': POLICY }, [
      '--signing-key',
      rsaKeyFile,
      '--claims-file',
      claimsFile,
    ]);

    expect(
      (await readBundle(scoped, { verification: { ...rs256(), scope: 'write' } })).verified,
    ).toBe(true);
    const unscoped = await rejection(scoped, rs256());
    expect(unscoped.message).toMatch(/the signature's scope "write" is not the configured ""/);
    const other = await rejection(signedByOpaBuild, { ...rs256(), scope: 'write' });
    expect(other.message).toMatch(/the signature's scope "" is not the configured "write"/);
  });

  it('refuses a private key as the verification key', async () => {
    const error = await rejection(signedByOpaBuild, { key: rsa.privatePem, algorithm: 'RS256' });

    expect(error.code).toBe('GH_BUNDLE_OPTIONS_INVALID');
    expect(error.message).toMatch(/verification\.key is a private key/);
  });

  it('refuses a hand-made signatures file that is not JSON', async () => {
    const archive = tarGz(specsOf({ '/.signatures.json': 'nope', '/p.rego': POLICY }));

    const error = await rejection(archive, rs256());

    expect(error.message).toMatch(/\.signatures\.json is not valid JSON/);
  });
});
