import { describe, expect, it } from 'vitest';
import { BundleError } from '../../../src/sync/bundle/bundle-error.js';
import { readBundle } from '../../../src/sync/bundle/read-bundle.js';
import { opaBuild, repack } from './helpers/opa-cli.js';
import { specsOf, tarGz } from './helpers/tar-writer.js';

const ORDERS_REGO = `package orders

default allow := false

allow if data.orders.limits.max_items > 0
`;
const ORDERS_TEST_REGO = `package orders_test

test_allow if data.orders.allow
`;
const CATALOG = `apis:
  - id: orders
    methods: [GET]
    pathTemplate: /orders
    policy: orders
`;

async function expectBundleError(
  promise: Promise<unknown>,
  code: BundleError['code'],
  message: RegExp,
): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BundleError);
  expect((error as BundleError).code).toBe(code);
  expect((error as BundleError).message).toMatch(message);
}

describe('readBundle on bundles from the real opa build', () => {
  it('reads Rego (without tests), the merged data tree, the manifest revision and roots', async () => {
    const archive = await opaBuild(
      {
        'orders/orders.rego': ORDERS_REGO,
        'orders/orders_test.rego': ORDERS_TEST_REGO,
        'orders/limits/data.json': '{"max_items": 10}',
        'data.json': '{"orders": {"region": "eu"}, "global": true}',
        'users/data.yaml': 'admins:\n  - alice\n',
      },
      ['--revision', 'rev-42'],
    );
    // opa build keeps only Rego, data, wasm and the manifest; a central server adds the
    // catalog next to them, as the tarball here does.
    const withCatalog = repack(archive, (entries) => [
      ...entries,
      { path: '/catalog.yaml', content: Buffer.from(CATALOG) },
    ]);

    const bundle = await readBundle(withCatalog);

    expect(bundle.revision).toBe('rev-42');
    expect(bundle.roots).toEqual(['']);
    expect(bundle.regoFiles.map((file) => file.path)).toEqual(['orders/orders.rego']);
    expect(bundle.regoFiles[0]?.content).toContain('package orders');
    expect(bundle.data).toEqual({
      global: true,
      orders: { region: 'eu', limits: { max_items: 10 } },
      users: { admins: ['alice'] },
    });
    expect(bundle.catalogText).toBe(CATALOG);
    expect(bundle.wasm).toBeUndefined();
    expect(bundle.manifest).toMatchObject({ revision: 'rev-42', roots: [''] });
    expect(bundle.verified).toBe(false);
    expect(bundle.filesHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('yields the module of a wasm bundle (opa build -t wasm -e ...)', async () => {
    const archive = await opaBuild({ 'orders/orders.rego': ORDERS_REGO }, [
      '-t',
      'wasm',
      '-e',
      'orders/allow',
    ]);

    const bundle = await readBundle(archive);

    expect(bundle.wasm?.subarray(0, 4)).toEqual(Buffer.from([0x00, 0x61, 0x73, 0x6d]));
    expect(bundle.manifest).toMatchObject({
      wasm: [{ entrypoint: 'orders/allow', module: '/policy.wasm' }],
    });
  });

  it('reads the manifest roots, trimmed of slashes as OPA does', async () => {
    const archive = await opaBuild({
      '.manifest': JSON.stringify({ revision: 'r1', roots: ['/orders/', 'users'] }),
      'orders/orders.rego': ORDERS_REGO,
    });

    const bundle = await readBundle(archive);

    expect(bundle.roots).toEqual(['orders', 'users']);
  });

  it('has no catalog when the bundle has none, and reads one at another path when told', async () => {
    const archive = tarGz(specsOf({ '/config/apis.yaml': CATALOG, '/p.rego': ORDERS_REGO }));

    expect((await readBundle(archive)).catalogText).toBeUndefined();
    expect((await readBundle(archive, { catalogFile: 'config/apis.yaml' })).catalogText).toBe(
      CATALOG,
    );
  });

  it('gives a bundle without .manifest no revision and the whole tree as its root', async () => {
    const bundle = await readBundle(tarGz(specsOf({ 'p.rego': ORDERS_REGO })));

    expect(bundle.revision).toBe('');
    expect(bundle.roots).toEqual(['']);
    expect(bundle.manifest).toBeUndefined();
  });

  it('keeps filesHash for the same files and changes it when one byte changes', async () => {
    const files = { '/p.rego': ORDERS_REGO, '/data.json': '{"a": 1}' };
    const first = await readBundle(tarGz(specsOf(files)));
    const reordered = await readBundle(tarGz(specsOf(files).reverse()));
    const changed = await readBundle(tarGz(specsOf({ ...files, '/data.json': '{"a": 2}' })));

    expect(reordered.filesHash).toBe(first.filesHash);
    expect(changed.filesHash).not.toBe(first.filesHash);
  });
});

describe('readBundle data tree', () => {
  it('merges objects from several files at any depth', async () => {
    const bundle = await readBundle(
      tarGz(
        specsOf({
          '/data.json': '{"orders": {"eu": {"vat": 20}}}',
          '/orders/data.json': '{"eu": {"currency": "EUR"}, "us": {}}',
          '/orders/eu/data.yml': 'open: true\n',
        }),
      ),
    );

    expect(bundle.data).toEqual({
      orders: { eu: { vat: 20, currency: 'EUR', open: true }, us: {} },
    });
  });

  it('refuses two files that set the same value', async () => {
    const archive = tarGz(
      specsOf({
        '/data.json': '{"orders": {"limit": 1}}',
        '/orders/data.json': '{"limit": 2}',
      }),
    );

    await expectBundleError(
      readBundle(archive),
      'GH_BUNDLE_INVALID',
      /orders\/data\.json sets data\.orders\.limit, which another data file/,
    );
  });

  it('refuses a root data file that is not an object', async () => {
    await expectBundleError(
      readBundle(tarGz(specsOf({ '/data.json': '[1, 2]' }))),
      'GH_BUNDLE_INVALID',
      /data\.json is at the bundle root, so it must hold an object/,
    );
  });

  it('refuses invalid JSON and YAML, naming the file and the source', async () => {
    await expectBundleError(
      readBundle(tarGz(specsOf({ '/orders/data.json': '{"a": ' })), {
        source: 'https://pap.example/b.tar.gz',
      }),
      'GH_BUNDLE_INVALID',
      /^bundle https:\/\/pap\.example\/b\.tar\.gz: orders\/data\.json is not valid JSON/,
    );
    await expectBundleError(
      readBundle(tarGz(specsOf({ '/users/data.yaml': 'a: [1, 2' }))),
      'GH_BUNDLE_INVALID',
      /users\/data\.yaml is not valid YAML/,
    );
  });

  it('prototype pollution: a "__proto__" directory or key stays an ordinary key', async () => {
    const bundle = await readBundle(
      tarGz(
        specsOf({
          '/__proto__/data.json': '{"polluted": true}',
          '/data.json': '{"__proto__": {"alsoPolluted": true}}',
        }),
      ),
    );

    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).alsoPolluted).toBeUndefined();
    expect(Object.getPrototypeOf(bundle.data)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(bundle.data, '__proto__')?.value).toEqual({
      polluted: true,
      alsoPolluted: true,
    });
  });

  it('refuses Rego and catalogs that are not UTF-8', async () => {
    await expectBundleError(
      readBundle(tarGz([{ path: '/p.rego', content: Buffer.from([0x70, 0xff, 0xfe]) }])),
      'GH_BUNDLE_INVALID',
      /p\.rego is not valid UTF-8/,
    );
  });

  it('refuses a policy.wasm that is not WebAssembly', async () => {
    await expectBundleError(
      readBundle(tarGz(specsOf({ '/policy.wasm': 'not wasm' }))),
      'GH_BUNDLE_INVALID',
      /policy\.wasm is not a WebAssembly module/,
    );
  });

  it('refuses delta bundles (patch.json), which it cannot apply', async () => {
    await expectBundleError(
      readBundle(tarGz(specsOf({ '/patch.json': '{"data": []}' }))),
      'GH_BUNDLE_INVALID',
      /patch\.json: delta bundles are not supported/,
    );
  });

  it('refuses a malformed manifest', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"revision": 7}', /"revision" must be a string/],
      ['{"roots": "orders"}', /"roots" must be an array of strings/],
      ['{"roots": ["orders", "orders/eu"]}', /overlapping roots "orders" and "orders\/eu"/],
      ['[]', /must hold a JSON object/],
      ['{', /not valid JSON/],
    ];
    for (const [manifest, message] of cases) {
      await expectBundleError(
        readBundle(tarGz(specsOf({ '/.manifest': manifest }))),
        'GH_BUNDLE_INVALID',
        message,
      );
    }
  });

  it('refuses a catalogFile option that is not a path inside the bundle', async () => {
    await expectBundleError(
      readBundle(tarGz(specsOf({ '/p.rego': ORDERS_REGO })), { catalogFile: '../catalog.yaml' }),
      'GH_BUNDLE_OPTIONS_INVALID',
      /catalogFile "\.\.\/catalog\.yaml"/,
    );
  });
});
