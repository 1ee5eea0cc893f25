import { execFile } from 'node:child_process';
import { chmod, cp, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFlatFolder, writeConfigMapVolume } from '../helpers/configmap-volume.js';
import {
  COMPILE_CACHE,
  FIXTURE_POLICIES,
  startTestGatehouse,
  type TestGatehouse,
} from '../helpers/test-gatehouse.js';
import { waitFor } from '../helpers/wait-for.js';

// A real Gatehouse reading a real policy folder that is changed the way operators change
// it: a Kubernetes ConfigMap volume, editors and `kubectl cp` (mv over), in-place writes,
// a folder mounted late or broken at first. What is asserted is what a user sees: the
// decision on /envoy, /readyz and GET /status.

const run = promisify(execFile);

/** The fixture's admin policy lets only admins in; this one lets readers in too. */
const ADMIN_FOR_READERS = `package test.admin

allow if "reader" in input.token.roles
`;

interface PolicySourceStatus {
  kind: string;
  dir: string;
  watching: boolean;
  revision?: string;
  lastReadAt?: string;
  lastSuccessAt?: string;
  lastErrorAt?: string;
  lastError?: string;
  nextAttemptAt?: string;
  consecutiveFailures: number;
}

interface Status {
  ready: boolean;
  snapshot: { revision: string; sourceRevision: string | null } | null;
  lastBuild: { at: number; ok: boolean; origin: string } | null;
  policySource: PolicySourceStatus;
}

let base: string;
let t: TestGatehouse | undefined;
beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'gatehouse-folder-e2e-'));
});
afterEach(async () => {
  await t?.close();
  t = undefined;
  await rm(base, { recursive: true, force: true });
});

async function start(
  dir: string,
  policies: { watch?: boolean; rescanIntervalS?: number } = {},
): Promise<TestGatehouse> {
  t = await startTestGatehouse({
    config: {
      policies: {
        dir,
        watch: policies.watch ?? true,
        watchDebounceMs: 50,
        rescanIntervalS: policies.rescanIntervalS ?? 0,
        compileCacheDir: COMPILE_CACHE,
      },
    },
  });
  return t;
}

async function status(gatehouse: TestGatehouse): Promise<Status> {
  const response = await request(`${gatehouse.httpBase}/status`);
  return (await response.body.json()) as Status;
}

/** A reader asking for /admin through the Envoy HTTP door: 403 under the fixture's policy. */
async function readerAtAdmin(gatehouse: TestGatehouse): Promise<{ status: number; code: string }> {
  const token = await gatehouse.issuer.sign();
  const response = await request(`${gatehouse.httpBase}/envoy/admin`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const text = await response.body.text();
  const code =
    response.statusCode === 200 ? 'allowed' : (JSON.parse(text) as { error: string }).error;
  return { status: response.statusCode, code };
}

async function readyz(gatehouse: TestGatehouse): Promise<number> {
  const response = await request(`${gatehouse.httpBase}/readyz`);
  await response.body.dump();
  return response.statusCode;
}

async function adminOpensToReaders(gatehouse: TestGatehouse, what: string): Promise<void> {
  await waitFor(what, async () => (await readerAtAdmin(gatehouse)).status === 200);
}

async function adminClosesToReaders(gatehouse: TestGatehouse, what: string): Promise<void> {
  await waitFor(what, async () => (await readerAtAdmin(gatehouse)).status === 403);
}

async function copyOfFixture(): Promise<string> {
  const dir = path.join(base, 'policies');
  await cp(FIXTURE_POLICIES, dir, { recursive: true });
  return dir;
}

describe('a Kubernetes ConfigMap volume', () => {
  it('ConfigMap-style layout (..2026_12_01_xx/ + ..data symlink + top-level symlinks) loads', async () => {
    const dir = path.join(base, 'configmap');
    await writeConfigMapVolume(
      dir,
      await readFlatFolder(FIXTURE_POLICIES),
      '2026_12_01_10_00_00.1',
    );
    const g = await start(dir);

    expect(g.gatehouse.ready).toBe(true);
    expect(await readyz(g)).toBe(200);
    expect(await readerAtAdmin(g)).toEqual({ status: 403, code: 'GH_ERR_POLICY_DENIED' });
    const s = await status(g);
    expect(s.policySource).toMatchObject({
      kind: 'folder',
      watching: true,
      consecutiveFailures: 0,
    });
    expect(s.policySource.revision).toMatch(/^[0-9a-f]{16}$/);
    expect(s.snapshot?.sourceRevision).toBe(s.policySource.revision);
  });

  it('..data swap to a new version folder is applied', async () => {
    const dir = path.join(base, 'configmap');
    const files = await readFlatFolder(FIXTURE_POLICIES);
    await writeConfigMapVolume(dir, files, '2026_12_01_10_00_00.1');
    const g = await start(dir);
    const before = (await status(g)).policySource.revision;
    expect((await readerAtAdmin(g)).status).toBe(403);

    await writeConfigMapVolume(
      dir,
      { ...files, 'admin.rego': ADMIN_FOR_READERS },
      '2026_12_01_10_05_00.2',
    );

    await adminOpensToReaders(g, 'the new ConfigMap version to be served');
    const after = await status(g);
    expect(after.policySource.revision).not.toBe(before);
    expect(after.snapshot?.sourceRevision).toBe(after.policySource.revision);
  });
});

describe('files changed the way editors and tools change them', () => {
  it('file replaced by rename (mv over) is applied, 4 of 4 alternating replacements', async () => {
    const dir = await copyOfFixture();
    const original = await readFile(path.join(dir, 'admin.rego'), 'utf8');
    const g = await start(dir);

    for (let i = 1; i <= 4; i++) {
      // Written elsewhere, then renamed over the original: a new inode each time.
      const temporary = path.join(base, `admin.rego.${i}`);
      await writeFile(temporary, i % 2 === 1 ? ADMIN_FOR_READERS : original);
      await run('mv', [temporary, path.join(dir, 'admin.rego')]);
      if (i % 2 === 1) await adminOpensToReaders(g, `replacement ${i} (readers in)`);
      else await adminClosesToReaders(g, `replacement ${i} (readers out)`);
    }
    expect((await status(g)).policySource).toMatchObject({
      watching: true,
      consecutiveFailures: 0,
    });
  });

  it('in-place write applied', async () => {
    const dir = await copyOfFixture();
    const g = await start(dir);
    await writeFile(path.join(dir, 'admin.rego'), ADMIN_FOR_READERS);
    await adminOpensToReaders(g, 'the in-place write');
  });

  it('unchanged content (a touch, the same bytes written again) is read but not rebuilt', async () => {
    const dir = await copyOfFixture();
    const g = await start(dir);
    const before = await status(g);
    const admin = path.join(dir, 'admin.rego');
    await writeFile(admin, await readFile(admin));
    await utimes(admin, new Date(), new Date());

    await waitFor(
      'the folder to be read again',
      async () => (await status(g)).policySource.lastReadAt !== before.policySource.lastReadAt,
    );
    const after = await status(g);
    expect(after.policySource.revision).toBe(before.policySource.revision);
    expect(after.lastBuild?.at).toBe(before.lastBuild?.at);
    expect(after.snapshot?.revision).toBe(before.snapshot?.revision);
  });

  it('rescan picks up a change the watcher missed (watcher disabled)', async () => {
    const dir = await copyOfFixture();
    const g = await start(dir, { watch: false, rescanIntervalS: 1 });
    expect((await status(g)).policySource.watching).toBe(false);
    await writeFile(path.join(dir, 'admin.rego'), ADMIN_FOR_READERS);
    await adminOpensToReaders(g, 'the rescan');
  });

  it('a symlink escaping the folder is refused: the previous snapshot keeps serving', async () => {
    const dir = await copyOfFixture();
    const g = await start(dir);
    const before = (await status(g)).snapshot?.revision;
    // What would open /admin to everyone, kept outside the policy folder.
    await writeFile(path.join(base, 'evil.rego'), ADMIN_FOR_READERS);
    await symlink(path.join(base, 'evil.rego'), path.join(dir, 'evil.rego'));

    await waitFor('the refusal in /status', async () => {
      return (await status(g)).policySource.lastError?.includes('outside the folder') === true;
    });
    expect(await readerAtAdmin(g)).toEqual({ status: 403, code: 'GH_ERR_POLICY_DENIED' });
    expect((await status(g)).snapshot?.revision).toBe(before);
  });
});

describe('a folder that is missing, empty or broken at first', () => {
  it('folder missing at start then created: becomes ready without restart', async () => {
    const dir = path.join(base, 'policies');
    const g = await start(dir);
    expect(g.gatehouse.ready).toBe(false);
    expect(await readyz(g)).toBe(503);
    const s = await status(g);
    expect(s.policySource.lastError).toMatch(new RegExp(`^policy folder ${dir} cannot be read`));

    await cp(FIXTURE_POLICIES, dir, { recursive: true });

    await waitFor('/readyz to answer 200', async () => (await readyz(g)) === 200);
    expect(await readerAtAdmin(g)).toEqual({ status: 403, code: 'GH_ERR_POLICY_DENIED' });
    expect((await status(g)).policySource).toMatchObject({ consecutiveFailures: 0 });
  });

  it('zero Rego files is an error naming the folder', async () => {
    const dir = path.join(base, 'configmap');
    const catalog = await readFile(path.join(FIXTURE_POLICIES, 'catalog.yaml'), 'utf8');
    await writeConfigMapVolume(dir, { 'catalog.yaml': catalog }, '2026_12_01_10_00_00.1');
    const g = await start(dir);

    expect(await readyz(g)).toBe(503);
    expect((await status(g)).policySource.lastError).toBe(
      `policy folder ${dir} holds no Rego policies (*.rego files other than *_test.rego, or *.policy.yaml)`,
    );
  });

  it('unreadable then fixed: retries and recovers; /status shows lastError and nextAttemptAt', async () => {
    const dir = await copyOfFixture();
    await writeFile(path.join(dir, 'data.json'), '{ "blocked_subjects": [');
    // No watcher and no rescan: only the retries can notice the fix.
    const g = await start(dir, { watch: false, rescanIntervalS: 0 });
    expect(await readyz(g)).toBe(503);

    await waitFor('a second failed attempt', async () => {
      return (await status(g)).policySource.consecutiveFailures >= 2;
    });
    const failing = (await status(g)).policySource;
    expect(failing.lastError).toContain('data.json is not valid JSON');
    expect(Date.parse(failing.lastErrorAt ?? '')).toBeGreaterThan(0);
    expect(Date.parse(failing.nextAttemptAt ?? '')).toBeGreaterThan(Date.now() - 1000);

    await cp(path.join(FIXTURE_POLICIES, 'data.json'), path.join(dir, 'data.json'));

    await waitFor('/readyz to answer 200', async () => (await readyz(g)) === 200);
    // The source records its success once the snapshot it delivered is built, which may be
    // a moment after readiness turns true.
    await waitFor('the failure count to reset', async () => {
      return (await status(g)).policySource.consecutiveFailures === 0;
    });
    const recovered = (await status(g)).policySource;
    // No rescan: nothing more is scheduled once the folder has been read.
    expect(recovered.nextAttemptAt).toBeUndefined();
  });

  it('a Rego file that does not compile, then fixed: the build is retried and becomes ready', async () => {
    const dir = await copyOfFixture();
    const good = await readFile(path.join(dir, 'global.rego'), 'utf8');
    await writeFile(path.join(dir, 'global.rego'), 'package test.global\n\nallow if {{{\n');
    const g = await start(dir, { watch: false, rescanIntervalS: 0 });
    expect(await readyz(g)).toBe(503);
    const failing = await status(g);
    expect(failing.policySource.lastError).toMatch(/was read but not activated/);
    expect(failing.lastBuild).toMatchObject({ ok: false, origin: 'folder' });
    expect(failing.policySource.nextAttemptAt).toBeDefined();

    await writeFile(path.join(dir, 'global.rego'), good);

    await waitFor('/readyz to answer 200', async () => (await readyz(g)) === 200, 20_000);
    expect(await readerAtAdmin(g)).toEqual({ status: 403, code: 'GH_ERR_POLICY_DENIED' });
  });

  it.skipIf(process.getuid?.() === 0)(
    'permission denied then fixed: retries and recovers (not as root, who reads anything)',
    async () => {
      const dir = await copyOfFixture();
      await chmod(path.join(dir, 'admin.rego'), 0o000);
      const g = await start(dir, { watch: false, rescanIntervalS: 0 });
      expect(await readyz(g)).toBe(503);
      expect((await status(g)).policySource.lastError).toMatch(/admin\.rego.*EACCES/);

      await chmod(path.join(dir, 'admin.rego'), 0o644);

      await waitFor('/readyz to answer 200', async () => (await readyz(g)) === 200);
    },
  );
});
