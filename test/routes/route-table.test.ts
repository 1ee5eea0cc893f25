import { describe, it, expect } from 'vitest';
import { normalizeAuthority, type CanonicalHost } from '../../src/routes/normalize-authority.js';
import { normalizePath } from '../../src/routes/normalize-path.js';
import { RouteTable, RouteTableError } from '../../src/routes/route-table.js';
import type { RouteSpec } from '../../src/routes/route-table.js';

function route(
  value: string,
  template: string,
  methods: readonly string[] = ['GET'],
  hosts: readonly string[] = [],
): RouteSpec<string> {
  return { value, template, methods, hosts };
}

/** Splits a test path the way normalizePath would, failing the test if it rejects. */
function segmentsOf(path: string): readonly string[] {
  const result = normalizePath(path);
  if (!result.ok) throw new Error(`${path}: ${result.reason}`);
  return result.segments;
}

/** A request host as the route step hands it to the table, failing the test if refused. */
function hostOf(raw: string): CanonicalHost {
  const result = normalizeAuthority(raw, 'https');
  if (!result.ok) throw new Error(`${raw}: ${result.reason}`);
  return result.host;
}

/** The matched value, template and params, or undefined; params as a plain object. */
function lookup(
  table: RouteTable<string>,
  method: string,
  path: string,
  host = 'api.example.com',
): { value: string; template: string; params: Record<string, string> } | undefined {
  const found = table.match(hostOf(host), method, segmentsOf(path));
  return found === undefined
    ? undefined
    : { value: found.value, template: found.template, params: { ...found.params } };
}

describe('RouteTable path matching', () => {
  const table = RouteTable.build([
    route('root', '/'),
    route('users', '/users'),
    route('me', '/users/me'),
    route('user', '/users/{id}'),
    route('user-orders', '/users/{id}/orders'),
    route('me-settings', '/users/me/settings'),
    route('order-item', '/users/{userId}/orders/{orderId}'),
    route('files', '/files/a b'),
    route('unicode', '/café/{name}'),
  ]);

  it.each<[string, string, string | undefined, Record<string, string>]>([
    ['root', '/', 'root', {}],
    ['a literal route', '/users', 'users', {}],
    ['a trailing slash', '/users/', 'users', {}],
    ['literal beats template', '/users/me', 'me', {}],
    ['template when no literal', '/users/42', 'user', { id: '42' }],
    [
      'backtracking from /users/me to /users/{id}/orders',
      '/users/me/orders',
      'user-orders',
      { id: 'me' },
    ],
    ['the literal deep route', '/users/me/settings', 'me-settings', {}],
    ['no literal fallback for /users/42/settings', '/users/42/settings', undefined, {}],
    ['two params', '/users/7/orders/9', 'order-item', { userId: '7', orderId: '9' }],
    [
      'two params through the literal me',
      '/users/me/orders/9',
      'order-item',
      { userId: 'me', orderId: '9' },
    ],
    ['decoded params', '/users/a%20b', 'user', { id: 'a b' }],
    ['params with an encoded ?', '/users/a%3Fb', 'user', { id: 'a?b' }],
    ['double-encoded param text stays literal', '/users/%252e%252e', 'user', { id: '%2e%2e' }],
    ['a decoded literal template', '/files/a%20b', 'files', {}],
    ['a unicode literal', '/caf%C3%A9/x', 'unicode', { name: 'x' }],
    ['literals are case-sensitive', '/USERS', undefined, {}],
    ['literals are case-sensitive below a param', '/users/me/SETTINGS', undefined, {}],
    ['too many segments', '/users/1/orders/2/3', undefined, {}],
    ['an unknown path', '/nope', undefined, {}],
    ['dot segments resolve before matching', '/public/../users/me', 'me', {}],
    ['encoded dot segments resolve before matching', '/x/%2e%2e/users/me', 'me', {}],
    ['merged slashes', '//users//me', 'me', {}],
  ])('%s', (_name, path, value, params) => {
    const found = lookup(table, 'GET', path);
    if (value === undefined) {
      expect(found).toBeUndefined();
    } else {
      expect(found?.value).toBe(value);
      expect(found?.params).toEqual(params);
    }
  });

  it('returns the template as given', () => {
    expect(lookup(table, 'GET', '/users/7/orders/9')?.template).toBe(
      '/users/{userId}/orders/{orderId}',
    );
  });

  it('does not let a parameter match an empty segment', () => {
    expect(table.match(hostOf('h'), 'GET', ['users', ''])).toBeUndefined();
    expect(table.match(hostOf('h'), 'GET', ['users', '', 'orders'])).toBeUndefined();
  });

  it('returns params without a prototype', () => {
    const t = RouteTable.build([route('p', '/{__proto__}/{constructor}')]);
    const found = t.match(hostOf('h'), 'GET', ['a', 'b']);
    expect(found?.params['__proto__']).toBe('a');
    expect(found?.params['constructor']).toBe('b');
    expect(Object.getPrototypeOf(found?.params)).toBeNull();
  });

  it('reports its size as the number of routes', () => {
    expect(table.size).toBe(9);
    expect(RouteTable.build([]).size).toBe(0);
    expect(RouteTable.build([]).match(hostOf('h'), 'GET', [])).toBeUndefined();
  });
});

describe('RouteTable method matching', () => {
  const table = RouteTable.build([
    route('me-get', '/users/me', ['GET']),
    route('user-any', '/users/{id}', ['*']),
    route('user-post', '/users/{id}', ['POST', 'PUT']),
    route('list', '/items', ['GET', 'HEAD']),
    route('all', '/health', ['*']),
  ]);

  it.each<[string, string, string, string | undefined]>([
    ['exact method at the literal', 'GET', '/users/me', 'me-get'],
    ['backtracks to a param route for another method', 'POST', '/users/me', 'user-post'],
    ['* at the param route when no exact method', 'DELETE', '/users/me', 'user-any'],
    ['exact beats *', 'POST', '/users/42', 'user-post'],
    ['second method of a list', 'PUT', '/users/42', 'user-post'],
    ['* catches the rest', 'PATCH', '/users/42', 'user-any'],
    ['listed method', 'HEAD', '/items', 'list'],
    ['unlisted method', 'POST', '/items', undefined],
    ['methods are case-sensitive (RFC 9110 9.1)', 'get', '/items', undefined],
    ['* matches an extension method', 'PROPFIND', '/health', 'all'],
  ])('%s', (_name, method, path, value) => {
    expect(lookup(table, method, path)?.value).toBe(value);
  });
});

describe('RouteTable host matching', () => {
  const table = RouteTable.build([
    route('any', '/orders/{id}'),
    route('wild', '/orders/{id}', ['GET'], ['*.example.com']),
    route('deep-wild', '/orders/{id}', ['GET'], ['*.eu.example.com']),
    route('exact', '/orders/{id}', ['GET'], ['api.example.com', 'API2.Example.com']),
    route('v6', '/orders/{id}', ['GET'], ['[::1]']),
    route('any-literal', '/orders/special'),
    route('wild-only', '/wild', ['GET'], ['*.example.com']),
    route('exact-post', '/orders/{id}', ['POST'], ['api.example.com']),
  ]);

  it.each<[string, string, string, string, string | undefined]>([
    ['exact beats wildcard and any host', 'api.example.com', 'GET', '/orders/1', 'exact'],
    ['host is case-insensitive', 'API.Example.COM', 'GET', '/orders/1', 'exact'],
    ['pattern is case-insensitive', 'api2.example.com', 'GET', '/orders/1', 'exact'],
    ['port is ignored', 'api.example.com:8443', 'GET', '/orders/1', 'exact'],
    ['trailing dot is ignored', 'api.example.com.', 'GET', '/orders/1', 'exact'],
    ['wildcard beats any host', 'shop.example.com', 'GET', '/orders/1', 'wild'],
    ['wildcard spans several labels', 'a.b.example.com', 'GET', '/orders/1', 'wild'],
    ['longest wildcard suffix wins', 'shop.eu.example.com', 'GET', '/orders/1', 'deep-wild'],
    ['wildcard needs a non-empty prefix', 'example.com', 'GET', '/orders/1', 'any'],
    ['wildcard is a suffix on a label boundary', 'evilexample.com', 'GET', '/orders/1', 'any'],
    ['other hosts use any-host routes', 'other.test', 'GET', '/orders/1', 'any'],
    ['IPv6 literal with port', '[::1]:8080', 'GET', '/orders/1', 'v6'],
    ['IPv6 literal without port', '[::1]', 'GET', '/orders/1', 'v6'],
    ['IPv6 literal in another spelling', '[0:0:0:0:0:0:0:1]', 'GET', '/orders/1', 'v6'],
    ['host tier beats a more specific path', 'api.example.com', 'GET', '/orders/special', 'exact'],
    ['falls back to any host for that path', 'other.test', 'GET', '/orders/special', 'any-literal'],
    ['exact host with its own method', 'api.example.com', 'POST', '/orders/1', 'exact-post'],
    ['falls through host tiers by method', 'api.example.com', 'DELETE', '/orders/1', undefined],
    ['wildcard-only route for a matching host', 'x.example.com', 'GET', '/wild', 'wild-only'],
    ['wildcard-only route from an exact host', 'api.example.com', 'GET', '/wild', 'wild-only'],
    ['wildcard-only route for another host', 'other.test', 'GET', '/wild', undefined],
  ])('%s', (_name, host, method, path, value) => {
    expect(lookup(table, method, path, host)?.value).toBe(value);
  });

  // These used to reach the any-host routes; now the route step refuses them before the
  // table is asked (GH_ERR_HOST_INVALID), see normalize-authority.test.ts.
  it.each([
    ['an empty host', ''],
    ['unbracketed IPv6', '::1'],
  ])('never asks the table about %s', (_name, raw) => {
    expect(normalizeAuthority(raw, 'https').ok).toBe(false);
  });

  it('canonicalizes catalog hosts as request hosts are (upper case, trailing dot, IPv6)', () => {
    const t = RouteTable.build([
      route('exact', '/a', ['GET'], ['API.Example.COM.']),
      route('wild', '/a', ['GET'], ['*.Shop.Example.']),
      route('v6', '/a', ['GET'], ['[0:0:0:0:0:0:0:1]']),
    ]);
    expect(lookup(t, 'GET', '/a', 'api.example.com')?.value).toBe('exact');
    expect(lookup(t, 'GET', '/a', 'eu.shop.example')?.value).toBe('wild');
    expect(lookup(t, 'GET', '/a', '[::1]:8443')?.value).toBe('v6');
  });

  it('falls back from a host tier without the path to a lower tier', () => {
    const t = RouteTable.build([
      route('exact', '/a', ['GET'], ['api.example.com']),
      route('any', '/b'),
    ]);
    expect(lookup(t, 'GET', '/b', 'api.example.com')?.value).toBe('any');
    expect(lookup(t, 'GET', '/a', 'other.test')).toBeUndefined();
  });
});

describe('RouteTable.build errors', () => {
  it.each<[string, RouteSpec<string>, string]>([
    ['no leading slash', route('x', 'orders'), 'route #1 ("orders"): must start with "/"'],
    ['empty template', route('x', ''), 'must start with "/"'],
    ['unbalanced open brace', route('x', '/orders/{id'), 'unbalanced braces in segment "{id"'],
    ['unbalanced close brace', route('x', '/orders/id}'), 'unbalanced braces in segment "id}"'],
    ['brace across segments', route('x', '/a/{id/x}'), 'unbalanced braces in segment "{id"'],
    ['nested braces', route('x', '/a/{{id}}'), 'unbalanced braces in segment "{{id}}"'],
    ['empty param name', route('x', '/orders/{}'), 'empty parameter name'],
    ['duplicate param name', route('x', '/a/{id}/b/{id}'), 'duplicate parameter name "id"'],
    ['param with a suffix', route('x', '/files/{name}.json'), 'must span a whole segment'],
    ['param with a prefix', route('x', '/files/v{version}'), 'must span a whole segment'],
    ['two params in a segment', route('x', '/files/{a}{b}'), 'must span a whole segment'],
    ['bad param name', route('x', '/a/{a b}'), 'parameter name "a b" may only use'],
    ['trailing slash', route('x', '/orders/'), 'empty segment'],
    ['double slash', route('x', '//orders'), 'empty segment'],
    ['dot segment', route('x', '/a/../b'), 'dot-segment ".."'],
    ['percent in template', route('x', '/a%20b'), 'write literals decoded'],
    ['query in template', route('x', '/a?b=1'), 'write literals decoded'],
    ['wildcard in template', route('x', '/static/*'), 'write literals decoded'],
    ['backslash in template', route('x', '/a\\b'), 'write literals decoded'],
    ['no methods', route('x', '/a', []), 'no methods (use ["*"] for any method)'],
    ['lower-case method', route('x', '/a', ['get']), 'method "get" must be an upper-case'],
    ['empty method', route('x', '/a', ['']), 'method "" must be'],
    ['host with port', route('x', '/a', ['GET'], ['api.example.com:443']), 'without a port'],
    ['bare * host', route('x', '/a', ['GET'], ['*']), 'use [] for any host'],
    ['inner wildcard host', route('x', '/a', ['GET'], ['api.*.com']), 'host "api.*.com"'],
    ['empty host', route('x', '/a', ['GET'], ['']), 'host ""'],
    ['empty host label', route('x', '/a', ['GET'], ['a..com']), 'host "a..com"'],
    ['userinfo in host', route('x', '/a', ['GET'], ['u@a.com']), 'host "u@a.com"'],
    ['numeric host that is no IPv4', route('x', '/a', ['GET'], ['127.1']), 'host "127.1"'],
    ['wildcard over an address', route('x', '/a', ['GET'], ['*.1.2.3.4']), 'host "*.1.2.3.4"'],
  ])('rejects %s', (_name, spec, message) => {
    const build = (): RouteTable<string> => RouteTable.build([route('ok', '/ok'), spec]);
    expect(build).toThrow(RouteTableError);
    expect(build).toThrow(message);
  });

  it('names the route by index in the list', () => {
    expect(() => RouteTable.build([route('ok', '/ok'), route('bad', '/a/{')])).toThrow(
      /^route #1 \("\/a\/\{"\): unbalanced braces/,
    );
  });

  it('throws an Error subclass named RouteTableError', () => {
    try {
      RouteTable.build([route('bad', 'x')]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(Error);
      expect(error).toBeInstanceOf(RouteTableError);
      expect((error as Error).name).toBe('RouteTableError');
    }
  });

  it.each<[string, RouteSpec<string>, RouteSpec<string>, string]>([
    [
      'the same template and method',
      route('a', '/orders/{id}'),
      route('b', '/orders/{id}'),
      'route #1 ("/orders/{id}") conflicts with route #0 ("/orders/{id}"): same any host, method GET and path shape',
    ],
    [
      'params of different names at the same position',
      route('a', '/orders/{id}/items'),
      route('b', '/orders/{orderId}/items'),
      'route #1 ("/orders/{orderId}/items") conflicts with route #0 ("/orders/{id}/items")',
    ],
    [
      'two * routes',
      route('a', '/x', ['*']),
      route('b', '/x', ['*']),
      'same any host, method * and path shape',
    ],
    [
      'one shared method in a list',
      route('a', '/x', ['GET', 'POST']),
      route('b', '/x', ['PUT', 'POST']),
      'method POST',
    ],
    [
      'the same exact host in another case',
      route('a', '/x', ['GET'], ['api.example.com']),
      route('b', '/x', ['GET'], ['API.example.com']),
      'same host "api.example.com"',
    ],
    [
      'the same wildcard host',
      route('a', '/x', ['GET'], ['*.example.com']),
      route('b', '/x', ['GET'], ['other.test', '*.example.com']),
      'same host "*.example.com"',
    ],
    ['the root', route('a', '/'), route('b', '/'), 'route #1 ("/") conflicts with route #0 ("/")'],
  ])('rejects two routes with %s', (_name, first, second, message) => {
    const build = (): RouteTable<string> => RouteTable.build([first, second]);
    expect(build).toThrow(RouteTableError);
    expect(build).toThrow(message);
  });

  it.each<[string, RouteSpec<string>, RouteSpec<string>]>([
    ['different methods', route('a', '/x', ['GET']), route('b', '/x', ['POST'])],
    ['an exact method and *', route('a', '/x', ['GET']), route('b', '/x', ['*'])],
    [
      'different hosts',
      route('a', '/x', ['GET'], ['a.test']),
      route('b', '/x', ['GET'], ['b.test']),
    ],
    ['a host and any host', route('a', '/x', ['GET'], ['a.test']), route('b', '/x')],
    [
      'exact and wildcard host',
      route('a', '/x', ['GET'], ['a.test']),
      route('b', '/x', ['GET'], ['*.a.test']),
    ],
    ['a literal and a param', route('a', '/x/me'), route('b', '/x/{id}')],
    ['different depths', route('a', '/x/{id}'), route('b', '/x/{id}/y')],
  ])('accepts two routes with %s', (_name, first, second) => {
    expect(RouteTable.build([first, second]).size).toBe(2);
  });

  it('accepts a method or host listed twice in one route', () => {
    const t = RouteTable.build([route('a', '/x', ['GET', 'GET'], ['a.test', 'A.test'])]);
    expect(lookup(t, 'GET', '/x', 'a.test')?.value).toBe('a');
  });
});

describe('RouteTable with 10,000 routes', () => {
  const count = 10_000;
  const routes: RouteSpec<number>[] = [];
  for (let i = 0; i < count; i++) {
    // Three shapes per service, spread over three host kinds, so the trie has many
    // siblings at one level and literal/param choices below it.
    const service = `svc${Math.floor(i / 3)}`;
    const shape = i % 3;
    const template =
      shape === 0
        ? `/${service}/v1/items/{id}`
        : shape === 1
          ? `/${service}/v1/items/latest`
          : `/${service}/v1/items/{id}/parts/{part}`;
    const hosts = i % 5 === 0 ? [`${service}.example.com`] : i % 5 === 1 ? ['*.internal.test'] : [];
    routes.push({ value: i, template, methods: ['GET'], hosts });
  }
  const table = RouteTable.build(routes);

  it('builds all of them', () => {
    expect(table.size).toBe(count);
  });

  it('matches every route by a concrete path', () => {
    for (let i = 0; i < count; i++) {
      const service = `svc${Math.floor(i / 3)}`;
      const shape = i % 3;
      const segments =
        shape === 0
          ? [service, 'v1', 'items', `id${i}`]
          : shape === 1
            ? [service, 'v1', 'items', 'latest']
            : [service, 'v1', 'items', `id${i}`, 'parts', 'p'];
      const host =
        i % 5 === 0 ? `${service}.example.com:443` : i % 5 === 1 ? 'a.internal.test' : 'any.test';
      const found = table.match(hostOf(host), 'GET', segments);
      expect(found?.value).toBe(i);
      if (shape === 0) expect(found?.params).toEqual({ id: `id${i}` });
      if (shape === 2) expect(found?.params).toEqual({ id: `id${i}`, part: 'p' });
    }
  });

  it('misses what is not there', () => {
    expect(
      table.match(hostOf('any.test'), 'GET', ['svc99999', 'v1', 'items', '1']),
    ).toBeUndefined();
    expect(table.match(hostOf('any.test'), 'POST', ['svc1', 'v1', 'items', '1'])).toBeUndefined();
    expect(table.match(hostOf('any.test'), 'GET', ['svc1', 'v1', 'items'])).toBeUndefined();
  });
});
