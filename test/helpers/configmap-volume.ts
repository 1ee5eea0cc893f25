import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Writes `files` into `dir` the way the kubelet's atomic writer updates a ConfigMap or
 * Secret volume (pkg/volume/util/atomic_writer.go): the files go into a new hidden
 * version folder, a `..data_tmp` symlink to it is renamed over `..data` in one step
 * (`ln -s` + `mv -T`, a rename(2)), visible names are symlinks through `..data`, and
 * the previous version folder and the symlinks of dropped names are removed afterwards.
 * Flat names only, as a ConfigMap's keys are.
 */
export async function writeConfigMapVolume(
  dir: string,
  files: Readonly<Record<string, string>>,
  version: string,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const versionDir = `..${version}`;
  await mkdir(path.join(dir, versionDir));
  for (const [name, content] of Object.entries(files)) {
    await writeFile(path.join(dir, versionDir, name), content);
  }
  const before = await readdir(dir);
  const oldVersions = before.filter(
    (name) => name.startsWith('..') && name !== '..data' && name !== versionDir,
  );
  await run('ln', ['-s', versionDir, '..data_tmp'], { cwd: dir });
  await run('mv', ['-T', '..data_tmp', '..data'], { cwd: dir });
  for (const name of Object.keys(files)) {
    if (!before.includes(name)) await symlink(path.join('..data', name), path.join(dir, name));
  }
  for (const name of before) {
    if (!name.startsWith('.') && !(name in files)) await rm(path.join(dir, name));
  }
  for (const old of oldVersions) await rm(path.join(dir, old), { recursive: true });
}

/** Every file of a flat folder, by name: what `kubectl create configmap --from-file=dir` takes. */
export async function readFlatFolder(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isFile()) files[entry.name] = await readFile(path.join(dir, entry.name), 'utf8');
  }
  return files;
}
