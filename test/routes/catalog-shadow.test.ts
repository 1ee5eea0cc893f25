import { describe, expect, it } from 'vitest';
import { CatalogError, parseCatalog } from '../../src/routes/catalog.js';

// The catalog's `shadow` key (docs/shadow.md): resolved once per build into each API's
// shadow levels, and compiled like every other package.

const CATALOG = `
global:
  policy: g.enforced
  shadow: g.shadow
services:
  - name: orders
    shadow: orders.shadow
    apis:
      - id: orders.get
        method: GET
        path: /orders/{id}
        policy: orders.read
        shadow: orders.read_v2
      - id: orders.list
        method: GET
        path: /orders
  - name: plain
    apis:
      - id: plain.get
        method: GET
        path: /plain
`;

describe('catalog shadow levels', () => {
  it('an API gets the shadows of its levels, outermost first, beside its enforced levels', () => {
    const catalog = parseCatalog(CATALOG);
    const api = (id: string) => catalog.apis.find((a) => a.id === id);
    expect(api('orders.get')?.shadows).toEqual([
      { level: 'global', package: 'g.shadow' },
      { level: 'service', package: 'orders.shadow' },
      { level: 'api', package: 'orders.read_v2' },
    ]);
    // The enforced levels are the policies only: a shadow never becomes one.
    expect(api('orders.get')?.policies).toEqual([
      { level: 'global', package: 'g.enforced' },
      { level: 'api', package: 'orders.read' },
    ]);
    expect(api('orders.list')?.shadows).toEqual([
      { level: 'global', package: 'g.shadow' },
      { level: 'service', package: 'orders.shadow' },
    ]);
    expect(catalog.globalShadows).toEqual([{ level: 'global', package: 'g.shadow' }]);
  });

  it('shadow packages are compiled and checked like enforced ones', () => {
    expect(parseCatalog(CATALOG).packages).toEqual([
      'g.enforced',
      'g.shadow',
      'orders.read',
      'orders.read_v2',
      'orders.shadow',
    ]);
  });

  it('a catalog without shadows leaves them unset (the check path tests once)', () => {
    const catalog = parseCatalog(CATALOG.replace(/^\s*shadow: .*$/gm, ''));
    expect(catalog.globalShadows).toBeUndefined();
    const plain = parseCatalog('services: [{ name: p, apis: [{ id: a, method: GET, path: /a }] }]');
    expect(plain.apis[0]).not.toHaveProperty('shadows');
    expect(plain.globalShadows).toBeUndefined();
  });

  it('a shadow that is not a package name is a catalog error naming the key', () => {
    expect(() =>
      parseCatalog(
        'services: [{ name: p, apis: [{ id: a, method: GET, path: /a, shadow: "not a package" }] }]',
      ),
    ).toThrow(CatalogError);
    expect(() => parseCatalog('global: { shadow: "x/y" }')).toThrow(
      /global\.shadow: must be a Rego package name/,
    );
  });
});
