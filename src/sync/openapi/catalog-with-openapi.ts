import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { CatalogError } from '../../routes/catalog.js';
import { openApiToService, type CatalogServiceEntry } from './openapi-to-catalog.js';
import { parseOpenApiDocument } from './parse-openapi.js';

/** An OpenAPI document as a source found it: its path in the folder or bundle, and its text. */
export interface OpenApiFile {
  readonly path: string;
  readonly content: string;
}

/**
 * Validating a document costs the parser about a second of CPU (measured: 0.6-1.8 s for the
 * 50-line test/fixtures/openapi/orders.openapi.yaml on the 2-core test machine), and the folder
 * source reads on every watcher event and rescan: the outcome of each document is kept by
 * the hash of its path and text, so an unchanged document is validated once.
 */
const MAX_CACHED_DOCUMENTS = 256;
const imports = new Map<string, CatalogServiceEntry | CatalogError>();

async function importDocument(file: OpenApiFile): Promise<CatalogServiceEntry> {
  const key = createHash('sha256').update(`${file.path}\0${file.content}`).digest('hex');
  let outcome = imports.get(key);
  if (outcome === undefined) {
    try {
      outcome = openApiToService(file.path, await parseOpenApiDocument(file.path, file.content));
    } catch (error) {
      if (!(error instanceof CatalogError)) throw error;
      outcome = error;
    }
    if (imports.size >= MAX_CACHED_DOCUMENTS) imports.delete(imports.keys().next().value ?? '');
    imports.set(key, outcome);
  }
  if (outcome instanceof CatalogError) throw outcome;
  return outcome;
}

/**
 * The catalog text a snapshot is built from: the catalog (possibly empty: the documents are
 * then the whole catalog) with one service per OpenAPI document appended. Without documents
 * the catalog text is returned as it is. The result is catalog JSON, so the snapshot, the
 * last-known-good file and the workers carry it like any catalog and never need the parser.
 *
 * A service name defined twice (in the catalog and a document, or in two documents) is a
 * CatalogError naming both; duplicate API ids and routes are refused by the catalog and the
 * route table, which name the file and the operation through each API's `origin`.
 */
export async function catalogWithOpenApi(
  catalogText: string,
  documents: readonly OpenApiFile[],
): Promise<string> {
  if (documents.length === 0) return catalogText;
  let raw: unknown;
  try {
    raw = parseYaml(catalogText);
  } catch (error) {
    throw new CatalogError([`not valid YAML/JSON: ${String(error)}`], { cause: error });
  }
  raw ??= {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CatalogError(['(top level): the catalog must be a mapping']);
  }
  const catalog = raw as Record<string, unknown>;
  const services: unknown = catalog.services ?? [];
  if (!Array.isArray(services)) throw new CatalogError(['services: must be a list']);

  const definedIn = new Map<string, string>();
  for (const service of services as readonly unknown[]) {
    const name = (service as { name?: unknown } | null)?.name;
    if (typeof name === 'string') definedIn.set(name, 'the catalog');
  }
  const problems: string[] = [];
  const imported: unknown[] = [];
  for (const file of [...documents].sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0,
  )) {
    try {
      const service = await importDocument(file);
      const first = definedIn.get(service.name);
      if (first !== undefined) {
        problems.push(
          `${file.path}: service "${service.name}" is already defined in ${first}; name this one with x-gatehouse-service`,
        );
        continue;
      }
      definedIn.set(service.name, file.path);
      imported.push(service);
    } catch (error) {
      if (!(error instanceof CatalogError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) throw new CatalogError(problems);
  return JSON.stringify({
    ...catalog,
    services: [...(services as readonly unknown[]), ...imported],
  });
}
