import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CatalogError, parseCatalog, type ApiDefinition } from '../../../src/routes/catalog.js';
import { catalogWithOpenApi } from '../../../src/sync/openapi/catalog-with-openapi.js';

// The import of OpenAPI documents into the catalog, through what a build uses: the merged
// catalog text, parsed by the catalog parser.

const OAUTH = {
  type: 'oauth2',
  flows: {
    clientCredentials: {
      tokenUrl: 'https://issuer.example/token',
      scopes: { a: 'a', b: 'b', c: 'c' },
    },
  },
};

function doc(extra: Record<string, unknown>, paths: Record<string, unknown>): string {
  return stringify({
    openapi: '3.1.0',
    info: { title: 't', version: '1' },
    components: {
      securitySchemes: {
        oauth: OAUTH,
        oidc: {
          type: 'openIdConnect',
          openIdConnectUrl: 'https://op.example/tenant/.well-known/openid-configuration',
        },
        key: { type: 'apiKey', in: 'header', name: 'x-api-key' },
      },
    },
    ...extra,
    paths,
  });
}

const get = (op: Record<string, unknown> = {}) => ({
  get: { responses: { '200': { description: 'ok' } }, ...op },
});

async function apisOf(
  text: string,
  catalog = '',
  file = 'svc.openapi.yaml',
): Promise<readonly ApiDefinition[]> {
  return parseCatalog(await catalogWithOpenApi(catalog, [{ path: file, content: text }])).apis;
}

async function refusal(text: string, catalog = '', file = 'svc.openapi.yaml'): Promise<string> {
  try {
    await apisOf(text, catalog, file);
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogError);
    return (error as Error).message;
  }
  throw new Error('expected the document to be refused');
}

describe('operations become APIs', () => {
  it('path + method, operationId as the id (else service:METHOD path), servers as hosts and base path', async () => {
    const apis = await apisOf(
      doc(
        {
          servers: [
            {
              url: 'https://{region}.api.example.com/v1',
              variables: { region: { default: 'eu', enum: ['eu', 'us'] } },
            },
          ],
        },
        { '/orders/{id}': get({ operationId: 'orders.get' }), '/health': get() },
      ),
    );
    expect(apis.map((a) => [a.id, a.methods, a.pathTemplate, a.hosts, a.service])).toEqual([
      [
        'orders.get',
        ['GET'],
        '/v1/orders/{id}',
        ['eu.api.example.com', 'us.api.example.com'],
        'svc',
      ],
      [
        'svc:GET /v1/health',
        ['GET'],
        '/v1/health',
        ['eu.api.example.com', 'us.api.example.com'],
        'svc',
      ],
    ]);
    expect(apis[0]?.origin).toBe('svc.openapi.yaml: GET /orders/{id} (operationId orders.get)');
  });

  it('servers with two base paths are refused naming the operation', async () => {
    const message = await refusal(
      doc(
        { servers: [{ url: 'https://a.example/v1' }, { url: 'https://a.example/v2' }] },
        { '/x': get() },
      ),
    );
    expect(message).toContain('svc.openapi.yaml: GET /x: servers have different base paths');
  });

  it('x-gatehouse-policy: operation over path item is the API level, the document the service level', async () => {
    const apis = await apisOf(
      doc(
        { 'x-gatehouse-policy': 'svc.service', 'x-gatehouse-service': 'orders' },
        {
          '/a': { 'x-gatehouse-policy': 'svc.path', ...get({ 'x-gatehouse-policy': 'svc.op' }) },
          '/b': { 'x-gatehouse-policy': 'svc.path', ...get() },
          '/c': get(),
        },
      ),
      'global: { policy: g.all }',
    );
    expect(apis.map((a) => [a.service, a.policies.map((p) => `${p.level}:${p.package}`)])).toEqual([
      ['orders', ['global:g.all', 'service:svc.service', 'api:svc.op']],
      ['orders', ['global:g.all', 'service:svc.service', 'api:svc.path']],
      ['orders', ['global:g.all', 'service:svc.service']],
    ]);
  });

  it('a policy name that is no Rego package is refused naming the operation', async () => {
    expect(
      await refusal(doc({}, { '/a': get({ 'x-gatehouse-policy': 'not a package' }) })),
    ).toContain('svc.openapi.yaml: GET /a: x-gatehouse-policy');
  });
});

describe('security requirements become the API auth', () => {
  const authOf = async (docSecurity: unknown, opSecurity?: unknown) => {
    const [api] = await apisOf(
      doc(docSecurity === undefined ? {} : { security: docSecurity }, {
        '/a': get(opSecurity === undefined ? {} : { security: opSecurity }),
      }),
    );
    const { mode, scopes, scopesMatch, issuers } = api?.auth ?? {};
    return { mode, scopes, scopesMatch, issuers };
  };

  it('the operation overrides the document', async () => {
    expect(await authOf([{ oauth: ['a'] }], [{ oauth: ['b'] }])).toMatchObject({
      mode: 'required',
      scopes: ['b'],
    });
    expect(await authOf([{ oauth: ['a'] }])).toMatchObject({ mode: 'required', scopes: ['a'] });
  });

  it('an empty requirement {} (or an empty list) is public: mode none', async () => {
    expect(await authOf([{ oauth: ['a'] }], [{}])).toMatchObject({ mode: 'none' });
    expect(await authOf([{ oauth: ['a'] }], [])).toMatchObject({ mode: 'none' });
  });

  it('{} beside a token requirement is optional: a token, when sent, must carry the scopes', async () => {
    expect(await authOf([{}, { oauth: ['a'] }])).toMatchObject({ mode: 'optional', scopes: ['a'] });
  });

  it('alternatives of one scope each: any of them; the same scopes twice: all of them', async () => {
    expect(await authOf([{ oauth: ['a'] }, { oauth: ['b'] }])).toMatchObject({
      scopes: ['a', 'b'],
      scopesMatch: 'any',
    });
    expect(await authOf([{ oauth: ['a', 'b'] }, { oauth: ['b', 'a'] }])).toMatchObject({
      scopes: ['a', 'b'],
      scopesMatch: 'all',
    });
    // A superset is redundant: [a] already suffices.
    expect(await authOf([{ oauth: ['a', 'b'] }, { oauth: ['a'] }])).toMatchObject({
      scopes: ['a'],
      scopesMatch: 'all',
    });
  });

  it('no security anywhere keeps the catalog default (a token is required)', async () => {
    expect(await authOf(undefined)).toMatchObject({ mode: 'required', scopes: [] });
  });

  it('OpenID Connect: the issuer is the openIdConnectUrl without the well-known suffix', async () => {
    expect(await authOf([{ oidc: ['a'] }])).toMatchObject({
      issuers: ['https://op.example/tenant'],
      scopes: ['a'],
    });
  });

  it('what the catalog cannot express is refused at build time, naming the operation', async () => {
    expect(
      await refusal(doc({ security: [{ oauth: ['a', 'b'] }, { oauth: ['c'] }] }, { '/a': get() })),
    ).toContain('svc.openapi.yaml: GET /a: the security alternatives cannot be expressed');
    expect(
      await refusal(doc({ security: [{ oauth: ['a'], oidc: [] }] }, { '/a': get() })),
    ).toContain('names several schemes at once');
    expect(await refusal(doc({ security: [{ key: [] }] }, { '/a': get() }))).toContain(
      'security scheme key (type apiKey) is not a token Gatehouse verifies',
    );
  });
});

describe('typed path parameters', () => {
  it('path item and operation parameters (the operation wins), $ref resolved inside the document', async () => {
    const [api] = await apisOf(
      stringify({
        openapi: '3.0.3',
        info: { title: 't', version: '1' },
        components: { schemas: { Id: { type: 'string', format: 'uuid' } } },
        paths: {
          '/o/{id}/{state}/{n}': {
            parameters: [
              { name: 'id', in: 'path', required: true, schema: { type: 'integer' } },
              {
                name: 'state',
                in: 'path',
                required: true,
                schema: { type: 'string', enum: ['open', 'shut'] },
              },
              { name: 'n', in: 'path', required: true, schema: { type: 'string' } },
            ],
            ...get({
              parameters: [
                {
                  name: 'id',
                  in: 'path',
                  required: true,
                  schema: { $ref: '#/components/schemas/Id' },
                },
              ],
            }),
          },
        },
      }),
    );
    expect(api?.pathParams).toEqual({
      id: { type: 'string', format: 'uuid' },
      state: { type: 'string', enum: ['open', 'shut'] },
    });
  });
});

describe('references stay inside the document', () => {
  const withRef = (ref: string) => doc({}, { '/a': get({ parameters: [{ $ref: ref }] }) });

  it('a $ref to an http URL is refused, and nothing is requested', async () => {
    let requests = 0;
    const server = createServer((_req, res) => {
      requests += 1;
      res.end(
        JSON.stringify({ name: 'id', in: 'path', required: true, schema: { type: 'string' } }),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const message = await refusal(withRef(`http://127.0.0.1:${port}/param.json`));
      expect(message).toContain(
        `svc.openapi.yaml: #/paths/~1a/get/parameters/0: $ref "http://127.0.0.1:${port}/param.json" points outside the document`,
      );
      expect(requests).toBe(0);
    } finally {
      server.close();
    }
  });

  it('a $ref to a file (relative or absolute) is refused', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-openapi-ref-'));
    try {
      const file = path.join(dir, 'param.yaml');
      await writeFile(file, 'name: id\nin: path\nrequired: true\nschema: { type: string }\n');
      for (const ref of [file, 'param.yaml', `file://${file}`, 'param.yaml#/schema']) {
        expect(await refusal(withRef(ref)), ref).toContain('points outside the document');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a Swagger 2.0 document or a document that does not validate is refused naming the file', async () => {
    expect(
      await refusal(stringify({ swagger: '2.0', info: { title: 't', version: '1' }, paths: {} })),
    ).toContain('svc.openapi.yaml: "openapi" must be a 3.0.x or 3.1.x version');
    expect(
      await refusal(
        'openapi: 3.0.3\ninfo: { title: t, version: "1" }\npaths: { /a: { get: { responses: 7 } } }\n',
      ),
    ).toContain('svc.openapi.yaml: not a valid OpenAPI document');
  });
});

describe('conflicts with the catalog', () => {
  const catalog = stringify({
    services: [
      { name: 'orders', apis: [{ id: 'orders.get', method: 'GET', path: '/orders/{id}' }] },
    ],
  });

  it('a service the catalog defines too is refused naming the file', async () => {
    expect(await refusal(doc({}, { '/x': get() }), catalog, 'orders.openapi.yaml')).toContain(
      'orders.openapi.yaml: service "orders" is already defined in the catalog',
    );
  });

  it('an API id the catalog uses too is refused naming both places', async () => {
    expect(await refusal(doc({}, { '/x': get({ operationId: 'orders.get' }) }), catalog)).toContain(
      'API id "orders.get" is used twice: in the catalog (service orders) and in svc.openapi.yaml: GET /x (operationId orders.get)',
    );
  });
});
