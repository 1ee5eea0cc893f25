import { normalizeHost, type CanonicalHost } from './normalize-authority.js';
import { GatehouseError } from '../errors/gatehouse-error.js';
import type { PathParamCheck } from './path-param-types.js';

/**
 * A route table: (canonical host, method, decoded path segments) -> the route's value and its path
 * parameters. Built once per snapshot from validated routes, then only read.
 *
 * Lookup order, which the tests pin down:
 * 1. Host tier: the routes for the exact host, then those for wildcard hosts (longest
 *    suffix first), then the routes for any host. The first tier with a match wins, so
 *    a host-specific route is chosen over an any-host route whatever their paths: this
 *    is how the proxy itself picks a virtual host before a route (Envoy
 *    route.v3.VirtualHost `domains`), so the policy follows the request's destination.
 * 2. Path, inside a tier: a segment trie, walked depth first, a literal child before the
 *    parameter child, with backtracking. `/users/me` beats `/users/{id}`, yet
 *    `/users/me/x` still reaches `/users/{id}/x` when `/users/me/x` does not exist.
 * 3. Method, at the template the walk reached: the exact method, else `*`. A template
 *    that has neither does not end the walk: it backtracks, so `POST /users/me` reaches
 *    `POST /users/{id}` when `/users/me` only has GET, the way per-method routers
 *    (fastify's find-my-way, express) dispatch it.
 *
 * Cost: a lookup visits only trie nodes whose template prefix matches the request, so it
 * grows with the path's length (and with how many templates share a prefix), never with
 * the number of routes. What it does cost at 10,000 routes is memory: the table outgrows
 * the CPU caches, and a check between two lookups evicts it, so each node a lookup reads is
 * a cache miss. `build` therefore compiles the trie into compact MatchNodes (below): chains
 * of one-child nodes folded into one node, no Map where a field will do, one string object
 * per distinct literal or method.
 *
 * Typed parameters: a route may give a check per parameter (path-param-types.ts). It runs
 * only when the walk reaches that route's template, on that route's parameters, and a
 * failed check is no match: the walk goes on as if the route were absent (an `{id}` that
 * must be an integer does not take `/orders/abc`). Routes without checks cost nothing.
 *
 * Templates are compared with decoded segments (see normalize-path.ts), so template
 * literals are written decoded too: `/files/a b`, not `/files/a%20b`. A '%' in a
 * template is rejected rather than guessed at.
 */

export interface RouteSpec<T> {
  /** Upper-case method names (RFC 9110 9.1: methods are case-sensitive); `['*']` = any. */
  readonly methods: readonly string[];
  /** OpenAPI-style path template: `/orders/{id}`, `/users/me`, `/`. */
  readonly template: string;
  /** `[]` = any host; an exact `api.example.com`, or a suffix wildcard `*.example.com`. */
  readonly hosts: readonly string[];
  readonly value: T;
  /** Parameter name -> the check its segment must pass; a name not in the template is an error. */
  readonly paramChecks?: Readonly<Record<string, PathParamCheck>> | undefined;
  /** Names the route in build errors (e.g. the OpenAPI file and operation); default its position. */
  readonly label?: string | undefined;
}

export interface RouteMatch<T> {
  readonly value: T;
  /** Parameter name -> the decoded segment it matched. */
  readonly params: Readonly<Record<string, string>>;
  /** The template of the route that matched, as given to `build`. */
  readonly template: string;
}

/** A route that cannot be built: the message names the route, its template and why. */
export class RouteTableError extends GatehouseError<'GH_ROUTE_INVALID'> {
  override readonly name = 'RouteTableError';
  constructor(message: string) {
    super('GH_ROUTE_INVALID', message);
  }
}

/** What a match needs of a route; build's Entry adds what its error messages need. */
interface MatchEntry<T> {
  readonly value: T;
  readonly template: string;
  readonly paramNames: readonly string[];
  /** Per parameter position, its check; undefined when no parameter has one. */
  readonly checks: ReadonlyArray<PathParamCheck | undefined> | undefined;
}

interface Entry<T> {
  readonly value: T;
  readonly template: string;
  readonly paramNames: readonly string[];
  /** Per parameter position, its check; undefined when no parameter has one. */
  readonly checks: ReadonlyArray<PathParamCheck | undefined> | undefined;
  /** Position in the list given to `build`, for conflict messages. */
  readonly index: number;
  readonly label: string | undefined;
}

/** The trie as `build` grows it (Maps, mutable); `compile` turns it into MatchNodes. */
interface TrieNode<T> {
  // Both Maps are made when first needed: most nodes of a large catalog have neither.
  literals: Map<string, TrieNode<T>> | undefined;
  param: TrieNode<T> | undefined;
  byMethod: Map<string, Entry<T>> | undefined;
  anyMethod: Entry<T> | undefined;
}

type TemplateSegment =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'param'; readonly name: string };

const ANY_METHOD = '*';
const NO_PARAMS: readonly string[] = Object.freeze([]);
// RFC 9110 5.6.2 tchar, without lower-case letters (methods are given upper-case) and
// without '*' (which alone means any method).
const METHOD = /^[A-Z0-9!#$%&'+.^_`|~-]+$/;
const PARAM = /^\{([^{}]*)\}$/;
const PARAM_NAME = /^[A-Za-z0-9_.-]+$/;
// Not allowed in a template literal: '%' (templates are decoded, see above), '?' and '#'
// (a query or fragment is not part of the path), '\' (normalize-path rejects it in
// requests), '*' (no wildcards; a literal '*' would only ever be a mistake) and
// control characters (never in a normalized segment).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const BAD_LITERAL_CHAR = /[%?#\\*\u0000-\u001F\u007F]/;

function newNode<T>(): TrieNode<T> {
  return { literals: undefined, param: undefined, byMethod: undefined, anyMethod: undefined };
}

function routeLabel(index: number, template: string, label?: string): string {
  return `route #${index} (${JSON.stringify(template)}${label === undefined ? '' : `, ${label}`})`;
}

/** Splits a template into segments, or throws RouteTableError saying what is wrong. */
function parseTemplate(template: string, where: () => string): TemplateSegment[] {
  if (!template.startsWith('/')) throw new RouteTableError(`${where()}: must start with "/"`);
  if (template === '/') return [];
  const segments: TemplateSegment[] = [];
  const names = new Set<string>();
  for (const text of template.slice(1).split('/')) {
    if (text === '') {
      // Requests never yield an empty segment (normalize-path merges "//" and drops the
      // trailing slash from `segments`), so "/orders/" would silently mean "/orders".
      throw new RouteTableError(
        `${where()}: empty segment (a doubled or trailing "/"); write the path without it`,
      );
    }
    if (text.includes('{') || text.includes('}')) {
      const param = PARAM.exec(text);
      if (param === null) {
        throw new RouteTableError(
          balanced(text)
            ? `${where()}: parameter ${JSON.stringify(text)} must span a whole segment`
            : `${where()}: unbalanced braces in segment ${JSON.stringify(text)}`,
        );
      }
      const name = param[1] ?? '';
      if (name === '') throw new RouteTableError(`${where()}: empty parameter name`);
      if (!PARAM_NAME.test(name)) {
        throw new RouteTableError(
          `${where()}: parameter name ${JSON.stringify(name)} may only use letters, digits, '_', '.' and '-'`,
        );
      }
      if (names.has(name)) {
        throw new RouteTableError(`${where()}: duplicate parameter name ${JSON.stringify(name)}`);
      }
      names.add(name);
      segments.push({ kind: 'param', name });
      continue;
    }
    if (text === '.' || text === '..') {
      // normalize-path resolves dot segments (RFC 3986 5.2.4), so none reach matching.
      throw new RouteTableError(`${where()}: dot-segment ${JSON.stringify(text)}`);
    }
    if (BAD_LITERAL_CHAR.test(text)) {
      throw new RouteTableError(
        `${where()}: segment ${JSON.stringify(text)} contains a character templates do not allow (% ? # \\ * or a control character); write literals decoded`,
      );
    }
    segments.push({ kind: 'literal', text });
  }
  return segments;
}

/** True when every '{' in the text is closed by a later '}', with no nesting. */
function balanced(text: string): boolean {
  let open = false;
  for (const ch of text) {
    if (ch === '{') {
      if (open) return false;
      open = true;
    } else if (ch === '}') {
      if (!open) return false;
      open = false;
    }
  }
  return !open;
}

function parseMethods(methods: readonly string[], where: () => string): readonly string[] {
  if (methods.length === 0) {
    throw new RouteTableError(`${where()}: no methods (use ["*"] for any method)`);
  }
  for (const method of methods) {
    if (method !== ANY_METHOD && !METHOD.test(method)) {
      throw new RouteTableError(
        `${where()}: method ${JSON.stringify(method)} must be an upper-case method name or "*"`,
      );
    }
  }
  // A method listed twice in one route is redundant, not a conflict.
  return [...new Set(methods)];
}

type HostPattern =
  | { readonly kind: 'exact'; readonly host: string }
  | { readonly kind: 'wildcard'; readonly suffix: string };

function parseHosts(hosts: readonly string[], where: () => string): HostPattern[] {
  const patterns = new Map<string, HostPattern>();
  for (const raw of hosts) {
    // The same normal form as a request's host (normalize-authority.ts): case, one
    // trailing dot and IPv6 spelling do not matter, so "API.Example.com." still matches.
    const wildcard = raw.startsWith('*.');
    const normalized = normalizeHost(wildcard ? raw.slice(2) : raw);
    if (!normalized.ok || (wildcard && normalized.kind !== 'reg-name')) {
      throw new RouteTableError(
        `${where()}: host ${JSON.stringify(raw)} must be a host name, "[ipv6]" or "*.suffix", without a port (use [] for any host)`,
      );
    }
    const pattern: HostPattern = wildcard
      ? { kind: 'wildcard', suffix: `.${normalized.host}` }
      : { kind: 'exact', host: normalized.host };
    // Listed twice (perhaps in another case) is redundant, not a conflict.
    patterns.set(wildcard ? `*.${normalized.host}` : normalized.host, pattern);
  }
  return [...patterns.values()];
}

/**
 * A trie node as `match` reads it, compiled once from the BuildNode trie and never changed.
 * Every node has the same fields (one hidden class, so the walk's property reads stay
 * monomorphic), and holds no Map where it has one literal child or one method: at 10,000
 * routes the table no longer fits in the CPU caches, so what a lookup costs is mostly how
 * many cache lines it touches per segment, and a Map costs three or four (its object, its
 * table, the key) where a field costs one.
 */
interface MatchNode<T> {
  /**
   * Segments to consume before this node: the chain of nodes above it that had no route and
   * one child each, folded in (a literal's text, or PARAM_STEP for a parameter). Nothing in a
   * chain has an alternative, so the walk never backtracks into one.
   */
  readonly run: readonly string[] | undefined;
  /** The literal child's text and node when there is exactly one literal child. */
  readonly onlyText: string | undefined;
  readonly onlyChild: MatchNode<T> | undefined;
  /** The literal children when there are two or more. */
  readonly literals: ReadonlyMap<string, MatchNode<T>> | undefined;
  readonly param: MatchNode<T> | undefined;
  /**
   * The routes that end here, by exact method: the first one in fields (most templates have
   * one method), the others as `moreEntries[i]` for `moreMethods[i]`.
   */
  readonly firstMethod: string | undefined;
  readonly firstEntry: MatchEntry<T> | undefined;
  readonly moreMethods: readonly string[] | undefined;
  readonly moreEntries: readonly MatchEntry<T>[] | undefined;
  readonly anyMethod: MatchEntry<T> | undefined;
}

// A parameter step in a run. No literal can be spelled "{}": parseTemplate refuses braces
// in literals and an empty parameter name.
const PARAM_STEP = '{}';

function hasRoute<T>(node: TrieNode<T>): boolean {
  return node.byMethod !== undefined || node.anyMethod !== undefined;
}

/**
 * Compiles a built trie into MatchNodes, folding single-child chains into runs. `pool` gives
 * every literal text and method one string object for the whole table: `v1`, `orders` or
 * `GET` in 10,000 routes are then one hot cache line, not 10,000 cold ones.
 */
function compile<T>(
  start: TrieNode<T>,
  pool: Map<string, string>,
  leans: Map<Entry<T>, MatchEntry<T>>,
): MatchNode<T> {
  const shared = (text: string): string => {
    const known = pool.get(text);
    if (known !== undefined) return known;
    pool.set(text, text);
    return text;
  };
  const run: string[] = [];
  let node = start;
  for (;;) {
    if (hasRoute(node)) break;
    const literalCount = node.literals?.size ?? 0;
    if (literalCount === 1 && node.param === undefined) {
      const [text, child] = node.literals?.entries().next().value as [string, TrieNode<T>];
      run.push(shared(text));
      node = child;
    } else if (literalCount === 0 && node.param !== undefined) {
      run.push(PARAM_STEP);
      node = node.param;
    } else {
      break;
    }
  }
  let onlyText: string | undefined;
  let onlyChild: MatchNode<T> | undefined;
  let literals: Map<string, MatchNode<T>> | undefined;
  const literalCount = node.literals?.size ?? 0;
  if (node.literals !== undefined && literalCount === 1) {
    const [text, child] = node.literals.entries().next().value as [string, TrieNode<T>];
    onlyText = shared(text);
    onlyChild = compile(child, pool, leans);
  } else if (node.literals !== undefined && literalCount > 1) {
    literals = new Map();
    for (const [text, child] of node.literals)
      literals.set(shared(text), compile(child, pool, leans));
  }
  const methods = [...(node.byMethod?.keys() ?? [])].map(shared);
  const entries = [...(node.byMethod?.values() ?? [])].map((entry) => lean(entry, leans));
  return {
    run: run.length === 0 ? undefined : run,
    onlyText,
    onlyChild,
    literals,
    param: node.param === undefined ? undefined : compile(node.param, pool, leans),
    firstMethod: methods[0],
    firstEntry: entries[0],
    moreMethods: methods.length > 1 ? methods.slice(1) : undefined,
    moreEntries: entries.length > 1 ? entries.slice(1) : undefined,
    anyMethod: node.anyMethod === undefined ? undefined : lean(node.anyMethod, leans),
  };
}

/**
 * The entry without its build-time fields (position, label: only error messages use them),
 * one per route however many methods and hosts share it.
 */
function lean<T>(entry: Entry<T>, leans: Map<Entry<T>, MatchEntry<T>>): MatchEntry<T> {
  let found = leans.get(entry);
  if (found === undefined) {
    const { value, template, paramNames, checks } = entry;
    found = { value, template, paramNames, checks };
    leans.set(entry, found);
  }
  return found;
}

function search<T>(
  node: MatchNode<T>,
  segments: readonly string[],
  depth: number,
  method: string,
  values: string[],
): RouteMatch<T> | undefined {
  const run = node.run;
  if (run === undefined) return searchAt(node, segments, depth, method, values);
  const pushed = values.length;
  let at = depth;
  for (let i = 0; i < run.length; i++, at++) {
    const segment = at < segments.length ? (segments[at] ?? '') : undefined;
    const step = run[i];
    // A parameter matches exactly one non-empty segment; a literal, its own text.
    const fits = step === PARAM_STEP ? segment !== undefined && segment !== '' : step === segment;
    if (!fits) {
      // The path ended inside the run or differs from it: undo the parameters it took.
      values.length = pushed;
      return undefined;
    }
    if (step === PARAM_STEP) values.push(segment as string);
  }
  const found = searchAt(node, segments, at, method, values);
  if (found === undefined) values.length = pushed;
  return found;
}

/** The walk at a node whose run (if any) has been consumed: routes here, then children. */
function searchAt<T>(
  node: MatchNode<T>,
  segments: readonly string[],
  depth: number,
  method: string,
  values: string[],
): RouteMatch<T> | undefined {
  if (depth === segments.length) {
    // A typed route whose parameters do not fit is no match: the `*` route, then backtrack.
    const exact = exactEntry(node, method);
    const entry =
      exact !== undefined && paramsFit(exact, values)
        ? exact
        : node.anyMethod !== undefined && paramsFit(node.anyMethod, values)
          ? node.anyMethod
          : undefined;
    if (entry === undefined) return undefined;
    const params = Object.create(null) as Record<string, string>;
    const names = entry.paramNames;
    for (let i = 0; i < names.length; i++) params[names[i] ?? ''] = values[i] ?? '';
    return { value: entry.value, params, template: entry.template };
  }
  const segment = segments[depth] ?? '';
  const literal =
    node.onlyText !== undefined
      ? node.onlyText === segment
        ? node.onlyChild
        : undefined
      : node.literals?.get(segment);
  if (literal !== undefined) {
    const found = search(literal, segments, depth + 1, method, values);
    if (found !== undefined) return found;
  }
  // A parameter matches exactly one non-empty segment.
  if (node.param !== undefined && segment !== '') {
    values.push(segment);
    const found = search(node.param, segments, depth + 1, method, values);
    values.pop();
    if (found !== undefined) return found;
  }
  return undefined;
}

function exactEntry<T>(node: MatchNode<T>, method: string): MatchEntry<T> | undefined {
  if (node.firstMethod === method) return node.firstEntry;
  const more = node.moreMethods;
  if (more === undefined) return undefined;
  for (let i = 0; i < more.length; i++) {
    if (more[i] === method) return node.moreEntries?.[i];
  }
  return undefined;
}

function paramsFit<T>(entry: MatchEntry<T>, values: readonly string[]): boolean {
  const checks = entry.checks;
  if (checks === undefined) return true;
  for (let i = 0; i < checks.length; i++) {
    const check = checks[i];
    if (check !== undefined && !check(values[i] ?? '')) return false;
  }
  return true;
}

export class RouteTable<T> {
  /** How many routes (RouteSpecs) the table was built from. */
  readonly size: number;

  private constructor(
    size: number,
    private readonly exactHosts: ReadonlyMap<string, MatchNode<T>>,
    /** Keyed by the suffix with its leading dot: "*.example.com" -> ".example.com". */
    private readonly wildcardHosts: ReadonlyMap<string, MatchNode<T>>,
    private readonly anyHost: MatchNode<T>,
  ) {
    this.size = size;
  }

  /**
   * Builds a table, or throws RouteTableError naming the first bad route: an invalid
   * template, method or host, or two routes with the same host pattern, method and
   * template shape (`/a/{x}` and `/a/{y}` have the same shape: no request could tell
   * them apart).
   */
  static build<T>(routes: readonly RouteSpec<T>[]): RouteTable<T> {
    const exactHosts = new Map<string, TrieNode<T>>();
    const wildcardHosts = new Map<string, TrieNode<T>>();
    const anyHost = newNode<T>();

    routes.forEach((route, index) => {
      // Only built when there is an error to report: a catalog may hold 10,000 routes.
      const where = (): string => routeLabel(index, route.template, route.label);
      const segments = parseTemplate(route.template, where);
      const methods = parseMethods(route.methods, where);
      const hosts = parseHosts(route.hosts, where);
      const named = segments.flatMap((s) => (s.kind === 'param' ? [s.name] : []));
      // One shared empty list for the many routes without parameters.
      const paramNames = named.length === 0 ? NO_PARAMS : named;
      const entry: Entry<T> = {
        value: route.value,
        template: route.template,
        paramNames,
        checks: paramChecksOf(route.paramChecks, paramNames, where),
        index,
        label: route.label,
      };
      const roots: { readonly label: string; readonly root: TrieNode<T> }[] =
        hosts.length === 0 ? [{ label: 'any host', root: anyHost }] : [];
      for (const pattern of hosts) {
        const [map, key, label] =
          pattern.kind === 'exact'
            ? [exactHosts, pattern.host, `host ${JSON.stringify(pattern.host)}`]
            : [wildcardHosts, pattern.suffix, `host ${JSON.stringify(`*${pattern.suffix}`)}`];
        let root = map.get(key);
        if (root === undefined) {
          root = newNode<T>();
          map.set(key, root);
        }
        roots.push({ label, root });
      }
      for (const { label, root } of roots) {
        const leaf = insertPath(root, segments);
        for (const method of methods) {
          const existing = method === ANY_METHOD ? leaf.anyMethod : leaf.byMethod?.get(method);
          if (existing !== undefined) {
            throw new RouteTableError(
              `${where()} conflicts with ${routeLabel(existing.index, existing.template, existing.label)}: same ${label}, method ${method} and path shape`,
            );
          }
          if (method === ANY_METHOD) leaf.anyMethod = entry;
          else (leaf.byMethod ??= new Map()).set(method, entry);
        }
      }
    });
    const pool = new Map<string, string>();
    const leans = new Map<Entry<T>, MatchEntry<T>>();
    const compiled = (map: Map<string, TrieNode<T>>): Map<string, MatchNode<T>> =>
      new Map([...map].map(([key, node]) => [key, compile(node, pool, leans)]));
    return new RouteTable(
      routes.length,
      compiled(exactHosts),
      compiled(wildcardHosts),
      compile(anyHost, pool, leans),
    );
  }

  /**
   * Finds the route for a request. `host` is the request's host as normalizeAuthority
   * made it (a raw Host value cannot be passed: it could be ambiguous, and must be refused
   * before, never matched against the any-host routes); the port does not take part.
   * `segments` are normalizePath's decoded segments. Returns undefined when no route
   * matches, which the caller denies as an unknown API.
   */
  match(
    host: CanonicalHost,
    method: string,
    segments: readonly string[],
  ): RouteMatch<T> | undefined {
    const name: string = host;
    const exact = this.exactHosts.get(name);
    if (exact !== undefined) {
      const found = search(exact, segments, 0, method, []);
      if (found !== undefined) return found;
    }
    if (this.wildcardHosts.size > 0) {
      // Suffixes from the longest down, each with a non-empty prefix before it:
      // "a.b.example.com" tries ".b.example.com", ".example.com", ".com".
      for (let dot = name.indexOf('.', 1); dot !== -1; dot = name.indexOf('.', dot + 1)) {
        const root = this.wildcardHosts.get(name.slice(dot));
        if (root === undefined) continue;
        const found = search(root, segments, 0, method, []);
        if (found !== undefined) return found;
      }
    }
    return search(this.anyHost, segments, 0, method, []);
  }
}

function paramChecksOf(
  checks: Readonly<Record<string, PathParamCheck>> | undefined,
  paramNames: readonly string[],
  where: () => string,
): ReadonlyArray<PathParamCheck | undefined> | undefined {
  if (checks === undefined) return undefined;
  for (const name of Object.keys(checks)) {
    if (!paramNames.includes(name)) {
      throw new RouteTableError(
        `${where()}: a type is given for parameter ${JSON.stringify(name)}, which the template does not have`,
      );
    }
  }
  const byPosition = paramNames.map((name) =>
    Object.hasOwn(checks, name) ? checks[name] : undefined,
  );
  return byPosition.some((check) => check !== undefined) ? byPosition : undefined;
}

function insertPath<T>(root: TrieNode<T>, segments: readonly TemplateSegment[]): TrieNode<T> {
  let node = root;
  for (const segment of segments) {
    if (segment.kind === 'param') {
      node.param ??= newNode<T>();
      node = node.param;
    } else {
      node.literals ??= new Map();
      let child = node.literals.get(segment.text);
      if (child === undefined) {
        child = newNode<T>();
        node.literals.set(segment.text, child);
      }
      node = child;
    }
  }
  return node;
}
