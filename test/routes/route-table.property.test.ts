import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeHost, type CanonicalHost } from '../../src/routes/normalize-authority.js';
import type { PathParamCheck } from '../../src/routes/path-param-types.js';
import { RouteTable, type RouteSpec } from '../../src/routes/route-table.js';

// The compiled trie (runs, one-child fields, pooled strings) against a brute-force reading of
// the lookup order route-table.ts documents: host tier first (exact, wildcard suffixes longest
// first, any host); inside a tier, the templates that fit the path in depth-first order (a
// literal before a parameter, segment by segment); at each, the exact method, then `*`, each
// only if its typed parameters fit. A route the trie picks that this reading does not, on any
// generated catalog and request, is a wrong API and so a wrong policy.

const LITERALS = ['a', 'b', 'me', 'v1'];
const PARAMS = ['{x}', '{y}', '{z}'];
const METHODS = ['GET', 'POST', '*'];
const HOSTS: readonly (readonly string[])[] = [[], ['api.example.com'], ['*.example.com']];
const digits: PathParamCheck = (value) => /^[0-9]+$/.test(value);

function canonical(name: string): CanonicalHost {
  const host = normalizeHost(name);
  if (!host.ok) throw new Error(host.reason);
  return host.host;
}

const templateArb = fc
  .array(fc.oneof(fc.constantFrom(...LITERALS), fc.constantFrom(...PARAMS)), { maxLength: 4 })
  // One use of each parameter name per template.
  .map((segments) => {
    const seen = new Set<string>();
    return segments.map((s, i) =>
      s.startsWith('{') ? (seen.has(s) ? `{p${i}}` : (seen.add(s), s)) : s,
    );
  })
  .map((segments) => `/${segments.join('/')}`);

interface Generated {
  readonly template: string;
  readonly methods: readonly string[];
  readonly hosts: readonly string[];
  readonly typed: boolean;
}

const routeArb: fc.Arbitrary<Generated> = fc.record({
  template: templateArb,
  methods: fc.uniqueArray(fc.constantFrom(...METHODS), { minLength: 1, maxLength: 2 }),
  hosts: fc.constantFrom(...HOSTS),
  typed: fc.boolean(),
});

/** What a template is, as a request sees it: per segment a literal text or a parameter. */
function shapeOf(template: string): (string | null)[] {
  return template === '/'
    ? []
    : template
        .slice(1)
        .split('/')
        .map((s) => (s.startsWith('{') ? null : s));
}

/** Drops the routes build would refuse as conflicts (same host, method and shape). */
function withoutConflicts(routes: readonly Generated[]): Generated[] {
  const taken = new Set<string>();
  return routes.flatMap((route) => {
    const shape = shapeOf(route.template)
      .map((s) => s ?? '\0')
      .join('/');
    const keys = route.methods.flatMap((m) =>
      route.hosts
        .map((h) => `${h}|${m}|${shape}`)
        .concat(route.hosts.length === 0 ? [`|${m}|${shape}`] : []),
    );
    if (keys.some((k) => taken.has(k))) return [];
    keys.forEach((k) => taken.add(k));
    return [route];
  });
}

function specsOf(routes: readonly Generated[]): RouteSpec<number>[] {
  return routes.map((route, index) => {
    const firstParam = /\{([^}]+)\}/.exec(route.template)?.[1];
    return {
      template: route.template,
      methods: route.methods,
      hosts: route.hosts,
      value: index,
      ...(route.typed && firstParam !== undefined ? { paramChecks: { [firstParam]: digits } } : {}),
    };
  });
}

/** The documented lookup order, by enumeration: the route index, or undefined. */
function bruteForce(
  routes: readonly Generated[],
  host: string,
  method: string,
  segments: readonly string[],
): number | undefined {
  const tiers: ((route: Generated) => boolean)[] = [(r) => r.hosts.includes(host)];
  for (let dot = host.indexOf('.', 1); dot !== -1; dot = host.indexOf('.', dot + 1)) {
    const suffix = `*${host.slice(dot)}`;
    tiers.push((r) => r.hosts.includes(suffix));
  }
  tiers.push((r) => r.hosts.length === 0);
  for (const inTier of tiers) {
    const fitting = routes
      .map((route, index) => ({ route, index, shape: shapeOf(route.template) }))
      .filter(
        ({ route, shape }) =>
          inTier(route) &&
          shape.length === segments.length &&
          shape.every((s, i) => (s === null ? segments[i] !== '' : s === segments[i])),
      );
    // Depth first, literal before parameter: compare shapes segment by segment.
    const order = (shape: (string | null)[]): string =>
      shape.map((s) => (s === null ? '1' : '0')).join('');
    const shapes = [...new Set(fitting.map(({ shape }) => order(shape)))].sort();
    for (const key of shapes) {
      const here = fitting.filter(({ shape }) => order(shape) === key);
      const fits = ({ route, shape }: (typeof here)[number]): boolean => {
        if (!route.typed) return true;
        const first = shape.indexOf(null);
        return first === -1 || digits(segments[first] ?? '');
      };
      const exact = here.find((c) => c.route.methods.includes(method));
      if (exact !== undefined && fits(exact)) return exact.index;
      const any = here.find((c) => c.route.methods.includes('*'));
      if (any !== undefined && fits(any)) return any.index;
    }
  }
  return undefined;
}

const requestArb = fc.record({
  host: fc.constantFrom('api.example.com', 'x.api.example.com', 'other.org'),
  method: fc.constantFrom('GET', 'POST', 'DELETE'),
  segments: fc.array(fc.constantFrom(...LITERALS, '42', 'q'), { maxLength: 4 }),
});

describe('the compiled route trie decides as the documented lookup order', () => {
  it('picks the same route, with the same parameters, on generated catalogs and requests', () => {
    fc.assert(
      fc.property(
        fc.array(routeArb, { maxLength: 24 }).map(withoutConflicts),
        fc.array(requestArb, { minLength: 1, maxLength: 20 }),
        (routes, requests) => {
          const table = RouteTable.build(specsOf(routes));
          for (const request of requests) {
            const found = table.match(canonical(request.host), request.method, request.segments);
            const expected = bruteForce(routes, request.host, request.method, request.segments);
            expect(found?.value).toBe(expected);
            if (found !== undefined) {
              const names = routes[found.value]?.template.match(/\{[^}]+\}/g) ?? [];
              const shape = shapeOf(found.template);
              const values = request.segments.filter((_, i) => shape[i] === null);
              expect({ ...found.params }).toEqual(
                Object.fromEntries(names.map((n, i) => [n.slice(1, -1), values[i]])),
              );
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('still finds every route of a catalog of 2,000 deep templates, runs and all', () => {
    const specs: RouteSpec<string>[] = [];
    for (let s = 0; s < 200; s++) {
      for (let a = 0; a < 10; a++) {
        specs.push({
          methods: ['GET'],
          hosts: [],
          value: `${s}.${a}`,
          template: `/s${s}/r${a}/{id}/x/{sub}/y`,
        });
      }
    }
    const table = RouteTable.build(specs);
    const host = canonical('api.example.com');
    for (let s = 0; s < 200; s++) {
      for (let a = 0; a < 10; a++) {
        const found = table.match(host, 'GET', [`s${s}`, `r${a}`, '7', 'x', '9', 'y']);
        expect(found?.value).toBe(`${s}.${a}`);
        expect({ ...found?.params }).toEqual({ id: '7', sub: '9' });
        // One segment off inside the folded run: no route, and no half-matched parameters.
        expect(table.match(host, 'GET', [`s${s}`, `r${a}`, '7', 'z', '9', 'y'])).toBeUndefined();
      }
    }
  });
});
