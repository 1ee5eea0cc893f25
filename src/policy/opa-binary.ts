import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GatehouseError } from '../errors/gatehouse-error.js';

const run = promisify(execFile);

/** The repository root, from src/policy or dist/policy alike. */
const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PROJECT_OPA = path.join(PROJECT_ROOT, '.tools', 'bin', 'opa');

export class OpaNotFoundError extends GatehouseError<'GH_OPA_NOT_FOUND'> {
  constructor(tried: readonly string[], problem = 'the opa CLI was not found') {
    super(
      'GH_OPA_NOT_FOUND',
      `${problem} (tried: ${tried.join(', ')}). Gatehouse compiles Rego to ` +
        `WebAssembly with it. Run "npm run setup" (it installs a pinned opa into .tools/bin ` +
        `with "go install"), or point OPA_BIN or the config option opa.binary at an opa binary.`,
    );
    this.name = 'OpaNotFoundError';
  }
}

export interface OpaBinary {
  readonly path: string;
  /** e.g. "1.22.2"; part of the compile cache key. */
  readonly version: string;
}

/**
 * Finds `opa`: the configured path (config opa.binary or OPA_BIN), then the project's
 * .tools/bin/opa, then PATH. The first candidate that runs `opa version` wins.
 */
export async function findOpa(
  configured: string | undefined,
  where: { readonly projectOpa?: string; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<OpaBinary> {
  const env = where.env ?? process.env;
  const explicit =
    configured ?? (env.OPA_BIN === undefined || env.OPA_BIN === '' ? undefined : env.OPA_BIN);
  if (explicit !== undefined) {
    // Asked for by name: use it or say so; never fall back to some other opa silently.
    const version = await versionOf(explicit);
    if (version === undefined) {
      throw new OpaNotFoundError(
        [explicit],
        `opa.binary / OPA_BIN is ${explicit}, which does not run "opa version"`,
      );
    }
    return { path: explicit, version };
  }
  const candidates = [
    where.projectOpa ?? PROJECT_OPA,
    ...(env.PATH ?? '')
      .split(path.delimiter)
      .filter((dir) => dir !== '')
      .map((dir) => path.join(dir, 'opa')),
  ];
  for (const candidate of candidates) {
    const version = await versionOf(candidate);
    if (version !== undefined) return { path: candidate, version };
  }
  throw new OpaNotFoundError([candidates[0] ?? PROJECT_OPA, 'PATH']);
}

async function versionOf(binary: string): Promise<string | undefined> {
  try {
    if (binary.includes('/')) await access(binary, constants.X_OK);
    const { stdout } = await run(binary, ['version'], { timeout: 10_000 });
    return /^Version:\s*(\S+)/m.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}
