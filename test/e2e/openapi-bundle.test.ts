import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askEveryDoor, DOORS } from '../helpers/check-doors.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { startBundleServer, type BundleServer } from '../sync/bundle/helpers/bundle-server.js';
import { tarGz, specsOf } from '../sync/bundle/helpers/tar-writer.js';
import { connect } from '../transport/grpc/grpc-test-client.js';

// OpenAPI documents travel in a bundle too: a real bundle server serves the example Rego
// with the services as *.openapi.yaml/json and no catalog but the global level, and a real
// Gatehouse decides from them on every door.

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLE_POLICIES = path.join(here, '..', '..', 'policies');
const OPENAPI_FIXTURE = path.join(here, '..', 'fixtures', 'openapi');

async function filesBelow(root: string, prefix = ''): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(path.join(root, prefix), { withFileTypes: true })) {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) Object.assign(files, await filesBelow(root, relative));
    else files[relative] = await readFile(path.join(root, relative), 'utf8');
  }
  return files;
}

let server: BundleServer;
let state: string;
let t: TestGatehouse;

beforeAll(async () => {
  server = await startBundleServer();
  const files = { ...(await filesBelow(EXAMPLE_POLICIES)), ...(await filesBelow(OPENAPI_FIXTURE)) };
  const body = tarGz(specsOf(files));
  server.reply(() => ({
    status: 200,
    headers: { etag: '"openapi"', 'content-type': 'application/gzip' },
    body,
  }));
  state = await mkdtemp(path.join(tmpdir(), 'gatehouse-state-'));
  t = await startTestGatehouse({
    config: {
      policies: { dir: '/nonexistent', watch: false },
      persistence: { dir: state },
      bundle: { url: server.url, pollMinDelayS: 3600, pollMaxDelayS: 3600, requestTimeoutMs: 1000 },
    },
  });
});
afterAll(async () => {
  await t.close();
  await server.close();
  await rm(state, { recursive: true, force: true });
});

describe('OpenAPI documents in a bundle', () => {
  it('become the APIs: a reader reads an order, an order id that is no integer is no API', async () => {
    expect(
      t.gatehouse.store
        .current()
        ?.catalog.apis.map((a) => a.id)
        .sort(),
    ).toEqual(
      [
        'admin.dashboard',
        'admin.dashboard.post',
        'admin.user',
        'orders.create',
        'orders.get',
        'orders.list',
        'public.status',
        'users.profile',
      ].sort(),
    );
    const grpc = connect(t.gatehouse.grpcPort ?? 0);
    try {
      const token = await t.issuer.sign({ sub: 'rita', roles: ['reader'] });
      const ask = (p: string) =>
        askEveryDoor(
          { grpc, httpBase: t.httpBase },
          { method: 'GET', path: p, headers: { authorization: `Bearer ${token}` } },
        );
      expect((await ask('/orders/42')).map((a) => a.code)).toEqual(DOORS.map(() => 'GH_OK'));
      expect((await ask('/orders/abc')).map((a) => a.code)).toEqual(
        DOORS.map(() => 'GH_ERR_API_UNKNOWN'),
      );
    } finally {
      grpc.close();
    }
  });
});
