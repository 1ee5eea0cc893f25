import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import { structToJson } from '../../src/transport/grpc/struct-json.js';
import { askDoor, DOORS, type DoorRequest } from '../helpers/check-doors.js';
import { startDoorGatehouse, type DoorGatehouse } from '../helpers/door-gatehouse.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { startBundleServer, type BundleServer } from '../sync/bundle/helpers/bundle-server.js';
import { opaBuild } from '../sync/bundle/helpers/opa-cli.js';
import { connect, unary } from '../transport/grpc/grpc-test-client.js';

// OPA-Envoy compatibility mode end to end: a real Gatehouse, real opa compiles, a real
// bundle built by plain `opa build` on a real HTTP server, every check door.

const protos = loadProtos();

/** An OPA-Envoy style policy: no catalog anywhere, the object result at envoy/authz/result. */
const POLICY = `package envoy.authz

import rego.v1

result := {"allowed": true, "headers": {"x-ext-auth": "yes"}, "response_headers_to_add": {"x-policy": "compat"}} if {
	input.parsed_path == ["public"]
}

result := {"allowed": true, "query_parameters_to_set": {"checked": "1"}, "query_parameters_to_remove": ["debug"], "dynamic_metadata": {"tier": "gold"}} if {
	input.parsed_path == ["query"]
}

result := {"allowed": false, "http_status": 401, "body": "login first", "headers": {"www-authenticate": "Basic"}, "dynamic_metadata": {"why": "login"}} if {
	input.parsed_path == ["login"]
}

result := {"allowed": false} if {
	not input.parsed_path in [["public"], ["query"], ["login"]]
}
`;

function get(p: string, headers: Record<string, string> = {}): DoorRequest {
  return { method: 'GET', host: 'api.example.com', path: p, scheme: 'https', headers };
}

async function grpcCheck(client: Client, p: string, headers: Record<string, string> = {}) {
  const answer = await unary(client, protos.authorization.Check, {
    attributes: {
      request: {
        http: { method: 'GET', path: p, host: 'api.example.com', scheme: 'https', headers },
      },
    },
  });
  if (answer.response === undefined) throw new Error('a gRPC error: never expected');
  return answer.response;
}

async function folderWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-compat-'));
  for (const [name, content] of Object.entries(files))
    await writeFile(path.join(dir, name), content);
  return dir;
}

/**
 * A real Gatehouse (with a gRPC client) on a fresh policy folder holding `files`, for the
 * describe it is called in: started before its tests, stopped and the folder removed after.
 */
function gatehouseOnFolder(
  files: Record<string, string>,
  opaEnvoy: Record<string, unknown>,
): () => { t: TestGatehouse; grpc: Client } {
  let dir: string;
  let door: DoorGatehouse;
  beforeAll(async () => {
    dir = await folderWith(files);
    door = await startDoorGatehouse({ policySource: dir, config: { opaEnvoy } });
  }, 60_000);
  afterAll(async () => {
    await door.close();
    await rm(dir, { recursive: true, force: true });
  });
  return () => ({ t: door.t, grpc: door.target.grpc });
}

describe('OPA-Envoy mode from a policy folder without a catalog', () => {
  const started = gatehouseOnFolder(
    { 'authz.rego': POLICY },
    {
      path: 'envoy/authz/result',
    },
  );
  let t: TestGatehouse;
  let grpc: Client;
  beforeAll(() => {
    ({ t, grpc } = started());
  });

  it.each(DOORS)('%s: the decision path allows, with its response headers', async (door) => {
    const answer = await askDoor(door, { httpBase: t.httpBase, grpc }, get('/public'));
    expect(answer).toMatchObject({ allowed: true, status: 200, code: 'GH_OK' });
    if (door !== 'traefik') expect(answer.clientHeaders['x-policy']).toBe('compat');
  });

  it.each(DOORS)('%s: a denying object result picks the status and body (401)', async (door) => {
    const answer = await askDoor(door, { httpBase: t.httpBase, grpc }, get('/login'));
    expect(answer).toMatchObject({ allowed: false, status: 401 });
    expect(answer.clientHeaders['www-authenticate']).toBe('Basic');
  });

  it.each(DOORS)(
    '%s: an undefined-or-false decision denies 403 GH_ERR_POLICY_DENIED',
    async (door) => {
      const answer = await askDoor(door, { httpBase: t.httpBase, grpc }, get('/other'));
      expect(answer).toMatchObject({ allowed: false, status: 403, code: 'GH_ERR_POLICY_DENIED' });
    },
  );

  it('gRPC: headers go upstream, query parameters and dynamic metadata reach Envoy', async () => {
    const allowed = await grpcCheck(grpc, '/public');
    expect(allowed.ok_response?.headers.map((h) => [h.header.key, h.header.value])).toEqual([
      ['x-ext-auth', 'yes'],
    ]);
    const query = await grpcCheck(grpc, '/query?debug=1');
    expect(query.status.code).toBe(0);
    expect(query.ok_response?.query_parameters_to_set).toEqual([{ key: 'checked', value: '1' }]);
    expect(query.ok_response?.query_parameters_to_remove).toEqual(['debug']);
    expect(structToJson(query.dynamic_metadata)).toEqual({ tier: 'gold' });
    const login = await grpcCheck(grpc, '/login');
    expect(login.denied_response?.body).toBe('login first');
    expect(structToJson(login.dynamic_metadata)).toEqual({ why: 'login' });
  });

  it('/v1/check reports the query parameter changes and the dynamic metadata', async () => {
    const response = await request(`${t.httpBase}/v1/check`, {
      method: 'POST',
      body: JSON.stringify({ method: 'GET', path: '/query?debug=1', host: 'api.example.com' }),
    });
    expect(await response.body.json()).toMatchObject({
      allowed: true,
      queryParametersToSet: [['checked', '1']],
      queryParametersToRemove: ['debug'],
      dynamicMetadata: { tier: 'gold' },
    });
  });

  it.each(['envoy', 'nginx', 'traefik'] as const)(
    '%s: a query change the proxy cannot apply is a 403 GH_ERR_POLICY_RESULT_INVALID, not an allow',
    async (door) => {
      const answer = await askDoor(door, { httpBase: t.httpBase, grpc }, get('/query?debug=1'));
      expect(answer).toMatchObject({
        allowed: false,
        status: 403,
        code: 'GH_ERR_POLICY_RESULT_INVALID',
      });
    },
  );

  it('a client-sent identity header never passes an allow of the decision path', async () => {
    const allowed = await grpcCheck(grpc, '/public', { 'x-user': 'admin' });
    expect(allowed.ok_response?.headers_to_remove).toContain('x-user');
  });

  it('a JSON body that does not parse denies 400 GH_ERR_INVALID_REQUEST, as opa-envoy fails it', async () => {
    const answer = await unary(grpc, protos.authorization.Check, {
      attributes: {
        request: {
          http: {
            method: 'POST',
            path: '/public',
            host: 'api.example.com',
            headers: { 'content-type': 'application/json' },
            body: '{"not json',
          },
        },
      },
    });
    expect(answer.response?.status.message).toBe('GH_ERR_INVALID_REQUEST');
    expect(answer.response?.denied_response?.status.code).toBe(400);
  });
});

describe('OPA-Envoy dry run', () => {
  const started = gatehouseOnFolder(
    { 'authz.rego': POLICY },
    {
      path: 'envoy/authz/result',
      dryRun: true,
    },
  );
  let t: TestGatehouse;
  let grpc: Client;
  beforeAll(() => {
    ({ t, grpc } = started());
  });

  it.each(DOORS)('%s: a denied check is allowed, and counted under its deny code', async (door) => {
    const answer = await askDoor(door, { httpBase: t.httpBase, grpc }, get('/other'));
    expect(answer).toMatchObject({ allowed: true, status: 200 });
    const metrics = await (await request(`${t.probesBase}/metrics`)).body.text();
    expect(metrics).toMatch(
      /gatehouse_check_decisions_total\{[^}]*code="GH_ERR_POLICY_DENIED"[^}]*\} [1-9]/,
    );
  });

  it('gRPC: the dry-run allow sets nothing and still strips identity headers', async () => {
    const response = await grpcCheck(grpc, '/other', { 'x-user': 'admin' });
    expect(response.status.code).toBe(0);
    expect(response.ok_response?.headers).toEqual([]);
    expect(response.ok_response?.headers_to_remove).toContain('x-user');
  });
});

describe('OPA-Envoy mode with a catalog layered on top', () => {
  const started = gatehouseOnFolder(
    {
      'authz.rego': `package envoy.authz\n\nimport rego.v1\n\ndefault allow := true\n`,
      'orders.rego': `package orders\n\nimport rego.v1\n\nallow if "reader" in input.token.roles\n`,
      'catalog.yaml': [
        'services:',
        '  - name: orders',
        '    apis:',
        '      - id: orders.get',
        '        method: GET',
        '        path: /orders/{id}',
        '        policy: orders',
        '        auth: { mode: required }',
        '',
      ].join('\n'),
    },
    {},
  );
  let t: TestGatehouse;
  let grpc: Client;
  beforeAll(() => {
    ({ t, grpc } = started());
  });

  it('a catalog API still authenticates first: no token is 401 GH_ERR_NO_CREDENTIAL', async () => {
    const answer = await askDoor('grpc', { httpBase: t.httpBase, grpc }, get('/orders/1'));
    expect(answer).toMatchObject({ allowed: false, status: 401, code: 'GH_ERR_NO_CREDENTIAL' });
  });

  it("a catalog API's own policy decides after the decision path", async () => {
    const reader = await t.issuer.sign({ roles: ['reader'] });
    const other = await t.issuer.sign({ roles: ['guest'] });
    const ok = await askDoor(
      'grpc',
      { httpBase: t.httpBase, grpc },
      get('/orders/1', { authorization: `Bearer ${reader}` }),
    );
    expect(ok.allowed).toBe(true);
    const no = await askDoor(
      'grpc',
      { httpBase: t.httpBase, grpc },
      get('/orders/1', { authorization: `Bearer ${other}` }),
    );
    expect(no).toMatchObject({ allowed: false, code: 'GH_ERR_POLICY_DENIED' });
  });

  it('a path no API matches is answered by the decision path alone, no token read', async () => {
    const answer = await askDoor(
      'grpc',
      { httpBase: t.httpBase, grpc },
      get('/health', { authorization: 'Bearer not-a-jwt' }),
    );
    expect(answer.allowed).toBe(true);
  });
});

describe('a bundle built by plain `opa build` (no catalog)', () => {
  let server: BundleServer;
  const running: TestGatehouse[] = [];
  beforeAll(async () => {
    server = await startBundleServer();
    const bundle = await opaBuild({ 'authz.rego': POLICY, 'data.json': '{"unused": true}' });
    server.reply(() => ({
      status: 200,
      headers: { etag: '"v1"', 'content-type': 'application/gzip' },
      body: bundle,
    }));
  }, 60_000);
  afterEach(async () => {
    await Promise.all(running.splice(0).map((g) => g.close()));
  });
  afterAll(async () => {
    await server.close();
  });

  async function start(extra: Record<string, unknown>): Promise<TestGatehouse> {
    const g = await startTestGatehouse({
      config: {
        policies: { dir: '/nonexistent', watch: false },
        persistence: { dir: await mkdtemp(path.join(tmpdir(), 'gatehouse-state-')) },
        bundle: { url: server.url, pollMinDelayS: 3600, pollMaxDelayS: 3600 },
        ...extra,
      },
    });
    running.push(g);
    return g;
  }

  it('loads in OPA-Envoy mode and answers from the decision path over gRPC', async () => {
    const g = await start({ opaEnvoy: { path: 'envoy/authz/result' } });
    expect(g.gatehouse.ready).toBe(true);
    const client = connect(g.gatehouse.grpcPort ?? 0);
    try {
      expect((await grpcCheck(client, '/public')).status.code).toBe(0);
      expect((await grpcCheck(client, '/login')).denied_response?.status.code).toBe(401);
    } finally {
      client.close();
    }
  }, 60_000);

  it('without opaEnvoy, the same bundle is refused (no catalog): never ready, every check denied', async () => {
    const g = await start({});
    expect(g.gatehouse.ready).toBe(false);
    const decision = await g.gatehouse.pipeline.check({
      transport: 'grpc',
      method: 'GET',
      path: '/public',
      host: 'api.example.com',
      scheme: 'https',
      protocol: 'HTTP/1.1',
      headers: {},
      requestId: '',
      body: '',
      source: {},
      destination: {},
      contextExtensions: {},
    });
    expect(decision).toMatchObject({ allowed: false, code: 'GH_ERR_NO_SNAPSHOT' });
  }, 60_000);
});
