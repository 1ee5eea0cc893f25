import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bearer, checkInput } from '../check/check-input-factory.js';
import { bundleOnlyConfig, fixtureBundle } from '../helpers/policy-bundles.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { startBundleServer, type BundleServer } from '../sync/bundle/helpers/bundle-server.js';
import { tarGz } from '../sync/bundle/helpers/tar-writer.js';

// The control loop against a real HTTP bundle server serving bundles built by the real
// `opa build`. Every fault must leave the last good snapshot serving, with the same answers.

let server: BundleServer;
let good: Buffer;
const running: TestGatehouse[] = [];

beforeAll(async () => {
  server = await startBundleServer();
  good = await fixtureBundle('rev-good');
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.close()));
});

function serve(body: Buffer, etag = '"good"'): void {
  server.reply(() => ({
    status: 200,
    headers: { etag, 'content-type': 'application/gzip' },
    body,
  }));
}

async function startWithBundle(extra: Record<string, unknown> = {}): Promise<TestGatehouse> {
  const t = await startTestGatehouse({
    config: {
      ...bundleOnlyConfig(
        server.url,
        { dir: await mkdtemp(path.join(tmpdir(), 'gatehouse-state-')) },
        { requestTimeoutMs: 1000, ...extra },
      ),
    },
  });
  running.push(t);
  return t;
}

async function readerAllowed(t: TestGatehouse): Promise<boolean> {
  const token = await t.issuer.sign();
  return (await t.gatehouse.pipeline.check(checkInput({ headers: bearer(token) }))).allowed;
}

describe('policies from an OPA bundle server', () => {
  it('loads the bundle, answers from it, and reports its revision', async () => {
    serve(good);
    const t = await startWithBundle();
    expect(t.gatehouse.ready).toBe(true);
    expect(t.gatehouse.store.current()?.sourceRevision).toBe('rev-good');
    expect(await readerAllowed(t)).toBe(true);
    const admin = await t.gatehouse.pipeline.check(
      checkInput({ path: '/admin', headers: bearer(await t.issuer.sign()) }),
    );
    expect(admin).toMatchObject({ allowed: false, code: 'GH_ERR_POLICY_DENIED' });
  });

  it('sends If-None-Match and treats 304 as nothing new', async () => {
    serve(good, '"v1"');
    const t = await startWithBundle();
    server.reply((_, headers) =>
      headers['if-none-match'] === '"v1"' ? { status: 304 } : { status: 200, body: good },
    );
    const before = server.requests.length;
    expect(await t.gatehouse.reloadPolicies()).toBe(false);
    expect(server.requests.at(-1)?.headers['if-none-match']).toBe('"v1"');
    expect(server.requests.length).toBe(before + 1);
    expect(await readerAllowed(t)).toBe(true);
  });

  const faults: Array<[string, () => void]> = [
    [
      'answers 500',
      () => {
        server.reply(() => ({ status: 500, body: 'oops' }));
      },
    ],
    [
      'answers garbage',
      () => {
        server.reply(() => ({ status: 200, body: 'this is not a tarball' }));
      },
    ],
    [
      'sends a truncated tarball',
      () => {
        server.reply(() => ({ status: 200, body: good.subarray(0, good.length / 2) }));
      },
    ],
    [
      'is slow past the timeout',
      () => {
        server.reply(() => ({ status: 200, body: good, delayMs: 3000 }));
      },
    ],
    [
      'sends a tarball with ../ paths',
      () => {
        server.reply(() => ({
          status: 200,
          body: tarGz([
            { path: '/../../etc/evil.rego', content: 'package evil\n\nallow := true\n' },
            { path: '/data.json', content: '{}' },
          ]),
        }));
      },
    ],
  ];

  it.each(faults)('keeps the last good snapshot when the server %s', async (_, fault) => {
    serve(good);
    const t = await startWithBundle();
    const revision = t.gatehouse.store.current()?.revision;
    fault();
    expect(await t.gatehouse.reloadPolicies()).toBe(false);
    expect(t.gatehouse.store.current()?.revision).toBe(revision);
    expect(await readerAllowed(t)).toBe(true);
  });

  it('keeps the last good snapshot when the new bundle does not compile', async () => {
    serve(good);
    const t = await startWithBundle();
    const revision = t.gatehouse.store.current()?.revision;
    const broken = await fixtureBundle(
      'rev-broken',
      (files) => {
        files['admin.rego'] = 'package test.admin\n\nallow if { input.x ==\n';
      },
      ['--ignore', '*.none'],
    ).catch(() => undefined);
    // opa build itself refuses to build unparseable Rego; a server could still ship it, so
    // hand-pack the same files.
    const body =
      broken ??
      tarGz([
        { path: '/admin.rego', content: 'package test.admin\n\nallow if { input.x ==\n' },
        { path: '/.manifest', content: '{"revision":"rev-broken"}' },
      ]);
    serve(body, '"broken"');
    expect(await t.gatehouse.reloadPolicies()).toBe(false);
    expect(t.gatehouse.store.current()?.revision).toBe(revision);
    expect(await readerAllowed(t)).toBe(true);
  });

  it('keeps the last good snapshot when the server is down, and never was ready without one', async () => {
    const own = await startBundleServer();
    own.reply(() => ({ status: 200, headers: { etag: '"own"' }, body: good }));
    const t = await startTestGatehouse({
      config: {
        ...bundleOnlyConfig(own.url, { enabled: false }, { requestTimeoutMs: 500 }),
      },
    });
    running.push(t);
    const revision = t.gatehouse.store.current()?.revision;
    await own.close(); // connection refused from now on
    expect(await t.gatehouse.reloadPolicies()).toBe(false);
    expect(t.gatehouse.store.current()?.revision).toBe(revision);
    expect(await readerAllowed(t)).toBe(true);

    // A fresh Gatehouse that never reached the server has nothing to serve: explicit denies.
    const offline = await startTestGatehouse({
      config: {
        ...bundleOnlyConfig(own.url, { enabled: false }, { requestTimeoutMs: 500 }),
      },
    });
    running.push(offline);
    expect(offline.gatehouse.ready).toBe(false);
    expect(await offline.gatehouse.pipeline.check(checkInput({}))).toMatchObject({
      allowed: false,
      code: 'GH_ERR_NO_SNAPSHOT',
    });
  });

  it('restarts with the server down and serves the persisted snapshot at once', async () => {
    serve(good);
    const stateDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-state-'));
    const first = await startTestGatehouse({
      config: {
        ...bundleOnlyConfig(server.url, { dir: stateDir }, { requestTimeoutMs: 1000 }),
      },
    });
    const token = await first.issuer.sign();
    const revision = first.gatehouse.store.current()?.revision;
    await first.close();

    server.reply(() => ({ status: 503 }));
    const second = await startTestGatehouse({
      config: {
        ...bundleOnlyConfig(server.url, { dir: stateDir }, { requestTimeoutMs: 1000 }),
        issuers: first.config.issuers,
      },
    });
    running.push(second);
    expect(second.gatehouse.ready).toBe(true);
    expect(second.gatehouse.store.current()?.revision).toBe(revision);
    expect(
      (await second.gatehouse.pipeline.check(checkInput({ headers: bearer(token) }))).allowed,
    ).toBe(true);
  });

  it('loads a bundle carrying policy.wasm without any opa installed', async () => {
    const entrypoints = [
      'test/global/allow',
      'test/orders_service/allow',
      'test/orders_read/allow',
      'test/orders_write/allow',
      'test/users_me/allow',
      'test/users_by_id/allow',
      'test/admin/allow',
      'test/optional/allow',
      'test/broken_conflict/allow',
      'test/broken_junk/allow',
      'test/broken_status/allow',
      'test/broken_header/allow',
    ];
    const wasmBundle = await fixtureBundle('rev-wasm', undefined, [
      '-t',
      'wasm',
      ...entrypoints.flatMap((e) => ['-e', e]),
    ]);
    serve(wasmBundle, '"wasm"');
    const t = await startTestGatehouse({
      config: {
        opa: { binary: '/nonexistent/opa' },
        ...bundleOnlyConfig(server.url, { enabled: false }),
      },
    });
    running.push(t);
    expect(t.gatehouse.ready).toBe(true);
    expect(await readerAllowed(t)).toBe(true);
  });
});
