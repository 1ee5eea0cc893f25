import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, checkInput } from '../check/check-input-factory.js';
import { bundleOnlyConfig, fixtureBundle } from '../helpers/policy-bundles.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { startBundleServer, type BundleServer } from '../sync/bundle/helpers/bundle-server.js';
import { pemKeyPair } from '../sync/bundle/helpers/keys.js';
import { repack, writeKeyFile } from '../sync/bundle/helpers/opa-cli.js';

// Signed bundles end to end: `opa build --signing-key` signs, Gatehouse verifies with the
// configured public key. An unsigned, tampered or foreign-signed bundle is never activated.

let server: BundleServer;
let keyDir: string;
let publicKeyFile: string;
let signingKeyFile: string;
let otherKeyFile: string;
let t: TestGatehouse;

beforeAll(async () => {
  server = await startBundleServer();
  keyDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-signing-'));
  const ours = pemKeyPair('rsa');
  const theirs = pemKeyPair('rsa');
  signingKeyFile = await writeKeyFile(keyDir, 'signing.pem', ours.privatePem);
  publicKeyFile = await writeKeyFile(keyDir, 'public.pem', ours.publicPem);
  otherKeyFile = await writeKeyFile(keyDir, 'other.pem', theirs.privatePem);
  const signed = await fixtureBundle('signed-1', undefined, [
    '--signing-key',
    signingKeyFile,
    '--signing-alg',
    'RS256',
  ]);
  server.reply(() => ({ status: 200, headers: { etag: '"signed-1"' }, body: signed }));
  t = await startTestGatehouse({
    config: {
      ...bundleOnlyConfig(
        server.url,
        { enabled: false },
        { signing: { publicKeyFile, algorithm: 'RS256' } },
      ),
    },
  });
});
afterAll(async () => {
  await t.close();
  await server.close();
});

async function adminAllowedForReader(): Promise<boolean> {
  const token = await t.issuer.sign();
  return (await t.gatehouse.pipeline.check(checkInput({ path: '/admin', headers: bearer(token) })))
    .allowed;
}

/** A bundle whose admin policy lets readers in: what an attacker would love to ship. */
async function evilBundle(args: readonly string[]): Promise<Buffer> {
  return fixtureBundle(
    'evil',
    (files) => {
      files['admin.rego'] = 'package test.admin\n\nallow := true\n';
    },
    args,
  );
}

describe('signed bundles', () => {
  it('activates a bundle signed by the configured key', () => {
    expect(t.gatehouse.ready).toBe(true);
    expect(t.gatehouse.store.current()?.sourceRevision).toBe('signed-1');
  });

  it.each([
    ['unsigned', () => evilBundle([])],
    [
      'signed by another key',
      () => evilBundle(['--signing-key', otherKeyFile, '--signing-alg', 'RS256']),
    ],
    [
      'tampered after signing',
      async () => {
        const signed = await fixtureBundle('signed-2', undefined, [
          '--signing-key',
          signingKeyFile,
          '--signing-alg',
          'RS256',
        ]);
        return repack(signed, (entries) =>
          entries.map((entry) =>
            entry.path.endsWith('admin.rego')
              ? { ...entry, content: Buffer.from('package test.admin\n\nallow := true\n') }
              : entry,
          ),
        );
      },
    ],
  ])('never activates a bundle that is %s', async (_, make) => {
    const revision = t.gatehouse.store.current()?.revision;
    const body = await make();
    server.reply(() => ({ status: 200, headers: { etag: `"${String(Math.random())}"` }, body }));
    expect(await t.gatehouse.reloadPolicies()).toBe(false);
    expect(t.gatehouse.store.current()?.revision).toBe(revision);
    expect(await adminAllowedForReader()).toBe(false);
  });
});
