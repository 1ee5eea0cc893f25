import { describe, expect, it } from 'vitest';
import { normalizeHost } from '../../src/routes/normalize-authority.js';
import { compilePathParamCheck, type PathParamType } from '../../src/routes/path-param-types.js';
import { RouteTable, RouteTableError, type RouteSpec } from '../../src/routes/route-table.js';

// Typed path parameters at route match: a segment that is not a value of its parameter's
// type is no match, so the request falls through to the next route or to no API at all.

const host = (() => {
  const h = normalizeHost('api.example.com');
  if (!h.ok) throw new Error('bad host');
  return h.host;
})();

function typed(
  template: string,
  value: string,
  types: Record<string, PathParamType>,
  methods = ['GET'],
): RouteSpec<string> {
  const paramChecks = Object.fromEntries(
    Object.entries(types).flatMap(([name, type]) => {
      const check = compilePathParamCheck(type);
      return check === undefined ? [] : [[name, check]];
    }),
  );
  return { methods, template, hosts: [], value, paramChecks };
}

const match = (table: RouteTable<string>, path: string, method = 'GET') =>
  table.match(host, method, path.split('/').filter(Boolean))?.value;

describe('a typed parameter takes only values of its type', () => {
  it.each<[string, PathParamType, string[], string[]]>([
    ['integer', { type: 'integer' }, ['42', '-7', '0'], ['abc', '4.2', '042', '', '1e3', '+1']],
    ['int32', { type: 'integer', format: 'int32' }, ['2147483647', '-2147483648'], ['2147483648']],
    [
      'int64',
      { type: 'integer', format: 'int64' },
      ['9223372036854775807'],
      ['9223372036854775808', '99999999999999999999'],
    ],
    ['number', { type: 'number' }, ['4.2', '-1', '1e3'], ['abc', '.5', '1.']],
    ['boolean', { type: 'boolean' }, ['true', 'false'], ['TRUE', '1']],
    [
      'uuid',
      { type: 'string', format: 'uuid' },
      ['0b8f3c1e-6a8e-4c5e-9a9b-0d4f1c2b3a4d', '0B8F3C1E-6A8E-4C5E-9A9B-0D4F1C2B3A4D'],
      ['0b8f3c1e6a8e4c5e9a9b0d4f1c2b3a4d', 'x'],
    ],
    ['enum', { type: 'string', enum: ['open', 'shut'] }, ['open', 'shut'], ['Open', 'opened']],
    ['integer enum', { type: 'integer', enum: [1, 2] }, ['1', '2'], ['3', '01']],
    [
      'pattern (unanchored, as JSON Schema)',
      { type: 'string', pattern: '^[a-z]{2}-[0-9]+$' },
      ['ab-1'],
      ['AB-1', 'ab-'],
    ],
    ['length', { type: 'string', minLength: 2, maxLength: 3 }, ['ab', 'abc', 'äöü'], ['a', 'abcd']],
  ])('%s', (_name, type, accepted, refused) => {
    const table = RouteTable.build([typed('/orders/{id}', 'order', { id: type })]);
    for (const segment of accepted)
      expect(match(table, `/orders/${segment}`), segment).toBe('order');
    for (const segment of refused) {
      if (segment === '') continue; // an empty segment never reaches a parameter
      expect(match(table, `/orders/${segment}`), segment).toBeUndefined();
    }
  });
});

describe('a failed check is no match: the walk goes on', () => {
  it('to another route of another shape (/orders/{id}/x vs /orders/{name}/y are different shapes)', () => {
    const table = RouteTable.build([
      typed('/orders/{id}', 'by-id', { id: { type: 'integer' } }),
      typed('/orders/{id}', 'any-method', {}, ['*']),
    ]);
    expect(match(table, '/orders/42')).toBe('by-id');
    // GET with a non-integer id: the typed GET route does not fit, the `*` route does.
    expect(match(table, '/orders/abc')).toBe('any-method');
  });

  it('backtracks to a parameter route when a typed one deeper does not fit', () => {
    const table = RouteTable.build([
      typed('/files/{n}', 'numbered', { n: { type: 'integer' } }),
      typed('/files/{name}/raw', 'raw', {}),
    ]);
    expect(match(table, '/files/7')).toBe('numbered');
    expect(match(table, '/files/readme')).toBeUndefined();
    expect(match(table, '/files/readme/raw')).toBe('raw');
  });

  it('two operations with one shape are still a conflict, whatever their types', () => {
    expect(() =>
      RouteTable.build([
        typed('/orders/{id}', 'a', { id: { type: 'integer' } }),
        {
          ...typed('/orders/{orderId}', 'b', { orderId: { type: 'string', format: 'uuid' } }),
          label: 'svc.openapi.yaml: GET /orders/{orderId}',
        },
      ]),
    ).toThrow(
      /route #1 \("\/orders\/\{orderId\}", svc\.openapi\.yaml: GET \/orders\/\{orderId\}\) conflicts with route #0/,
    );
  });

  it('a type for a parameter the template does not have is refused', () => {
    expect(() =>
      RouteTable.build([typed('/orders/{id}', 'a', { ident: { type: 'integer' } })]),
    ).toThrow(RouteTableError);
  });

  it('a pattern that is not a regular expression is refused when compiled', () => {
    expect(() => compilePathParamCheck({ type: 'string', pattern: '(' })).toThrow();
  });
});
