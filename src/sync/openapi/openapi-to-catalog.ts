import { CatalogError, isRegoPackageName } from '../../routes/catalog.js';
import type { PathParamType } from '../../routes/path-param-types.js';
import type { OpenApiDocument } from './parse-openapi.js';

/**
 * One OpenAPI document -> one catalog service (the catalog's own YAML shape, README "API
 * catalog"), so everything after the import (ids, levels, routes, hosts) is the catalog's.
 * The mapping is in docs/openapi.md; in short:
 * - each path + operation is an API: its method, `servers` base path + path template, the
 *   `operationId` as its id (else `<service>:<METHOD> <path>`);
 * - `servers` (operation, else path item, else document) give the hosts;
 * - `security` (operation over document) gives the auth: `{}` alone or `[]` is public,
 *   `{}` beside token alternatives is optional, OAuth2 / OpenID Connect / HTTP bearer
 *   requirements give the scopes; what the catalog cannot express is refused here;
 * - `x-gatehouse-policy` on the operation (else the path item) is the API level, on the
 *   document the service level; `x-gatehouse-service` names the service (else the file).
 * - typed path parameters become the API's `params`.
 */

/** The catalog's raw service entry, as catalog.yaml would spell it. */
export interface CatalogServiceEntry {
  readonly name: string;
  readonly hosts: readonly string[];
  readonly policy?: string;
  readonly apis: readonly Record<string, unknown>[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const WELL_KNOWN_OIDC = '/.well-known/openid-configuration';
/** A server URL with enum variables expands to every combination; past this it is refused. */
const MAX_SERVER_URLS = 64;
const HOST_NAME = /^[A-Za-z0-9.-]+$/;

type Json = Readonly<Record<string, unknown>>;
type Alternative =
  | { readonly anonymous: true }
  | {
      readonly anonymous: false;
      readonly issuers: readonly string[] | undefined;
      readonly scopes: readonly string[];
    };
interface DerivedAuth {
  readonly mode: 'required' | 'optional' | 'none';
  readonly scopes: readonly string[];
  readonly scopesMatch: 'all' | 'any';
  readonly issuers?: readonly string[];
}

export function openApiToService(file: string, document: OpenApiDocument): CatalogServiceEntry {
  const problems: string[] = [];
  const name = serviceName(file, document, problems);
  const servicePolicy = policyOf(document, `${file}: x-gatehouse-policy`, problems);
  const schemes = objectAt(objectAt(document, 'components'), 'securitySchemes');
  const apis: Record<string, unknown>[] = [];
  const hostsSeen = new Set<string>();

  for (const [pathKey, pathItemValue] of Object.entries(objectAt(document, 'paths'))) {
    const pathItem = asObject(pathItemValue);
    for (const method of METHODS) {
      const operation = pathItem[method];
      if (operation === undefined) continue;
      const op = asObject(operation);
      const operationId = typeof op.operationId === 'string' ? op.operationId : undefined;
      const where = `${file}: ${method.toUpperCase()} ${pathKey}${operationId === undefined ? '' : ` (operationId ${operationId})`}`;
      const problemCount = problems.length;
      const servers = serversOf(
        op.servers ?? pathItem.servers ?? document.servers,
        where,
        problems,
      );
      const security = op.security ?? document.security;
      const auth = security === undefined ? undefined : authOf(security, schemes, where, problems);
      const policy =
        policyOf(op, `${where}: x-gatehouse-policy`, problems) ??
        policyOf(pathItem, `${where}: x-gatehouse-policy (path item)`, problems);
      const params = pathParamsOf([pathItem.parameters, op.parameters]);
      if (problems.length > problemCount || servers === undefined) continue;
      for (const host of servers.hosts) hostsSeen.add(host);
      const template = joinPath(servers.basePath, pathKey);
      apis.push({
        id: operationId ?? `${name}:${method.toUpperCase()} ${template}`,
        method: method.toUpperCase(),
        path: template,
        ...(policy === undefined ? {} : { policy }),
        ...(auth === undefined ? {} : { auth }),
        ...(Object.keys(params).length === 0 ? {} : { params }),
        origin: where,
        // Hosts are per service in the catalog; an operation with its own servers is checked below.
        hostsOfOperation: servers.hosts,
      });
    }
  }
  if (apis.length === 0 && problems.length === 0) {
    problems.push(`${file}: the document has no operations under "paths"`);
  }
  // The catalog gives hosts per service: operations whose servers name other hosts than the
  // rest cannot be one service.
  const hosts = [...hostsSeen].sort();
  for (const api of apis) {
    const own = [...(api.hostsOfOperation as string[])].sort();
    if (own.join(',') !== hosts.join(',')) {
      problems.push(
        `${String(api.origin)}: its servers give the hosts [${own.join(', ')}] but other operations of the document give [${hosts.join(', ')}]; a document's operations must share their hosts (one document per set of hosts)`,
      );
    }
    delete api.hostsOfOperation;
  }
  if (problems.length > 0) throw new CatalogError(problems);
  return { name, hosts, ...(servicePolicy === undefined ? {} : { policy: servicePolicy }), apis };
}

function serviceName(file: string, document: Json, problems: string[]): string {
  const named = document['x-gatehouse-service'];
  if (named !== undefined) {
    if (typeof named === 'string' && named !== '') return named;
    problems.push(`${file}: x-gatehouse-service must be a non-empty string`);
  }
  const base = file.slice(file.lastIndexOf('/') + 1);
  return base.replace(/\.openapi\.(?:ya?ml|json)$/, '');
}

function policyOf(holder: Json, where: string, problems: string[]): string | undefined {
  const policy = holder['x-gatehouse-policy'];
  if (policy === undefined) return undefined;
  if (typeof policy === 'string' && isRegoPackageName(policy)) return policy;
  problems.push(`${where}: must be a Rego package name like "orders.api"`);
  return undefined;
}

/**
 * The hosts and the one base path of a list of Server Objects (OpenAPI 3.1 section 4.8.5):
 * variables are replaced by their enum values (every one) or their default.
 */
function serversOf(
  value: unknown,
  where: string,
  problems: string[],
): { hosts: string[]; basePath: string } | undefined {
  const servers = Array.isArray(value) && value.length > 0 ? value : [{ url: '/' }];
  const hosts = new Set<string>();
  const basePaths = new Set<string>();
  let relative = false;
  for (const server of servers) {
    for (const url of expandServerUrl(asObject(server))) {
      if (url === undefined) {
        problems.push(`${where}: servers expand to more than ${MAX_SERVER_URLS} URLs`);
        return undefined;
      }
      if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url)) {
        let parsed: URL;
        try {
          parsed = new URL(url);
        } catch {
          problems.push(`${where}: server URL ${JSON.stringify(url)} is not a URL`);
          return undefined;
        }
        if (!HOST_NAME.test(parsed.hostname)) {
          problems.push(
            `${where}: server host ${JSON.stringify(parsed.hostname)} is not a host name`,
          );
          return undefined;
        }
        hosts.add(parsed.hostname.toLowerCase());
        basePaths.add(basePathOf(parsed.pathname));
      } else if (url === '' || url.startsWith('/')) {
        // A relative server URL names no host: the APIs answer on any host.
        relative = true;
        basePaths.add(basePathOf(url.split(/[?#]/, 1)[0] ?? ''));
      } else {
        problems.push(
          `${where}: server URL ${JSON.stringify(url)} is neither absolute nor a path ("/v1")`,
        );
        return undefined;
      }
    }
  }
  if (relative && hosts.size > 0) {
    problems.push(
      `${where}: servers mix absolute URLs with relative ones; a relative server would mean any host`,
    );
    return undefined;
  }
  if (basePaths.size > 1) {
    problems.push(
      `${where}: servers have different base paths (${[...basePaths].join(', ')}); an API has one path`,
    );
    return undefined;
  }
  let basePath = [...basePaths][0] ?? '';
  try {
    // Route templates are written decoded (route-table.ts).
    basePath = decodeURIComponent(basePath);
  } catch {
    problems.push(
      `${where}: server base path ${JSON.stringify(basePath)} is not valid percent-encoding`,
    );
    return undefined;
  }
  return { hosts: [...hosts], basePath };
}

/** Every URL of a Server Object; undefined (once) past MAX_SERVER_URLS. */
function expandServerUrl(server: Json): Array<string | undefined> {
  let urls = [typeof server.url === 'string' ? server.url : '/'];
  for (const [name, variableValue] of Object.entries(asObject(server.variables))) {
    const variable = asObject(variableValue);
    const values = Array.isArray(variable.enum)
      ? (variable.enum as unknown[]).filter(isScalar).map(String)
      : [typeof variable.default === 'string' ? variable.default : ''];
    urls = urls.flatMap((url) => values.map((v) => url.replaceAll(`{${name}}`, v)));
    if (urls.length > MAX_SERVER_URLS) return [undefined];
  }
  return urls;
}

function basePathOf(pathname: string): string {
  const trimmed = pathname.replace(/\/+$/, '');
  return trimmed === '' ? '' : trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

function joinPath(basePath: string, pathKey: string): string {
  if (basePath === '') return pathKey;
  return pathKey === '/' ? basePath : `${basePath}${pathKey}`;
}

/**
 * A Security Requirement list (OpenAPI 3.1 section 4.8.30) as the catalog's auth: the
 * alternatives are OR'ed, the schemes inside one alternative AND'ed.
 */
function authOf(
  security: unknown,
  schemes: Json,
  where: string,
  problems: string[],
): DerivedAuth | undefined {
  if (!Array.isArray(security)) return undefined;
  // An empty list removes every requirement (3.1 section 4.8.10.1 `security`): public.
  if (security.length === 0) return { mode: 'none', scopes: [], scopesMatch: 'all' };
  const alternatives: Alternative[] = [];
  for (const requirement of security) {
    const alternative = alternativeOf(asObject(requirement), schemes, where, problems);
    if (alternative === undefined) return undefined;
    alternatives.push(alternative);
  }
  const anonymous = alternatives.some((a) => a.anonymous);
  const tokens = alternatives.filter((a) => !a.anonymous);
  if (tokens.length === 0) return { mode: 'none', scopes: [], scopesMatch: 'all' };
  const mode = anonymous ? 'optional' : 'required';
  // An alternative needing more scopes than another (of the same issuers) is redundant.
  const needed = tokens.filter(
    (a) =>
      !tokens.some(
        (b) =>
          b !== a &&
          sameSet(b.issuers, a.issuers) &&
          b.scopes.every((s) => a.scopes.includes(s)) &&
          (b.scopes.length < a.scopes.length || tokens.indexOf(b) < tokens.indexOf(a)),
      ),
  );
  const issuers = unionIssuers(needed);
  const [first] = needed;
  if (first === undefined) return undefined;
  const withIssuers = issuers === undefined ? {} : { issuers };
  if (needed.every((a) => sameSet(a.scopes, first.scopes))) {
    // Same scopes, perhaps from different issuers: any of those issuers, all of the scopes.
    return { mode, scopes: [...first.scopes], scopesMatch: 'all', ...withIssuers };
  }
  if (needed.every((a) => sameSet(a.issuers, first.issuers) && a.scopes.length === 1)) {
    // One scope per alternative: any one of them.
    return {
      mode,
      scopes: needed.map((a) => a.scopes[0] as string),
      scopesMatch: 'any',
      ...withIssuers,
    };
  }
  problems.push(
    `${where}: the security alternatives cannot be expressed as one API's auth (the catalog takes all of one scope set, or any one of single scopes, from the same issuers); split the operation or simplify its security`,
  );
  return undefined;
}

function alternativeOf(
  requirement: Json,
  schemes: Json,
  where: string,
  problems: string[],
): Alternative | undefined {
  const entries = Object.entries(requirement);
  if (entries.length === 0) return { anonymous: true };
  if (entries.length > 1) {
    problems.push(
      `${where}: a security requirement names several schemes at once (${entries.map(([n]) => n).join(', ')}); one request carries one token, so only one scheme per alternative is supported`,
    );
    return undefined;
  }
  const [schemeName, scopesValue] = entries[0] as [string, unknown];
  const scheme = asObject(schemes[schemeName]);
  const scopes = Array.isArray(scopesValue) ? scopesValue.map(String) : [];
  const issuer = scheme['x-gatehouse-issuer'];
  if (issuer !== undefined && (typeof issuer !== 'string' || issuer === '')) {
    problems.push(
      `${where}: security scheme ${schemeName}: x-gatehouse-issuer must be an issuer string`,
    );
    return undefined;
  }
  switch (scheme.type) {
    case 'oauth2':
      return { anonymous: false, issuers: issuer === undefined ? undefined : [issuer], scopes };
    case 'openIdConnect': {
      // OpenID Connect Discovery 1.0 section 4: the URL is the issuer + the well-known path.
      const url = typeof scheme.openIdConnectUrl === 'string' ? scheme.openIdConnectUrl : '';
      const derived = url.endsWith(WELL_KNOWN_OIDC)
        ? url.slice(0, -WELL_KNOWN_OIDC.length)
        : undefined;
      const named = issuer ?? derived;
      if (named === undefined) {
        problems.push(
          `${where}: security scheme ${schemeName}: openIdConnectUrl does not end in ${WELL_KNOWN_OIDC}; name the issuer with x-gatehouse-issuer`,
        );
        return undefined;
      }
      return { anonymous: false, issuers: [named], scopes };
    }
    case 'http':
      if (String(scheme.scheme).toLowerCase() === 'bearer') {
        return { anonymous: false, issuers: issuer === undefined ? undefined : [issuer], scopes };
      }
      break;
  }
  problems.push(
    `${where}: security scheme ${schemeName} (type ${String(scheme.type)}${scheme.type === 'http' ? ` ${String(scheme.scheme)}` : ''}) is not a token Gatehouse verifies; only oauth2, openIdConnect and http bearer schemes are supported`,
  );
  return undefined;
}

function unionIssuers(alternatives: readonly Alternative[]): string[] | undefined {
  const issuers = new Set<string>();
  for (const a of alternatives) {
    if (a.anonymous) continue;
    // One alternative that takes any configured issuer takes them all.
    if (a.issuers === undefined) return undefined;
    for (const issuer of a.issuers) issuers.add(issuer);
  }
  return [...issuers];
}

function sameSet(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Typed path parameters (operation's over the path item's, by name; section 4.8.9). */
function pathParamsOf(lists: readonly unknown[]): Record<string, PathParamType> {
  const params = new Map<string, PathParamType>();
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const value of list) {
      const param = asObject(value);
      if (param.in !== 'path' || typeof param.name !== 'string') continue;
      const type = paramTypeOf(asObject(param.schema));
      if (type === undefined) params.delete(param.name);
      else params.set(param.name, type);
    }
  }
  return Object.fromEntries(params);
}

/** The checkable part of a Schema Object; undefined when nothing is checked. */
function paramTypeOf(schema: Json): PathParamType | undefined {
  // 3.1 allows a type list; "null" never fits a path segment, several others are untyped.
  const types = (Array.isArray(schema.type) ? (schema.type as unknown[]) : [schema.type]).filter(
    (t) => t !== undefined && t !== 'null',
  );
  const single = types.length === 1 ? types[0] : undefined;
  const type =
    single === 'integer' || single === 'number' || single === 'boolean' || single === 'string'
      ? single
      : 'string';
  const values: Array<string | number | boolean> | undefined = Array.isArray(schema.enum)
    ? (schema.enum as unknown[]).filter(isScalar)
    : schema.const !== undefined && isScalar(schema.const)
      ? [schema.const]
      : undefined;
  const out: {
    type: PathParamType['type'];
    format?: PathParamType['format'];
    enum?: Array<string | number | boolean>;
    minLength?: number;
    maxLength?: number;
    pattern?: string;
  } = { type };
  if (type === 'string' && schema.format === 'uuid') out.format = 'uuid';
  if (type === 'integer' && (schema.format === 'int32' || schema.format === 'int64')) {
    out.format = schema.format;
  }
  if (values !== undefined && values.length > 0) out.enum = values;
  if (type === 'string') {
    if (isLength(schema.minLength)) out.minLength = schema.minLength;
    if (isLength(schema.maxLength)) out.maxLength = schema.maxLength;
    if (typeof schema.pattern === 'string') out.pattern = schema.pattern;
  }
  return Object.keys(out).length === 1 && type === 'string' ? undefined : out;
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function isLength(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function objectAt(holder: Json, key: string): Json {
  return asObject(holder[key]);
}

function asObject(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Json)
    : {};
}
