import type { Client } from '@grpc/grpc-js';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askEveryDoor, DOORS, type DoorAnswer, type DoorRequest } from '../helpers/check-doors.js';
import {
  COMPILE_CACHE,
  startTestGatehouse,
  type TestGatehouse,
} from '../helpers/test-gatehouse.js';
import { waitFor } from '../helpers/wait-for.js';
import { connect } from '../transport/grpc/grpc-test-client.js';

// The example policies (policies/) twice: once with their catalog.yaml, once with the
// services in OpenAPI documents (test/fixtures/openapi: OAuth2, OpenID Connect and HTTP
// bearer security, x-gatehouse-policy) and a catalog that keeps only the global level.
// The same requests through every door (gRPC Check, /envoy, /v1/check, /nginx, /traefik)
// must get the same answers; then what only the documents say (typed {id}) and what a
// broken document does to a running server.

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLE_POLICIES = path.join(here, '..', '..', 'policies');
const OPENAPI_FIXTURE = path.join(here, '..', 'fixtures', 'openapi');

interface Running {
  readonly t: TestGatehouse;
  readonly grpc: Client;
}

let work: string;
let openApiPolicies: string;
let example: Running;
let openapi: Running;

async function start(policySource: string, config?: Record<string, unknown>): Promise<Running> {
  const t = await startTestGatehouse({ policySource, ...(config === undefined ? {} : { config }) });
  return { t, grpc: connect(t.gatehouse.grpcPort ?? 0) };
}

async function stop(running: Running | undefined): Promise<void> {
  running?.grpc.close();
  await running?.t.close();
}

/** policies/ with its catalog replaced by the documents. */
async function openApiFolder(into: string): Promise<string> {
  await cp(EXAMPLE_POLICIES, into, { recursive: true });
  await cp(OPENAPI_FIXTURE, into, { recursive: true });
  return into;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'gatehouse-openapi-e2e-'));
  openApiPolicies = await openApiFolder(path.join(work, 'policies'));
  example = await start(EXAMPLE_POLICIES);
  openapi = await start(openApiPolicies);
});
afterAll(async () => {
  await stop(example);
  await stop(openapi);
  await rm(work, { recursive: true, force: true });
});

type Who = 'reader' | 'readerNoScope' | 'writer' | 'admin' | 'alice' | 'bob' | 'mallory' | 'none';
const CLAIMS: Record<Exclude<Who, 'none'>, Record<string, unknown>> = {
  reader: { sub: 'rita', roles: ['reader'], scope: 'orders:read' },
  readerNoScope: { sub: 'rita', roles: ['reader'], scope: 'profile' },
  writer: { sub: 'wes', roles: ['writer'], scope: 'orders:read' },
  admin: { sub: 'ada', roles: ['admin'], scope: 'orders:read' },
  alice: { sub: 'alice', roles: [], scope: '' },
  bob: { sub: 'bob', roles: [], scope: '' },
  mallory: { sub: 'mallory', roles: ['reader'], scope: 'orders:read' },
};

/** The request set: every API of the example, allowed and denied, plus unknown ones. */
const REQUESTS: ReadonlyArray<readonly [method: string, path: string, who: Who]> = [
  ['GET', '/orders', 'reader'],
  ['GET', '/orders', 'readerNoScope'],
  ['GET', '/orders', 'none'],
  ['GET', '/orders/42', 'reader'],
  ['GET', '/orders/42', 'bob'],
  ['POST', '/orders', 'writer'],
  ['POST', '/orders', 'reader'],
  ['DELETE', '/orders', 'writer'],
  ['GET', '/orders', 'mallory'],
  ['GET', '/admin', 'admin'],
  ['POST', '/admin', 'admin'],
  ['GET', '/admin', 'reader'],
  ['GET', '/admin/users/bob', 'admin'],
  ['GET', '/admin/users/bob', 'none'],
  ['GET', '/users/alice/profile', 'alice'],
  ['GET', '/users/alice/profile', 'bob'],
  ['GET', '/users/alice/profile', 'admin'],
  ['GET', '/public/status', 'none'],
  ['GET', '/public/status', 'mallory'],
  ['GET', '/nowhere', 'reader'],
];

async function ask(
  running: Running,
  method: string,
  path: string,
  who: Who,
): Promise<DoorAnswer[]> {
  const headers: Record<string, string> = {};
  if (who !== 'none') headers.authorization = `Bearer ${await running.t.issuer.sign(CLAIMS[who])}`;
  const req: DoorRequest = { method, path, headers };
  const answers = await askEveryDoor({ grpc: running.grpc, httpBase: running.t.httpBase }, req);
  // The HTTP Date header is the only part of an answer that depends on when it was asked.
  return answers.map((a) => {
    const { date: _date, ...clientHeaders } = a.clientHeaders;
    return { ...a, clientHeaders };
  });
}

describe('OpenAPI documents in place of the example catalog', () => {
  it('give the same decision as the catalog on every door, request by request', async () => {
    const codes = new Set<string>();
    for (const [method, path, who] of REQUESTS) {
      const fromCatalog = await ask(example, method, path, who);
      const fromDocuments = await ask(openapi, method, path, who);
      expect(fromDocuments, `${method} ${path} as ${who}`).toEqual(fromCatalog);
      for (const answer of fromCatalog) if (answer.door === 'json') codes.add(answer.code);
    }
    // The set is worth comparing: it reaches allows and each kind of deny.
    expect([...codes].sort()).toEqual(
      [
        'GH_OK',
        'GH_ERR_API_UNKNOWN',
        'GH_ERR_NO_CREDENTIAL',
        'GH_ERR_POLICY_DENIED',
        'GH_ERR_SCOPE_MISSING',
      ].sort(),
    );
  });

  it('an order id that is no integer (/orders/abc) matches no API: GH_ERR_API_UNKNOWN on every door', async () => {
    // What an unknown API looks like on each door (status, gRPC code, headers).
    const unknown = await ask(openapi, 'GET', '/nowhere', 'reader');
    expect(unknown.map((a) => a.code)).toEqual(DOORS.map(() => 'GH_ERR_API_UNKNOWN'));
    expect(unknown.find((a) => a.door === 'grpc')?.grpcCode).toBe(7); // PERMISSION_DENIED
    for (const path of ['/orders/abc', '/orders/4.2', '/orders/99999999999999999999']) {
      expect(await ask(openapi, 'GET', path, 'reader'), path).toEqual(unknown);
    }
    // The catalog's untyped {id} takes it, which is the difference the type makes.
    const untyped = await ask(example, 'GET', '/orders/abc', 'reader');
    expect(untyped.every((a) => a.allowed)).toBe(true);
    const negative = await ask(openapi, 'GET', '/orders/-7', 'reader');
    expect(negative.every((a) => a.allowed)).toBe(true);
  });
});

interface Status {
  lastBuild: { ok: boolean; error?: string } | null;
  policySource: { lastError?: string; consecutiveFailures: number; revision?: string };
}

async function status(t: TestGatehouse): Promise<Status> {
  const res = await request(`${t.probesBase}/status`);
  return (await res.body.json()) as Status;
}

describe('a broken or conflicting document on a running server (folder source)', () => {
  let dir: string;
  let live: Running | undefined;
  beforeAll(async () => {
    dir = await openApiFolder(path.join(work, 'live'));
    live = await start(openApiPolicies, {
      policies: { dir, watch: true, rescanIntervalS: 0, compileCacheDir: COMPILE_CACHE },
    });
  });
  afterAll(async () => {
    await stop(live);
  });

  async function readerGetsOrder(): Promise<void> {
    if (live === undefined) throw new Error('not started');
    const answers = await ask(live, 'GET', '/orders/42', 'reader');
    expect(answers.map((a) => a.code)).toEqual(DOORS.map(() => 'GH_OK'));
  }

  it('an invalid document is refused naming the file; the last good decisions keep being served', async () => {
    if (live === undefined) throw new Error('not started');
    await readerGetsOrder();
    await writeFile(
      path.join(dir, 'orders.openapi.yaml'),
      'openapi: 3.1.0\ninfo: { title: Orders }\npaths:\n  /orders:\n    get: { responses: 7 }\n',
    );
    const t = live.t;
    let seen: Status | undefined;
    await waitFor('the broken document to be read', async () => {
      seen = await status(t);
      return seen.policySource.lastError?.includes('orders.openapi.yaml') === true;
    });
    expect(seen?.policySource.lastError).toMatch(
      /orders\.openapi\.yaml: not a valid OpenAPI document/,
    );
    await readerGetsOrder();
  });

  it('two operations mapping to one route are a build error naming the file and both operations; decisions unchanged', async () => {
    if (live === undefined) throw new Error('not started');
    await cp(
      path.join(OPENAPI_FIXTURE, 'orders.openapi.yaml'),
      path.join(dir, 'orders.openapi.yaml'),
    );
    await writeFile(
      path.join(dir, 'more-orders.openapi.yaml'),
      [
        'openapi: 3.1.0',
        'info: { title: More orders, version: "1" }',
        'paths:',
        '  /orders/{orderId}:',
        '    get:',
        '      operationId: orders.byId',
        '      parameters: [{ name: orderId, in: path, required: true, schema: { type: string } }]',
        '      responses: { "200": { description: ok } }',
      ].join('\n'),
    );
    const t = live.t;
    let seen: Status | undefined;
    await waitFor('the conflicting document to be built', async () => {
      seen = await status(t);
      return seen.lastBuild?.ok === false && seen.lastBuild.error?.includes('more-orders') === true;
    });
    expect(seen?.lastBuild?.error).toContain(
      'more-orders.openapi.yaml: GET /orders/{orderId} (operationId orders.byId)',
    );
    expect(seen?.lastBuild?.error).toContain(
      'orders.openapi.yaml: GET /orders/{id} (operationId orders.get)',
    );
    await readerGetsOrder();
  });
});
