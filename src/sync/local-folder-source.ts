import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RegoFile } from '../policy/compile-wasm.js';
import type { PolicyInputs } from '../snapshot/build-snapshot.js';

export class PolicyFolderError extends Error {
  readonly code = 'GH_POLICY_FOLDER_INVALID';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PolicyFolderError';
  }
}

/**
 * Reads a local policy folder: every `*.rego` file below it (tests, `*_test.rego`, are left
 * out: they are for `opa test`), the API catalog file, and an optional `data.json` at its
 * root as the `data` document.
 */
export async function readPolicyFolder(dir: string, catalogFile: string): Promise<PolicyInputs> {
  let catalogText: string;
  try {
    catalogText = await readFile(path.join(dir, catalogFile), 'utf8');
  } catch (error) {
    throw new PolicyFolderError(
      `cannot read the API catalog ${path.join(dir, catalogFile)}: ${String(error)}`,
      {
        cause: error,
      },
    );
  }
  const regoFiles: RegoFile[] = [];
  for (const relative of await listFiles(dir)) {
    if (relative.endsWith('.rego') && !relative.endsWith('_test.rego')) {
      regoFiles.push({ path: relative, content: await readFile(path.join(dir, relative), 'utf8') });
    }
  }
  let data: unknown = {};
  const dataText = await readFile(path.join(dir, 'data.json'), 'utf8').catch(() => undefined);
  if (dataText !== undefined) {
    try {
      data = JSON.parse(dataText);
    } catch (error) {
      throw new PolicyFolderError(`data.json is not valid JSON: ${String(error)}`, {
        cause: error,
      });
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new PolicyFolderError('data.json must hold a JSON object');
    }
  }
  return { catalogText, regoFiles, data };
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) =>
      path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'),
    )
    .filter((relative) => !relative.split('/').some((part) => part.startsWith('.')))
    .sort();
}

/**
 * Calls `onChange` (debounced) when anything below `dir` changes. Editors save in bursts
 * (write temp, rename), so one rebuild per burst.
 */
export function watchPolicyFolder(
  dir: string,
  debounceMs: number,
  onChange: () => void,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(dir, { recursive: true }, () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  watcher.on('error', () => {
    // A removed folder ends the watch; the last snapshot keeps serving.
  });
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    watcher.close();
  };
}
