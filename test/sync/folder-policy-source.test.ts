import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import type { PolicyInputs } from '../../src/snapshot/build-snapshot.js';
import { FolderPolicySource } from '../../src/sync/folder-policy-source.js';
import { FIXTURE_POLICIES } from '../helpers/test-gatehouse.js';
import { waitFor } from '../helpers/wait-for.js';

// The source on a real folder; `deliver` stands in for the control loop and records what
// it was handed, answering as a build would.

let base: string;
let dir: string;
let source: FolderPolicySource | undefined;
const delivered: PolicyInputs[] = [];
let buildSucceeds = true;

beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'gatehouse-folder-source-'));
  dir = path.join(base, 'policies');
  delivered.length = 0;
  buildSucceeds = true;
});
afterEach(async () => {
  source?.stop();
  source = undefined;
  await rm(base, { recursive: true, force: true });
});

async function startSource(
  options: { rescanIntervalS?: number } = {},
): Promise<FolderPolicySource> {
  source = new FolderPolicySource({
    dir,
    catalogFile: 'catalog.yaml',
    watch: false,
    watchDebounceMs: 10,
    rescanIntervalS: options.rescanIntervalS ?? 0,
    logger: silentLogger(),
    retryBaseMs: 50,
    random: () => 0.5, // no jitter: the delays are exactly base x 1.6^(n-1)
  });
  await source.start((inputs) => {
    delivered.push(inputs);
    return Promise.resolve(buildSucceeds);
  });
  return source;
}

describe('FolderPolicySource', () => {
  it('retries a failed read on the bundle poller backoff (base, then x1.6) until it reads', async () => {
    const s = await startSource();
    const first = s.status();
    expect(first.consecutiveFailures).toBe(1);
    expect(first.nextAttemptAt).toBeInstanceOf(Date);
    const delay = (first.nextAttemptAt?.getTime() ?? 0) - (first.lastErrorAt?.getTime() ?? 0);
    expect(delay).toBeGreaterThanOrEqual(45);
    expect(delay).toBeLessThanOrEqual(60);

    await waitFor('three failures', () => s.status().consecutiveFailures >= 3);
    await cp(FIXTURE_POLICIES, dir, { recursive: true });
    await waitFor('the folder to be delivered', () => delivered.length === 1);
    expect(s.status()).toMatchObject({ consecutiveFailures: 0, nextAttemptAt: undefined });
  });

  it('delivers only a new content hash; a build that fails is retried with the same content', async () => {
    await cp(FIXTURE_POLICIES, dir, { recursive: true });
    const s = await startSource();
    expect(delivered).toHaveLength(1);
    expect(await s.refreshNow()).toBe(true);
    expect(delivered).toHaveLength(1); // unchanged: nothing to build

    buildSucceeds = false;
    await writeFile(path.join(dir, 'admin.rego'), 'package test.admin\n\nallow := true\n');
    expect(await s.refreshNow()).toBe(false);
    await waitFor('a retry of the failed build', () => delivered.length >= 3);
    expect(delivered[2]?.sourceRevision).toBe(delivered[1]?.sourceRevision);

    buildSucceeds = true;
    await waitFor('the retry to succeed', () => s.status().consecutiveFailures === 0);
    const count = delivered.length;
    expect(await s.refreshNow()).toBe(true);
    expect(delivered).toHaveLength(count);
  });

  it('the rescan is scheduled after each read; stop() cancels it', async () => {
    await cp(FIXTURE_POLICIES, dir, { recursive: true });
    const s = await startSource({ rescanIntervalS: 10 });
    const next = s.status().nextAttemptAt?.getTime() ?? 0;
    expect(next - Date.now()).toBeGreaterThan(9000);
    s.stop();
    expect(s.status().nextAttemptAt).toBeUndefined();
  });

  it('reads asked for while one runs are joined into one read that starts after them', async () => {
    await cp(FIXTURE_POLICIES, dir, { recursive: true });
    const s = await startSource();
    buildSucceeds = false; // every read delivers again, so deliveries count reads
    await writeFile(path.join(dir, 'admin.rego'), 'package test.admin\n\nallow := true\n');
    const reads = await Promise.all([s.refreshNow(), s.refreshNow(), s.refreshNow()]);
    expect(reads).toEqual([false, false, false]);
    // All three were asked for before the queued read started: one read answers them all.
    expect(delivered).toHaveLength(2);
  });
});
