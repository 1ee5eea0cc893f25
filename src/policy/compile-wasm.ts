import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { OpaBinary } from './opa-binary.js';
import { readTarGz } from './tar-reader.js';
import { GatehouseError } from '../errors/gatehouse-error.js';

const run = promisify(execFile);

export interface RegoFile {
  /** Path relative to the policy root, with "/" separators. */
  readonly path: string;
  readonly content: string;
}

export interface CompileOptions {
  readonly opa: OpaBinary;
  readonly cacheDir: string;
  readonly timeoutMs: number;
}

export interface CompiledWasm {
  /** Content hash of everything that decides the output: opa version, entrypoints, Rego. */
  readonly hash: string;
  readonly wasm: Buffer;
  readonly fromCache: boolean;
}

export class PolicyCompileError extends GatehouseError<'GH_POLICY_COMPILE_FAILED'> {
  constructor(message: string, options?: ErrorOptions) {
    super('GH_POLICY_COMPILE_FAILED', message, options);
    this.name = 'PolicyCompileError';
  }
}

const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);

/**
 * Compiles Rego to one WebAssembly module with `opa build -t wasm`, one entrypoint per
 * policy level. The result is cached on disk by content hash, so a restart with unchanged
 * policies loads the module without running opa.
 */
export async function compileWasm(
  files: readonly RegoFile[],
  entrypoints: readonly string[],
  options: CompileOptions,
): Promise<CompiledWasm> {
  if (entrypoints.length === 0) {
    throw new PolicyCompileError('no policy entrypoints: the catalog names no Rego package');
  }
  const hash = contentHash(files, entrypoints, options.opa.version);
  const cached = path.join(options.cacheDir, `${hash}.wasm`);
  const fromDisk = await readFile(cached).catch(() => undefined);
  if (fromDisk !== undefined && fromDisk.subarray(0, 4).equals(WASM_MAGIC)) {
    return { hash, wasm: fromDisk, fromCache: true };
  }

  const wasm = await runOpaBuild(files, entrypoints, options);
  await mkdir(options.cacheDir, { recursive: true });
  // Write then rename: a crash mid-write never leaves a truncated module under the hash.
  const partial = `${cached}.${randomUUID()}.partial`;
  await writeFile(partial, wasm);
  await rename(partial, cached);
  return { hash, wasm, fromCache: false };
}

export function contentHash(
  files: readonly RegoFile[],
  entrypoints: readonly string[],
  opaVersion: string,
): string {
  const hash = createHash('sha256');
  hash.update(`opa ${opaVersion}\0`);
  for (const entrypoint of [...entrypoints].sort()) hash.update(`entrypoint ${entrypoint}\0`);
  for (const file of [...files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    hash.update(`file ${file.path}\0${file.content}\0`);
  }
  return hash.digest('hex');
}

async function runOpaBuild(
  files: readonly RegoFile[],
  entrypoints: readonly string[],
  options: CompileOptions,
): Promise<Buffer> {
  // Stage only the Rego files: opa build would also read any JSON/YAML next to them
  // (the catalog among them) as data.
  const stage = await mkdtemp(path.join(tmpdir(), 'gatehouse-build-'));
  try {
    const sourceDir = path.join(stage, 'src');
    for (const file of files) {
      const target = path.join(sourceDir, file.path);
      if (!target.startsWith(sourceDir + path.sep)) {
        throw new PolicyCompileError(`policy file path escapes the policy folder: ${file.path}`);
      }
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, file.content);
    }
    const output = path.join(stage, 'bundle.tar.gz');
    const args = ['build', '-t', 'wasm', '-o', output];
    for (const entrypoint of entrypoints) args.push('-e', entrypoint);
    args.push(sourceDir);
    try {
      await run(options.opa.path, args, {
        timeout: options.timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (error) {
      // opa prints its errors on stdout, not stderr.
      const { stdout, stderr } = error as { stdout?: unknown; stderr?: unknown };
      const printed = [stdout, stderr]
        .filter((text): text is string => typeof text === 'string' && text.trim() !== '')
        .join('\n')
        .trim();
      const detail = printed === '' ? String(error) : printed;
      // opa prints paths inside the staging folder; show them relative to the policy root.
      throw new PolicyCompileError(
        `opa build failed: ${detail.replaceAll(sourceDir + path.sep, '')}`,
        { cause: error },
      );
    }
    const entries = readTarGz(await readFile(output), {
      maxUncompressedBytes: 256 * 1024 * 1024,
      maxFiles: 10_000,
    });
    const wasm = entries.find((entry) => entry.path.replace(/^\/+/, '') === 'policy.wasm');
    if (wasm === undefined) throw new PolicyCompileError('opa build wrote no policy.wasm');
    return wasm.content;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
