import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askDoor, DOORS } from '../helpers/check-doors.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { connect } from '../transport/grpc/grpc-test-client.js';

const run = promisify(execFile);

/** Headless Chromium from Debian's packages (scripts/install-chromium.sh). */
async function chromium(args: readonly string[], profile: string): Promise<string> {
  const { stdout } = await run(
    'chromium',
    [
      '--headless',
      '--no-sandbox', // runs as root in CI containers
      '--disable-gpu',
      '--no-first-run',
      `--user-data-dir=${profile}`,
      '--window-size=900,1100',
      ...args,
    ],
    { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

function textOf(dom: string, id: string): string | undefined {
  return new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(dom)?.[1];
}

/** Sum of gatehouse_decisions_total samples, split into GH_OK and the rest. */
function totals(metrics: string): { allowed: number; denied: number } {
  let allowed = 0;
  let denied = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('gatehouse_decisions_total{')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.includes('code="GH_OK"')) allowed += value;
    else denied += value;
  }
  return { allowed, denied };
}

describe('GET /status for a person, in headless Chromium', () => {
  let t: TestGatehouse;
  let grpc: Client;
  let profile: string;

  beforeAll(async () => {
    t = await startTestGatehouse();
    grpc = connect(Number(t.grpcAddress.split(':')[1]));
    profile = await mkdtemp(path.join(tmpdir(), 'gatehouse-chromium-'));
    const token = await t.issuer.sign();
    for (const door of DOORS) {
      await askDoor(
        door,
        { grpc, httpBase: t.httpBase },
        {
          method: 'GET',
          path: '/orders',
          headers: { authorization: `Bearer ${token}` },
        },
      );
      await askDoor(door, { grpc, httpBase: t.httpBase }, { method: 'GET', path: '/orders' });
      await askDoor(door, { grpc, httpBase: t.httpBase }, { method: 'GET', path: '/orders' });
    }
  });

  afterAll(async () => {
    grpc.close();
    await t.close();
    await rm(profile, { recursive: true, force: true });
  });

  it('shows readiness, the snapshot, the sources and decisions that match /metrics', async () => {
    const url = `${t.probesBase}/status`;
    const dom = await chromium(['--dump-dom', url], profile);
    const metrics = await (await request(`${t.probesBase}/metrics`)).body.text();
    const expected = totals(metrics);
    expect(expected).toEqual({ allowed: 5, denied: 10 });
    expect(textOf(dom, 'readiness')).toBe('ready');
    expect(textOf(dom, 'snapshot-revision')).toBe(t.gatehouse.store.current()?.revision);
    expect(textOf(dom, 'snapshot-apis')).toBe(
      String(t.gatehouse.store.current()?.catalog.apis.length),
    );
    expect(textOf(dom, 'total-allowed')).toBe(String(expected.allowed));
    expect(textOf(dom, 'total-denied')).toBe(String(expected.denied));
    expect(textOf(dom, 'recent-allowed')).toBe(String(expected.allowed));
    expect(textOf(dom, 'recent-denied')).toBe(String(expected.denied));
    expect(dom).toContain(t.issuer.issuer);
    expect(dom).toMatch(/<svg id="chart"[^>]*>/);
    // No external assets: nothing is loaded from anywhere.
    expect(dom).not.toMatch(/<(script|link|img)\b/);

    // Kept after the test, for a person to look at.
    const screenshot = path.join(tmpdir(), 'gatehouse-status-page.png');
    await chromium([`--screenshot=${screenshot}`, url], profile);
    const png = await readFile(screenshot);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.length).toBeGreaterThan(10_000);

    // The JSON status stays for machines.
    const json = await request(url);
    expect(json.headers['content-type']).toBe('application/json');
    await json.body.dump();
  }, 120_000);

  it('the check port serves the same page to a browser', async () => {
    const page = await request(`${t.httpBase}/status`, { headers: { accept: 'text/html' } });
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(await page.body.text()).toContain('id="total-allowed">5<');
  });
});
