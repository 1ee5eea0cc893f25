import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderWatcher } from '../../../src/sync/folder/folder-watcher.js';
import { writeConfigMapVolume } from '../../helpers/configmap-volume.js';
import { waitFor } from '../../helpers/wait-for.js';

// Real inotify watches on real temp folders, changed the way tools change them.

const run = promisify(execFile);

let base: string;
let dir: string;
let watcher: FolderWatcher | undefined;
let calls = 0;

beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'gatehouse-watch-'));
  dir = path.join(base, 'policies');
  await mkdir(dir);
  calls = 0;
});
afterEach(async () => {
  watcher?.close();
  watcher = undefined;
  await rm(base, { recursive: true, force: true });
});

async function startWatching(directories: string[] = []): Promise<FolderWatcher> {
  watcher = new FolderWatcher(20, () => {
    calls += 1;
  });
  await watcher.track(dir, directories);
  return watcher;
}

/** Waits until onChange has been called once more than `before`. */
async function calledAgain(before: number, what: string): Promise<void> {
  await waitFor(what, () => calls > before, 5000);
}

describe('the folder watcher sees what tools do to files', () => {
  it('an in-place write', async () => {
    await writeFile(path.join(dir, 'a.rego'), 'v1');
    await startWatching();
    await writeFile(path.join(dir, 'a.rego'), 'v2');
    await calledAgain(0, 'the in-place write');
  });

  it('a file replaced by rename (mv over), 4 of 4 times: the watch is on the folder, not the inode', async () => {
    await writeFile(path.join(dir, 'a.rego'), 'v0');
    await startWatching();
    for (let i = 1; i <= 4; i++) {
      const before = calls;
      const temporary = path.join(base, `a.rego.tmp${i}`);
      await writeFile(temporary, `v${i}`);
      await run('mv', [temporary, path.join(dir, 'a.rego')]);
      await calledAgain(before, `replacement ${i}`);
    }
  });

  it('a new file and a deleted file', async () => {
    await startWatching();
    await writeFile(path.join(dir, 'b.rego'), 'new');
    await calledAgain(0, 'the new file');
    const before = calls;
    await rm(path.join(dir, 'b.rego'));
    await calledAgain(before, 'the deleted file');
  });

  it("a ConfigMap's atomic ..data swap", async () => {
    await writeConfigMapVolume(dir, { 'a.rego': 'v1' }, 'v1');
    await startWatching();
    await writeConfigMapVolume(dir, { 'a.rego': 'v2' }, 'v2');
    await calledAgain(0, 'the ..data swap');
  });

  it('a write in a subfolder it was told to track', async () => {
    await mkdir(path.join(dir, 'lib'));
    await startWatching([path.join(dir, 'lib')]);
    await writeFile(path.join(dir, 'lib', 'b.rego'), 'v1');
    await calledAgain(0, 'the write in lib/');
  });

  it('a burst of changes ends in one call after the quiet time', async () => {
    await startWatching();
    for (let i = 0; i < 10; i++) await writeFile(path.join(dir, `f${i}.rego`), 'x');
    await calledAgain(0, 'the burst');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(calls).toBe(1);
  });

  it('a folder removed and created again is watched anew after track()', async () => {
    const w = await startWatching();
    expect(w.watching()).toBe(true);
    await rm(dir, { recursive: true });
    await w.track(dir, []);
    expect(w.watching()).toBe(false);
    await mkdir(dir);
    await w.track(dir, []);
    expect(w.watching()).toBe(true);
    const before = calls;
    await writeFile(path.join(dir, 'a.rego'), 'back');
    await calledAgain(before, 'the write into the new folder');
  });

  it('after close(), nothing is called', async () => {
    const w = await startWatching();
    w.close();
    await writeFile(path.join(dir, 'a.rego'), 'x');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(calls).toBe(0);
  });
});
