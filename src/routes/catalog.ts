import { CORE_SCHEMA, load as loadYaml } from 'js-yaml';
import { z, ZodError } from 'zod';
import { GatehouseError } from '../errors/gatehouse-error.js';
import { pathParamTypeSchema, type PathParamType } from './path-param-types.js';

/**
 * The API catalog: services, their APIs (method + path template), and which Rego package
 * decides each level. Defined by the central authorization server, or by policies/ locally.
 * The format is documented in docs/catalog.md ("API catalog").
 */

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'];

const REGO_PACKAGE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Whether a name is a Rego package name the catalog accepts (`orders.api`). */
export function isRegoPackageName(name: string): boolean {
  return REGO_PACKAGE.test(name);
}

/** A Rego package name such as `orders.api`; its `allow` rule decides. */
const regoPackage = z.string().regex(REGO_PACKAGE, 'must be a Rego package name like "orders.api"');

const method = z
  .string()
  .transform((m) => m.toUpperCase())
  .refine((m) => m === '*' || METHODS.includes(m), {
    message: `must be one of ${METHODS.join(', ')} or "*"`,
  });

const host = z
  .string()
  .regex(/^(\*\.)?[A-Za-z0-9.-]+$/, 'must be a host name, optionally with a leading "*."')
  .transform((h) => h.toLowerCase());

const authSchema = z.strictObject({
  /**
   * required: a valid token is needed. optional: a token is verified when present.
   * none: no token is read at all (public APIs).
   */
  mode: z.enum(['required', 'optional', 'none']).optional(),
  /** Issuers (their `issuer` values in the config) accepted; default: every configured one. */
  issuers: z.array(z.string().min(1)).min(1).optional(),
  /** Audiences accepted; default: the issuer's configured audiences. */
  audiences: z.array(z.string().min(1)).min(1).optional(),
  /** Scopes the token must carry (`scope` string or `scp` array): all of them, or any one. */
  scopesMatch: z.enum(['all', 'any']).optional(),
  scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be a scope token'))
    .optional(),
  /**
   * required: a DPoP proof must carry a nonce this server issued (RFC 9449 section 9);
   * none (default): proofs need no nonce.
   */
  dpopNonce: z.enum(['required', 'none']).optional(),
});

/** Upstream header name -> claim path (dot-separated: "sub", "org.id"). */
const claimsToHeaders = z.record(
  z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name'),
  z
    .string()
    .regex(
      /^[A-Za-z0-9_:$-]+(\.[A-Za-z0-9_:$-]+)*$/,
      'must be a claim path like "sub" or "org.id"',
    ),
);

const apiSchema = z
  .strictObject({
    id: z.string().min(1),
    method: method.optional(),
    methods: z.array(method).min(1).optional(),
    path: z.string().startsWith('/'),
    policy: regoPackage.optional(),
    /** A policy evaluated beside this level and only recorded (docs/shadow.md). */
    shadow: regoPackage.optional(),
    auth: authSchema.optional(),
    claimsToHeaders: claimsToHeaders.optional(),
    /** Path parameter name -> its type, checked at route match (path-param-types.ts). */
    params: z.record(z.string(), pathParamTypeSchema).optional(),
    /** Where the API was defined, for messages: set by the OpenAPI import (`file#/paths/...`). */
    origin: z.string().min(1).optional(),
  })
  .refine((api) => (api.method === undefined) !== (api.methods === undefined), {
    message: 'set exactly one of method or methods',
  });

const serviceSchema = z.strictObject({
  name: z.string().min(1),
  hosts: z.array(host).default([]),
  policy: regoPackage.optional(),
  shadow: regoPackage.optional(),
  auth: authSchema.optional(),
  claimsToHeaders: claimsToHeaders.optional(),
  apis: z.array(apiSchema).min(1),
});

const catalogSchema = z.strictObject({
  global: z
    .strictObject({
      policy: regoPackage.optional(),
      shadow: regoPackage.optional(),
      auth: authSchema.optional(),
      claimsToHeaders: claimsToHeaders.optional(),
    })
    .optional(),
  services: z.array(serviceSchema).default([]),
});

export type AuthMode = 'required' | 'optional' | 'none';

export interface ApiAuth {
  readonly mode: AuthMode;
  readonly issuers: readonly string[] | undefined;
  readonly audiences: readonly string[] | undefined;
  readonly scopes: readonly string[];
  readonly scopesMatch: 'all' | 'any';
  /** Whether DPoP proofs must carry a server nonce (RFC 9449 section 9); default none. */
  readonly dpopNonce?: 'required' | 'none' | undefined;
}

/** The policy levels that decide an API, outermost first. */
export interface PolicyLevel {
  /** `opa-envoy`: the `opaEnvoy.path` rule of compatibility mode (check/opa-envoy-mode.ts). */
  readonly level: 'global' | 'service' | 'api' | 'opa-envoy';
  readonly package: string;
}

export interface ApiDefinition {
  readonly id: string;
  readonly service: string;
  readonly methods: readonly string[];
  readonly pathTemplate: string;
  readonly hosts: readonly string[];
  readonly auth: ApiAuth;
  readonly policies: readonly PolicyLevel[];
  /**
   * Shadow (dry-run) policies of its levels, outermost first: evaluated and recorded, never
   * enforced (docs/shadow.md). Unset when no level has one, so the check path tests once.
   */
  readonly shadows?: readonly PolicyLevel[] | undefined;
  /** Upstream header -> claim path; client-sent headers of these names never pass. */
  readonly claimsToHeaders: ReadonlyArray<readonly [header: string, claimPath: string]>;
  /** Typed path parameters, checked at route match; absent: every segment fits. */
  readonly pathParams?: Readonly<Record<string, PathParamType>> | undefined;
  /** Where the API was defined (an OpenAPI file and operation), for messages. */
  readonly origin?: string | undefined;
}

export interface Catalog {
  readonly apis: readonly ApiDefinition[];
  /** The global (workspace) policy package, if any. */
  readonly globalPolicy: string | undefined;
  /** The global shadow policy as a level, for requests that match no API; unset: none. */
  readonly globalShadows?: readonly PolicyLevel[] | undefined;
  /** Every Rego package the catalog names; each needs an `allow` rule. */
  readonly packages: readonly string[];
}

export class CatalogError extends GatehouseError<'GH_CATALOG_INVALID'> {
  constructor(
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super('GH_CATALOG_INVALID', `API catalog is invalid:\n  - ${problems.join('\n  - ')}`, options);
    this.name = 'CatalogError';
  }
}

/**
 * Parses catalog text (YAML or JSON: JSON is YAML 1.2) into a plain value; throws CatalogError.
 *
 * js-yaml, not the `yaml` package the rest of Gatehouse uses: on a catalog of 10,000 APIs
 * (~760 KiB) `yaml` takes 1.4-3 s and js-yaml 0.1-0.4 s (bench/catalog-build.ts), and every
 * snapshot build and every worker parses the catalog. The YAML 1.2 core schema, so scalars
 * read as they did (`yes` stays a string, no timestamps); duplicate keys are still refused.
 */
function parseCatalogText(text: string): unknown {
  let raw: unknown;
  try {
    raw = loadYaml(text, { schema: CORE_SCHEMA });
  } catch (error) {
    throw new CatalogError([`not valid YAML/JSON: ${String(error)}`], { cause: error });
  }
  // js-yaml shares one value between an anchor and its aliases, so a "billion laughs"
  // document is small in memory, but validation walks every alias: a document whose
  // aliases expand it far beyond its own size is refused, as `yaml` refused more than 100
  // aliases (its maxAliasCount).
  if (expandedSize(raw, text.length + 1000) === undefined) {
    throw new CatalogError([
      'not valid YAML/JSON: its aliases expand the document beyond its size (an alias bomb?)',
    ]);
  }
  return raw;
}

/**
 * The number of values in a parsed document counting every alias as a copy, or undefined
 * past `budget`. Without aliases each value takes at least one character of the text.
 */
function expandedSize(root: unknown, budget: number): number | undefined {
  let count = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (++count > budget) return undefined;
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
    } else if (typeof value === 'object' && value !== null) {
      for (const key in value) stack.push((value as Record<string, unknown>)[key]);
    }
  }
  return count;
}

/** Parses catalog text (YAML or JSON) into its resolved form; throws CatalogError. */
export function parseCatalog(text: string): Catalog {
  const raw = parseCatalogText(text);
  let parsed: z.infer<typeof catalogSchema>;
  try {
    parsed = catalogSchema.parse(raw ?? {});
  } catch (error) {
    if (error instanceof ZodError) {
      throw new CatalogError(
        error.issues.map(
          (i) => `${i.path.length > 0 ? i.path.join('.') : '(top level)'}: ${i.message}`,
        ),
        { cause: error },
      );
    }
    throw error;
  }
  return resolveCatalog(parsed);
}

function resolveCatalog(parsed: z.infer<typeof catalogSchema>): Catalog {
  const problems: string[] = [];
  // API id -> where it was defined, to name both places of a duplicate.
  const ids = new Map<string, string>();
  const packages = new Set<string>();
  const globalPolicy = parsed.global?.policy;
  if (globalPolicy !== undefined) packages.add(globalPolicy);
  const globalShadow = parsed.global?.shadow;
  // Shadow packages are compiled and checked like enforced ones: a missing one fails the build.
  if (globalShadow !== undefined) packages.add(globalShadow);
  const apis: ApiDefinition[] = [];
  // APIs of one service mostly resolve to the same auth, levels and headers: one object for
  // each distinct value instead of one per API (a third of a 10,000-API catalog's memory).
  const share = sharer();

  for (const service of parsed.services) {
    if (service.policy !== undefined) packages.add(service.policy);
    if (service.shadow !== undefined) packages.add(service.shadow);
    for (const api of service.apis) {
      const where = api.origin ?? `the catalog (service ${service.name})`;
      const first = ids.get(api.id);
      if (first !== undefined) {
        problems.push(`API id "${api.id}" is used twice: in ${first} and in ${where}`);
      }
      ids.set(api.id, where);
      if (api.policy !== undefined) packages.add(api.policy);
      if (api.shadow !== undefined) packages.add(api.shadow);
      // Inner levels refine outer ones field by field: API over service over global.
      const auth = { ...parsed.global?.auth, ...service.auth, ...api.auth };
      const policies: PolicyLevel[] = [];
      if (globalPolicy !== undefined) policies.push({ level: 'global', package: globalPolicy });
      if (service.policy !== undefined)
        policies.push({ level: 'service', package: service.policy });
      if (api.policy !== undefined) policies.push({ level: 'api', package: api.policy });
      const shadows = shadowLevels(globalShadow, service.shadow, api.shadow);
      apis.push({
        id: api.id,
        service: service.name,
        methods: share(api.methods ?? (api.method === undefined ? [] : [api.method])),
        pathTemplate: api.path,
        hosts: service.hosts,
        auth: share({
          mode: auth.mode ?? 'required',
          issuers: auth.issuers,
          audiences: auth.audiences,
          scopes: auth.scopes ?? [],
          scopesMatch: auth.scopesMatch ?? 'all',
          dpopNonce: auth.dpopNonce ?? 'none',
        }),
        policies: share(policies),
        ...(shadows === undefined ? {} : { shadows: share(shadows) }),
        // Header names are case-insensitive: lower-case them before an inner level overrides.
        claimsToHeaders: share(
          Object.entries({
            ...lowerCaseKeys(parsed.global?.claimsToHeaders),
            ...lowerCaseKeys(service.claimsToHeaders),
            ...lowerCaseKeys(api.claimsToHeaders),
          }),
        ),
        ...(api.params === undefined ? {} : { pathParams: api.params }),
        ...(api.origin === undefined ? {} : { origin: api.origin }),
      });
    }
  }
  if (problems.length > 0) throw new CatalogError(problems);
  const globalShadows = shadowLevels(globalShadow, undefined, undefined);
  return {
    apis,
    globalPolicy,
    ...(globalShadows === undefined ? {} : { globalShadows }),
    packages: [...packages].sort(),
  };
}

/**
 * Returns the first value seen with the same JSON, so equal values share one object. Only
 * for the plain data of a resolved catalog (no undefined inside arrays, no functions), which
 * the check path only reads.
 */
function sharer(): <V>(value: V) => V {
  const seen = new Map<string, unknown>();
  return <V>(value: V): V => {
    const key = JSON.stringify(value);
    const known = seen.get(key);
    if (known !== undefined) return known as V;
    seen.set(key, value);
    return value;
  };
}

/** The shadow levels, outermost first; undefined when there are none. */
function shadowLevels(
  global: string | undefined,
  service: string | undefined,
  api: string | undefined,
): PolicyLevel[] | undefined {
  const levels: PolicyLevel[] = [];
  if (global !== undefined) levels.push({ level: 'global', package: global });
  if (service !== undefined) levels.push({ level: 'service', package: service });
  if (api !== undefined) levels.push({ level: 'api', package: api });
  return levels.length === 0 ? undefined : levels;
}

function lowerCaseKeys(record: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record ?? {}).map(([key, value]) => [key.toLowerCase(), value]),
  );
}

/** The WASM entrypoint for a Rego package: `orders.api` -> `orders/api/allow`. */
export function entrypointFor(pkg: string): string {
  return `${pkg.replaceAll('.', '/')}/allow`;
}
