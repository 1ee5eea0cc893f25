import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { findOpa } from '../../../../src/policy/opa-binary.js';
import { readTarGz, type TarEntry } from '../../../../src/policy/tar-reader.js';
import { specsOf, tarGz } from './tar-writer.js';

const run = promisify(execFile);

export type FileTree = Readonly<Record<string, string | Buffer>>;

/**
 * Runs the real `opa build` on `files` (written into a fresh folder, which is the bundle
 * root: opa is run from inside it, so entry names are "/data.json", not "/src/data.json")
 * and returns the tarball it writes.
 */
export async function opaBuild(files: FileTree, args: readonly string[] = []): Promise<Buffer> {
  return inTempDir(async (dir) => {
    const root = await writeTree(path.join(dir, 'bundle'), files);
    const output = path.join(dir, 'bundle.tar.gz');
    await opa(['build', '-b', '.', '-o', output, ...args], root);
    return readFile(output);
  });
}

/**
 * Signs `files` with the real `opa sign` (it hashes every file in the folder, unlike
 * `opa build`, which keeps only Rego, data, wasm and the manifest) and returns the folder,
 * .signatures.json included, as a gzip'ed tarball with opa's "/"-rooted names.
 */
export async function opaSignFolder(files: FileTree, args: readonly string[]): Promise<Buffer> {
  return inTempDir(async (dir) => {
    const root = await writeTree(path.join(dir, 'bundle'), files);
    await opa(['sign', '-b', '.', ...args], root);
    const signed: Record<string, Buffer> = {};
    for (const relative of await listFiles(root)) {
      signed[`/${relative}`] = await readFile(path.join(root, relative));
    }
    return tarGz(specsOf(signed));
  });
}

/** The entries of an opa-built tarball, changed by `edit`, packed again (for tampering). */
export function repack(archive: Buffer, edit: (entries: TarEntry[]) => TarEntry[]): Buffer {
  const entries = readTarGz(archive, { maxUncompressedBytes: 64 * 1024 * 1024, maxFiles: 1000 });
  return tarGz(edit(entries).map((entry) => ({ path: entry.path, content: entry.content })));
}

/** Writes a PEM (or an HMAC secret) where opa can read it; returns its path. */
export async function writeKeyFile(dir: string, name: string, pem: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, pem, { mode: 0o600 });
  return file;
}

async function opa(args: readonly string[], cwd: string): Promise<void> {
  const binary = await findOpa(undefined);
  try {
    await run(binary.path, args, { cwd, timeout: 60_000 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`opa ${args.join(' ')} failed: ${stdout ?? ''}${stderr ?? ''}`, {
      cause: error,
    });
  }
}

async function writeTree(root: string, files: FileTree): Promise<string> {
  for (const [relative, content] of Object.entries(files)) {
    const target = path.join(root, relative);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, content);
  }
  await mkdir(root, { recursive: true });
  return root;
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .map((relative) => relative.split(path.sep).join('/'))
    .sort();
}

async function inTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-bundle-test-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
