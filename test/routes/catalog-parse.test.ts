import fc from 'fast-check';
import { CORE_SCHEMA, load as loadJsYaml } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { CatalogError, parseCatalog } from '../../src/routes/catalog.js';

// The catalog text is read with js-yaml (ten times faster than `yaml` on a 10,000-API
// catalog). What it must keep from the `yaml` package: the same values for the same text,
// duplicate keys refused, JSON read as JSON, and an alias bomb refused rather than expanded.

const YAML_CATALOG = `
services:
  - name: orders
    hosts: [api.example.com]
    apis:
      - id: orders.get
        method: get
        path: /orders/{id}
        params: { id: { type: integer } }
      - id: "no"
        methods: [POST, PUT]
        path: /orders
`;

const JSON_CATALOG = JSON.stringify({
  services: [
    {
      name: 'orders',
      hosts: ['api.example.com'],
      apis: [
        {
          id: 'orders.get',
          method: 'get',
          path: '/orders/{id}',
          params: { id: { type: 'integer' } },
        },
        { id: 'no', methods: ['POST', 'PUT'], path: '/orders' },
      ],
    },
  ],
});

function problemsOf(text: string): readonly string[] {
  try {
    parseCatalog(text);
  } catch (error) {
    if (error instanceof CatalogError) return error.problems;
    throw error;
  }
  throw new Error('the catalog was accepted');
}

describe('catalog text', () => {
  it('a YAML catalog and its JSON spelling are the same catalog', () => {
    expect(parseCatalog(JSON_CATALOG)).toEqual(parseCatalog(YAML_CATALOG));
    expect(parseCatalog(YAML_CATALOG).apis.map((api) => api.methods)).toEqual([
      ['GET'],
      ['POST', 'PUT'],
    ]);
  });

  it('YAML 1.2 scalars: an unquoted yes/no/on is a string, not a boolean', () => {
    const catalog = parseCatalog(
      'services:\n  - name: on\n    apis:\n      - {id: yes, method: GET, path: /a}\n',
    );
    expect(catalog.apis[0]?.id).toBe('yes');
    expect(catalog.apis[0]?.service).toBe('on');
  });

  it.each([
    ['YAML', 'services:\n  - name: a\n    name: b\n    apis: [{id: x, method: GET, path: /x}]\n'],
    ['JSON', '{"services": [], "services": []}'],
  ])('a duplicate key in %s is refused, not read as the last one', (_, text) => {
    expect(problemsOf(text).join('\n')).toMatch(/not valid YAML\/JSON: .*duplicate/i);
  });

  it('anchors and aliases of an ordinary size still read (a shared auth block)', () => {
    const catalog = parseCatalog(`
services:
  - name: a
    auth: &public { mode: none }
    apis: [{id: a.x, method: GET, path: /x}]
  - name: b
    auth: *public
    apis: [{id: b.x, method: GET, path: /x2}]
`);
    expect(catalog.apis.map((api) => api.auth.mode)).toEqual(['none', 'none']);
  });

  it('a billion-laughs catalog is refused at once, not walked alias by alias', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const previous = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(', ')}]`);
    }
    const text = `${levels.join('\n')}\nservices: []\n`;
    // 10^9 values if expanded (the test would time out); refused past the text's own size.
    expect(problemsOf(text).join('\n')).toMatch(/aliases expand the document/);
  });

  it('reads every generated document as the `yaml` package does', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        // JSON.parse(JSON.stringify(...)) drops -0, which YAML and JSON spell differently.
        const plain: unknown = JSON.parse(JSON.stringify(value));
        const text = stringifyYaml(plain);
        expect(loadJsYaml(text, { schema: CORE_SCHEMA }) ?? null).toEqual(parseYaml(text));
      }),
      { numRuns: 500 },
    );
  });
});
