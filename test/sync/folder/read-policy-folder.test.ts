import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PolicyFolderError,
  readPolicyFolder,
} from '../../../src/sync/folder/read-policy-folder.js';
import { writeConfigMapVolume } from '../../helpers/configmap-volume.js';

// Real folders, real symlinks, in a fresh temp folder per test.

const CATALOG =
  'services:\n  - name: s\n    apis: [{ id: a, method: GET, path: /a, policy: p.a }]\n';
const POLICY_A = 'package p.a\n\nallow := true\n';
const POLICY_B = 'package p.b\n\nallow := false\n';

let base: string;
let dir: string;
beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'gatehouse-folder-'));
  dir = path.join(base, 'policies');
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

async function plainFolder(files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
}

async function refusal(): Promise<PolicyFolderError> {
  const error: unknown = await readPolicyFolder(dir, 'catalog.yaml').then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PolicyFolderError);
  return error as PolicyFolderError;
}

describe('a ConfigMap volume (..2026_12_01_xx/ + ..data symlink + top-level symlinks)', () => {
  it('loads every file once, under its visible name, through the symlinks', async () => {
    await writeConfigMapVolume(
      dir,
      { 'catalog.yaml': CATALOG, 'a.rego': POLICY_A, 'b.rego': POLICY_B, 'data.json': '{"x":1}' },
      '2026_12_01_10_00_00.000000001',
    );
    const read = await readPolicyFolder(dir, 'catalog.yaml');
    expect(read.inputs.regoFiles).toEqual([
      { path: 'a.rego', content: POLICY_A },
      { path: 'b.rego', content: POLICY_B },
    ]);
    expect(read.inputs.catalogText).toBe(CATALOG);
    expect(read.inputs.data).toEqual({ x: 1 });
    expect(read.inputs.sourceRevision).toBe(read.revision);
  });

  it('after a ..data swap to a new version folder, reads the new version', async () => {
    await writeConfigMapVolume(dir, { 'catalog.yaml': CATALOG, 'a.rego': POLICY_A }, 'v1');
    const first = await readPolicyFolder(dir, 'catalog.yaml');
    const changed = POLICY_A.replace('true', 'false');
    await writeConfigMapVolume(dir, { 'catalog.yaml': CATALOG, 'a.rego': changed }, 'v2');
    const second = await readPolicyFolder(dir, 'catalog.yaml');
    expect(second.inputs.regoFiles).toEqual([{ path: 'a.rego', content: changed }]);
    expect(second.revision).not.toBe(first.revision);
  });
});

describe('symlinks', () => {
  it('a symlink escaping the folder is refused, naming it and the folder', async () => {
    await plainFolder({ 'catalog.yaml': CATALOG, 'a.rego': POLICY_A });
    await writeFile(path.join(base, 'outside.rego'), POLICY_B);
    await symlink(path.join(base, 'outside.rego'), path.join(dir, 'evil.rego'));
    const error = await refusal();
    expect(error.message).toContain('evil.rego');
    expect(error.message).toContain('outside the folder');
    expect(error.message).toContain(dir);
  });

  it('a relative symlink to a directory outside (../) is refused', async () => {
    await plainFolder({ 'catalog.yaml': CATALOG, 'a.rego': POLICY_A });
    await mkdir(path.join(base, 'elsewhere'));
    await writeFile(path.join(base, 'elsewhere', 'b.rego'), POLICY_B);
    await symlink('../elsewhere', path.join(dir, 'lib'));
    expect((await refusal()).message).toMatch(/lib resolves to .*elsewhere, outside the folder/);
  });

  it('a catalog symlinked from outside the folder is refused', async () => {
    await plainFolder({ 'a.rego': POLICY_A });
    await writeFile(path.join(base, 'catalog.yaml'), CATALOG);
    await symlink(path.join(base, 'catalog.yaml'), path.join(dir, 'catalog.yaml'));
    expect((await refusal()).message).toContain('outside the folder');
  });

  it('symlinks that stay inside are followed, into directories too', async () => {
    await plainFolder({ 'catalog.yaml': CATALOG, 'real/a.rego': POLICY_A });
    await symlink('real', path.join(dir, 'alias'));
    const read = await readPolicyFolder(dir, 'catalog.yaml');
    expect(read.inputs.regoFiles.map((f) => f.path)).toEqual(['alias/a.rego', 'real/a.rego']);
  });

  it('the folder itself may be a symlink (a mount point)', async () => {
    const real = path.join(base, 'mounted');
    await mkdir(real);
    await writeFile(path.join(real, 'catalog.yaml'), CATALOG);
    await writeFile(path.join(real, 'a.rego'), POLICY_A);
    await symlink(real, dir);
    const read = await readPolicyFolder(dir, 'catalog.yaml');
    expect(read.inputs.regoFiles).toEqual([{ path: 'a.rego', content: POLICY_A }]);
  });

  it('a symlink loop is refused, not walked forever', async () => {
    await plainFolder({ 'catalog.yaml': CATALOG, 'sub/a.rego': POLICY_A });
    await symlink('..', path.join(dir, 'sub', 'up'));
    expect((await refusal()).message).toContain('symlink loop');
  });

  it('a dangling symlink is an error naming it', async () => {
    await plainFolder({ 'catalog.yaml': CATALOG, 'a.rego': POLICY_A });
    await symlink('gone.rego', path.join(dir, 'b.rego'));
    expect((await refusal()).message).toMatch(
      /b\.rego cannot be resolved \(a symlink to gone\.rego\)/,
    );
  });
});

describe('what is read', () => {
  it('zero Rego files is an error naming the folder', async () => {
    await plainFolder({
      'catalog.yaml': CATALOG,
      'only_test.rego': POLICY_A,
      '.hidden.rego': POLICY_B,
    });
    const error = await refusal();
    expect(error.message).toBe(
      `policy folder ${dir} holds no Rego policies (*.rego files other than *_test.rego, or *.policy.yaml)`,
    );
  });

  it('a missing folder is an error naming the folder', async () => {
    expect((await refusal()).message).toMatch(
      new RegExp(`^policy folder ${dir} cannot be read: .*ENOENT`),
    );
  });

  it('a missing catalog is an error naming the file', async () => {
    await plainFolder({ 'a.rego': POLICY_A });
    expect((await refusal()).message).toContain(path.join(dir, 'catalog.yaml'));
  });

  it('tests and dot-files are left out; subfolders are read', async () => {
    await plainFolder({
      'catalog.yaml': CATALOG,
      'a.rego': POLICY_A,
      'a_test.rego': 'package p.a_test\n',
      '.git/x.rego': POLICY_B,
      'lib/b.rego': POLICY_B,
    });
    const read = await readPolicyFolder(dir, 'catalog.yaml');
    expect(read.inputs.regoFiles.map((f) => f.path)).toEqual(['a.rego', 'lib/b.rego']);
  });

  it('the revision is a content hash: the same content, the same revision, whatever the mtime', async () => {
    await plainFolder({ 'catalog.yaml': CATALOG, 'a.rego': POLICY_A });
    const first = await readPolicyFolder(dir, 'catalog.yaml');
    await utimes(path.join(dir, 'a.rego'), new Date(0), new Date(0));
    expect((await readPolicyFolder(dir, 'catalog.yaml')).revision).toBe(first.revision);
    await writeFile(path.join(dir, 'data.json'), '{}');
    expect((await readPolicyFolder(dir, 'catalog.yaml')).revision).not.toBe(first.revision);
  });

  it('invalid data.json is an error', async () => {
    await plainFolder({ 'catalog.yaml': CATALOG, 'a.rego': POLICY_A, 'data.json': '{' });
    expect((await refusal()).message).toContain('data.json is not valid JSON');
  });
});
