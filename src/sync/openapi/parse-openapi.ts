import { parse as parseYaml } from 'yaml';
import { CatalogError } from '../../routes/catalog.js';

/** What the import reads of an OpenAPI document: a validated, dereferenced 3.0 or 3.1 object. */
export type OpenApiDocument = Readonly<Record<string, unknown>>;

/** `orders.openapi.yaml`, `orders.openapi.yml`, `orders.openapi.json`: the naming convention. */
const OPENAPI_FILE = /\.openapi\.(?:ya?ml|json)$/;

/** Whether a file (a folder or bundle path) is an OpenAPI document by its name. */
export function isOpenApiDocumentFile(path: string): boolean {
  return OPENAPI_FILE.test(path);
}

/**
 * Parses (YAML is a superset of JSON), validates and dereferences one OpenAPI document.
 * `$ref`s are resolved within the document only: a reference to another file or a URL is
 * refused before the parser sees the document, and the parser's file and HTTP resolvers are
 * off as well, so a build never reads a file or makes a request on a document's say.
 * Throws CatalogError naming the file.
 */
export async function parseOpenApiDocument(file: string, text: string): Promise<OpenApiDocument> {
  const fail = (problem: string, cause?: unknown): CatalogError =>
    new CatalogError([`${file}: ${problem}`], cause === undefined ? undefined : { cause });
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw fail(`not valid YAML/JSON: ${(error as Error).message}`, error);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw fail('an OpenAPI document must be an object');
  }
  const version = (raw as Record<string, unknown>).openapi;
  if (typeof version !== 'string' || !/^3\.[01]\.\d+$/.test(version)) {
    throw fail(
      `"openapi" must be a 3.0.x or 3.1.x version (found ${JSON.stringify(version ?? null)}); Swagger 2.0 and later versions are not read`,
    );
  }
  const external = externalRef(raw, '#');
  if (external !== undefined) {
    throw fail(
      `${external.at}: $ref ${JSON.stringify(external.ref)} points outside the document; only local references ("#/...") are resolved`,
    );
  }
  try {
    // Loaded on the first document, not at start-up: a catalog without OpenAPI documents
    // (the common case) does not pay its memory (~13 MiB RSS measured on import).
    const { default: SwaggerParser } = await import('@apidevtools/swagger-parser');
    // The parser dereferences in place: give it a copy.
    const parsed = await SwaggerParser.validate(structuredClone(raw) as never, {
      resolve: { external: false, file: false, http: false },
    });
    return parsed as unknown as OpenApiDocument;
  } catch (error) {
    throw fail(`not a valid OpenAPI document: ${(error as Error).message}`, error);
  }
}

/** The first `$ref` that is not a JSON pointer into this document, with where it is. */
function externalRef(value: unknown, at: string): { ref: string; at: string } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = externalRef(value[i], `${at}/${i}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, child] of Object.entries(value)) {
    // RFC 6901: a pointer fragment ("#", "#/...") is the only in-document form.
    // (A `$ref` whose value is an object is a property named "$ref", not a reference.)
    if (key === '$ref' && typeof child === 'string' && child !== '#' && !child.startsWith('#/')) {
      return { ref: child, at };
    }
    const found = externalRef(child, `${at}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`);
    if (found !== undefined) return found;
  }
  return undefined;
}
