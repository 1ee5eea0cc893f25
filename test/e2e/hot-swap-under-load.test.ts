import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureBundle } from '../helpers/policy-bundles.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { startBundleServer, type BundleServer } from '../sync/bundle/helpers/bundle-server.js';

// Hot swap under load, all real: HTTP clients send checks without pause while the bundle
// server alternates between two revisions that decide differently, 100 swaps. Each answer
// must come from one whole revision (catalog and policy together), and none may fail.
//
// Revision A: the API is "orders.get" and its policy allows, saying x-rev: A.
// Revision B: the API is renamed "orders.get.b" and its policy denies, saying x-rev: B.

const SWAPS = 100;
const CLIENTS = 6;

let server: BundleServer;
let t: TestGatehouse;
let bundleA: Buffer;
let bundleB: Buffer;

beforeAll(async () => {
  server = await startBundleServer();
  bundleA = await fixtureBundle('A', (files) => {
    files['orders_read.rego'] =
      'package test.orders_read\n\nallow := {"allowed": true, "headers": {"x-rev": "A"}}\n';
  });
  bundleB = await fixtureBundle('B', (files) => {
    files['orders_read.rego'] =
      'package test.orders_read\n\nallow := {"allowed": false, "headers": {"x-rev": "B"}}\n';
    files['gatehouse/catalog/data.json'] = (files['gatehouse/catalog/data.json'] ?? '').replace(
      '"id":"orders.get"',
      '"id":"orders.get.b"',
    );
  });
  server.reply(() => ({ status: 200, headers: { etag: '"A-0"' }, body: bundleA }));
  t = await startTestGatehouse({
    config: {
      policies: { dir: '/nonexistent', watch: false },
      persistence: { enabled: false },
      bundle: { url: server.url, pollMinDelayS: 3600, pollMaxDelayS: 3600 },
    },
  });
});
afterAll(async () => {
  await t.close();
  await server.close();
});

interface Answer {
  readonly allowed: boolean;
  readonly api: { readonly id: string } | null;
  readonly upstreamHeaders?: Record<string, string>;
  readonly headers?: Record<string, string>;
}

function revisionOf(answer: Answer): 'A' | 'B' | 'mixed' {
  if (
    answer.allowed &&
    answer.api?.id === 'orders.get' &&
    answer.upstreamHeaders?.['x-rev'] === 'A'
  )
    return 'A';
  if (!answer.allowed && answer.api?.id === 'orders.get.b' && answer.headers?.['x-rev'] === 'B')
    return 'B';
  return 'mixed';
}

describe('hot swap under load', () => {
  it(`swaps ${SWAPS} times with no failed, slow or mixed answer`, async () => {
    expect(t.gatehouse.ready).toBe(true);
    const token = await t.issuer.sign();
    const body = JSON.stringify({
      method: 'GET',
      path: '/orders/42',
      host: 'api.example.com',
      headers: { authorization: `Bearer ${token}` },
    });
    const counts = { A: 0, B: 0, mixed: 0, failed: 0 };
    let running = true;
    const client = async (): Promise<void> => {
      while (running) {
        try {
          const response = await request(`${t.httpBase}/v1/check`, {
            method: 'POST',
            body,
            headersTimeout: 2000,
            bodyTimeout: 2000,
          });
          if (response.statusCode !== 200) {
            counts.failed++;
            await response.body.dump();
            continue;
          }
          counts[revisionOf((await response.body.json()) as Answer)]++;
        } catch {
          counts.failed++;
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);

    let activated = 0;
    for (let swap = 1; swap <= SWAPS; swap++) {
      const next = swap % 2 === 1 ? bundleB : bundleA;
      server.reply(() => ({ status: 200, headers: { etag: `"${String(swap)}"` }, body: next }));
      if (await t.gatehouse.reloadPolicies()) activated++;
    }
    running = false;
    await Promise.all(clients);

    expect(activated).toBe(SWAPS);
    expect(counts.failed).toBe(0);
    expect(counts.mixed).toBe(0);
    expect(counts.A).toBeGreaterThan(0);
    expect(counts.B).toBeGreaterThan(0);
    console.log(`hot swap: ${String(activated)} swaps, answers ${JSON.stringify(counts)}`);
  });
});
