import { createHash } from 'node:crypto';
import {
  compileDeclarativePolicy,
  isDeclarativePolicyFile,
} from '../../policy/declarative/compile-declarative.js';
import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { RegoFile } from '../../policy/compile-wasm.js';
import type { PolicyInputs } from '../../snapshot/build-snapshot.js';
import { GatehouseError } from '../../errors/gatehouse-error.js';
import { catalogWithOpenApi, type OpenApiFile } from '../openapi/catalog-with-openapi.js';
import { isOpenApiDocumentFile } from '../openapi/parse-openapi.js';

export class PolicyFolderError extends GatehouseError<'GH_POLICY_FOLDER_INVALID'> {
  constructor(message: string, options?: ErrorOptions) {
    super('GH_POLICY_FOLDER_INVALID', message, options);
    this.name = 'PolicyFolderError';
  }
}

/** What one read of the policy folder found. */
export interface PolicyFolderRead {
  /** The inputs, with `sourceRevision` set to `revision`. */
  readonly inputs: PolicyInputs;
  /** Content hash of the catalog, `data.json` and every Rego file read (path and text). */
  readonly revision: string;
  /** The real paths of the folder and of every directory below it that was read. */
  readonly directories: readonly string[];
}

/**
 * A Kubernetes ConfigMap or Secret volume is written by the kubelet's atomic writer: the
 * files live in a hidden version folder (`..2026_12_01_10_00_00.1234`), `..data` is a
 * symlink to it, and every visible name is a symlink through `..data`. A new version is
 * written beside the old one and `..data` is renamed over in one step.
 */
const ATOMIC_WRITER_DATA_LINK = '..data';

/** A read that saw `..data` move under it is repeated; a folder that never holds still fails. */
const MAX_TORN_READS = 3;

/**
 * Reads a local policy folder: every `*.rego` file below it (tests, `*_test.rego`, are left
 * out: they are for `opa test`), the API catalog file, and an optional `data.json` at its
 * root as the `data` document. OpenAPI documents (`*.openapi.yaml|yml|json`, anywhere below)
 * add one service each to the catalog (src/sync/openapi/); with at least one of them the
 * catalog file may be absent.
 *
 * Symlinks are followed as long as they resolve inside the folder's real path, so a
 * ConfigMap volume reads through its visible names; one that resolves outside is refused.
 * Names starting with `.` are skipped, which leaves out the atomic writer's `..data` and
 * version folders (their files are read once, through the visible symlinks).
 */
export async function readPolicyFolder(
  dir: string,
  catalogFile: string,
  /** OPA-Envoy mode (config `opaEnvoy`): a folder without the catalog reads as catalogText ''. */
  catalogOptional = false,
): Promise<PolicyFolderRead> {
  let lastError: unknown;
  for (let attempt = 0; attempt < MAX_TORN_READS; attempt++) {
    const before = await dataLinkTarget(dir);
    let read: PolicyFolderRead | undefined;
    try {
      read = await readOnce(dir, catalogFile, catalogOptional);
    } catch (error) {
      lastError = error;
    }
    // Files read before and after a `..data` swap may mix two versions: read again.
    if ((await dataLinkTarget(dir)) !== before) continue;
    if (read !== undefined) return read;
    throw lastError;
  }
  throw new PolicyFolderError(
    `policy folder ${dir}: ${ATOMIC_WRITER_DATA_LINK} changed during each of ${MAX_TORN_READS} reads`,
    { cause: lastError },
  );
}

async function readOnce(
  dir: string,
  catalogFile: string,
  catalogOptional: boolean,
): Promise<PolicyFolderRead> {
  let root: string;
  try {
    root = await realpath(dir);
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch (error) {
    throw new PolicyFolderError(`policy folder ${dir} cannot be read: ${describe(error)}`, {
      cause: error,
    });
  }
  const folder = new ContainedFolder(dir, root);

  const catalogPath = await folder.resolve(catalogFile);
  const directories: string[] = [];
  const found: Array<{ relative: string; real: string }> = [];
  await folder.walk(root, '', new Set([root]), directories, found);
  const openApiFiles: OpenApiFile[] = [];
  for (const file of found.sort((a, b) => compare(a.relative, b.relative))) {
    if (!isOpenApiDocumentFile(file.relative)) continue;
    openApiFiles.push({
      path: file.relative,
      content: await folder.read(file.real, file.relative),
    });
  }
  if (catalogPath === undefined && !catalogOptional && openApiFiles.length === 0) {
    throw new PolicyFolderError(
      `cannot read the API catalog ${path.join(dir, catalogFile)}: it does not exist (and the folder holds no *.openapi.yaml document)`,
    );
  }
  const catalogFileText =
    catalogPath === undefined ? '' : await folder.read(catalogPath, catalogFile, 'the API catalog');
  // Documents are validated here, so a bad one fails the read and names its file.
  const catalogText = await catalogWithOpenApi(catalogFileText, openApiFiles);

  const regoFiles: RegoFile[] = [];
  for (const file of found) {
    if (isOpenApiDocumentFile(file.relative)) continue;
    const content = await folder.read(file.real, file.relative);
    // A declarative policy (*.policy.yaml) is read as the Rego it compiles to.
    regoFiles.push(
      isDeclarativePolicyFile(file.relative)
        ? declarativeAsRego({ path: file.relative, content })
        : { path: file.relative, content },
    );
  }
  if (regoFiles.length === 0) {
    throw new PolicyFolderError(
      `policy folder ${dir} holds no Rego policies (*.rego files other than *_test.rego, or *.policy.yaml)`,
    );
  }

  let data: unknown = {};
  let dataText: string | undefined;
  const dataPath = await folder.resolve('data.json');
  if (dataPath !== undefined) {
    dataText = await folder.read(dataPath, 'data.json');
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

  const revision = createHash('sha256')
    .update(
      JSON.stringify([
        catalogFile,
        catalogText,
        dataText ?? null,
        regoFiles.map((f) => [f.path, f.content]),
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  return {
    inputs: { catalogText, regoFiles, data, sourceRevision: revision },
    revision,
    directories,
  };
}

/** Resolves and reads names below a folder, refusing anything that resolves outside it. */
class ContainedFolder {
  constructor(
    /** As configured, for messages. */
    private readonly dir: string,
    /** Its real path: every file read must be below it. */
    private readonly root: string,
  ) {}

  /** The real path of `relative` (a name below the root), or undefined when it does not exist. */
  async resolve(relative: string): Promise<string | undefined> {
    const logical = path.join(this.root, relative);
    try {
      await lstat(logical);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw this.unreadable(relative, error);
    }
    return this.realInside(logical, relative);
  }

  async read(real: string, relative: string, what = relative): Promise<string> {
    try {
      return await readFile(real, 'utf8');
    } catch (error) {
      throw new PolicyFolderError(
        `cannot read ${what} ${path.join(this.dir, relative)}: ${describe(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * Collects the Rego files, declarative policies and OpenAPI documents below `real` (shown as `prefix`/...), and the real paths of
   * the directories it enters. `ancestors` are the real directories above: a symlink back
   * to one of them would loop.
   */
  async walk(
    real: string,
    prefix: string,
    ancestors: ReadonlySet<string>,
    directories: string[],
    found: Array<{ relative: string; real: string }>,
  ): Promise<void> {
    directories.push(real);
    let entries: Dirent[];
    try {
      entries = await readdir(real, { withFileTypes: true });
    } catch (error) {
      throw this.unreadable(prefix === '' ? '.' : prefix, error);
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      let target = path.join(real, entry.name);
      let kind: Pick<Stats, 'isFile' | 'isDirectory'> = entry;
      if (entry.isSymbolicLink()) {
        target = await this.realInside(target, relative);
        try {
          kind = await stat(target);
        } catch (error) {
          throw this.unreadable(relative, error);
        }
      }
      if (kind.isDirectory()) {
        if (ancestors.has(target)) {
          throw new PolicyFolderError(
            `policy folder ${this.dir}: ${relative} is a symlink loop (it leads back to ${target}); refused`,
          );
        }
        await this.walk(target, relative, new Set([...ancestors, target]), directories, found);
      } else if (
        kind.isFile() &&
        ((entry.name.endsWith('.rego') && !entry.name.endsWith('_test.rego')) ||
          isDeclarativePolicyFile(entry.name) ||
          isOpenApiDocumentFile(entry.name))
      ) {
        found.push({ relative, real: target });
      }
    }
  }

  /** Follows every symlink in `logical`; the result must be the root or below it. */
  private async realInside(logical: string, relative: string): Promise<string> {
    let real: string;
    try {
      real = await realpath(logical);
    } catch (error) {
      const target = await readlink(logical).catch(() => undefined);
      throw new PolicyFolderError(
        `policy folder ${this.dir}: ${relative} cannot be resolved` +
          `${target === undefined ? '' : ` (a symlink to ${target})`}: ${describe(error)}`,
        { cause: error },
      );
    }
    if (real !== this.root && !real.startsWith(this.root + path.sep)) {
      throw new PolicyFolderError(
        `policy folder ${this.dir}: ${relative} resolves to ${real}, outside the folder ` +
          `(${this.root}); symlinks must stay inside the policy folder`,
      );
    }
    return real;
  }

  private unreadable(relative: string, error: unknown): PolicyFolderError {
    return new PolicyFolderError(
      `cannot read ${path.join(this.dir, relative)}: ${describe(error)}`,
      { cause: error },
    );
  }
}

/** Where `..data` points now, or undefined when the folder is not an atomic writer's. */
async function dataLinkTarget(dir: string): Promise<string | undefined> {
  return readlink(path.join(dir, ATOMIC_WRITER_DATA_LINK)).catch(() => undefined);
}

/** Code-point order, so the file order (and the revision) does not depend on the locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Compiles a declarative policy; its mistakes are the folder's (named, retried, reported). */
function declarativeAsRego(file: RegoFile): RegoFile {
  try {
    return compileDeclarativePolicy(file);
  } catch (error) {
    throw new PolicyFolderError((error as Error).message, { cause: error });
  }
}
