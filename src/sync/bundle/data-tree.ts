import { parse as parseYaml } from 'yaml';
import { GatehouseError } from '../../errors/gatehouse-error.js';

/** The `data` document of a bundle; keys are own properties, never inherited ones. */
export type DataTree = Record<string, unknown>;

export class DataTreeError extends GatehouseError<'GH_BUNDLE_INVALID'> {
  constructor(message: string, options?: ErrorOptions) {
    super('GH_BUNDLE_INVALID', message, options);
    this.name = 'DataTreeError';
  }
}

/**
 * Decodes a data file: data.json as JSON, data.yaml and data.yml as YAML 1.2 (a superset
 * of JSON, as OPA's util.Unmarshal reads them).
 */
export function parseDataFile(path: string, content: Buffer): unknown {
  let text = content.toString('utf8');
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  try {
    return path.endsWith('.json') ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
  } catch (error) {
    const format = path.endsWith('.json') ? 'JSON' : 'YAML';
    throw new DataTreeError(`${path} is not valid ${format}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Puts a data file's value into `tree` at the file's directory, as OPA loads bundles
 * (bundle/bundle.go, insertValue): /orders/data.json becomes data.orders, /data.json is
 * the root and must hold an object. Objects merge key by key at any depth; two files that
 * set the same non-object value (or an object and a non-object) conflict, and the bundle
 * is refused rather than one file silently winning.
 */
export function insertDataFile(
  tree: DataTree,
  directory: readonly string[],
  value: unknown,
  file: string,
): void {
  if (directory.length === 0) {
    if (!isPlainObject(value)) {
      throw new DataTreeError(`${file} is at the bundle root, so it must hold an object`);
    }
    mergeInto(tree, value, [], file);
    return;
  }
  let wrapped: unknown = value;
  for (const segment of [...directory].reverse()) {
    const level: DataTree = {};
    setOwn(level, segment, wrapped);
    wrapped = level;
  }
  mergeInto(tree, wrapped as DataTree, [], file);
}

function mergeInto(
  target: DataTree,
  source: DataTree,
  path: readonly string[],
  file: string,
): void {
  for (const [key, value] of Object.entries(source)) {
    const here = [...path, key];
    if (!Object.hasOwn(target, key)) {
      setOwn(target, key, value);
      continue;
    }
    const existing = target[key];
    if (isPlainObject(existing) && isPlainObject(value)) {
      mergeInto(existing, value, here, file);
      continue;
    }
    throw new DataTreeError(
      `${file} sets data.${here.join('.')}, which another data file in the bundle already sets`,
    );
  }
}

/**
 * Defines rather than assigns: a directory or key named "__proto__" must become an ordinary
 * key, not replace the object's prototype.
 */
function setOwn(target: DataTree, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function isPlainObject(value: unknown): value is DataTree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
