import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOpaEnvoyInput } from '../../src/check/opa-envoy-input.js';
import { compileWasm } from '../../src/policy/compile-wasm.js';
import { findOpa } from '../../src/policy/opa-binary.js';
import { WasmPolicy } from '../../src/policy/wasm-policy.js';
import { decodeCheckRequest } from '../../src/transport/grpc/check-request-decoder.js';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import { structToJson } from '../../src/transport/grpc/struct-json.js';
import type {
  CheckRequestMessage,
  CheckResponseMessage,
  HeaderValueOptionMessage,
} from '../../src/transport/grpc/wire-types.js';
import { opaEval } from '../helpers/opa-eval.js';
import {
  COMPILE_CACHE,
  startTestGatehouse,
  type TestGatehouse,
} from '../helpers/test-gatehouse.js';
import {
  b64url,
  createTestIssuer,
  TEST_AUDIENCE,
  type TestIssuer,
} from '../helpers/token-factory.js';
import { connect, unary } from '../transport/grpc/grpc-test-client.js';

// Side by side: each CheckRequest goes to a real Gatehouse in OPA-Envoy mode (no catalog)
// over real gRPC, and the input document Gatehouse builds from the same request (decoded
// from the same bytes) goes to the real `opa eval` with the same policy and data. The
// CheckResponse must be what opa-envoy-plugin makes of OPA's answer, and the policy's
// result object in Gatehouse's WebAssembly must equal OPA's, case for case.

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(HERE, '..', 'fixtures', 'opa-envoy');
const BENCH_POLICY = path.join(HERE, '..', '..', 'bench', 'fixtures', 'opa-envoy', 'policy.rego');

const protos = loadProtos();
const HS_SECRET = 'opa-envoy-tutorial-shared-secret';

interface Case {
  readonly name: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly contextExtensions?: Record<string, string>;
  /** What the policy should decide: keeps the suite from passing on "everything denied". */
  readonly allowed: boolean;
}

interface Subject {
  readonly title: string;
  readonly files: Record<string, string>;
  readonly path: string;
  readonly cases: (tokens: Tokens) => Case[];
}

interface Tokens {
  readonly hsGuest: string;
  readonly hsAdmin: string;
  readonly hsExpired: string;
  readonly hsForged: string;
  readonly rsReader: string;
  readonly rsWriter: string;
  readonly rsExpired: string;
  readonly rsForged: string;
  readonly rsOtherAudience: string;
}

function request(c: Case): CheckRequestMessage {
  const method = c.method ?? 'GET';
  const headers: Record<string, string> = {
    ':authority': 'api.example.com',
    ':method': method,
    ':path': c.path,
    'x-request-id': 'diff-1',
    ...c.headers,
  };
  if (c.body !== undefined) headers['content-length'] ??= String(Buffer.byteLength(c.body));
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 50000 } } },
      destination: { address: { socket_address: { address: '10.0.0.8', port_value: 8080 } } },
      request: {
        time: { seconds: 1_767_225_600, nanos: 500_000_000 },
        http: {
          id: 'diff-1',
          method,
          path: c.path,
          host: 'api.example.com',
          scheme: 'https',
          protocol: 'HTTP/1.1',
          headers,
          ...(c.body === undefined ? {} : { body: c.body }),
        },
      },
      context_extensions: c.contextExtensions ?? {},
    },
  };
}

/** What opa-envoy-plugin sends for an OPA decision (its documented mapping). */
function expectedResponse(result: unknown): Record<string, unknown> {
  if (typeof result === 'boolean' || result === undefined) {
    return result === true ? { allowed: true } : { allowed: false, status: 403 };
  }
  const r = result as Record<string, unknown>;
  const headers = headerPairs(r.headers);
  const metadata = r.dynamic_metadata === undefined ? {} : { metadata: r.dynamic_metadata };
  if (r.allowed === true) {
    const set = Object.entries((r.query_parameters_to_set ?? {}) as Record<string, unknown>)
      .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((value) => [k, String(value)]))
      .sort();
    return {
      allowed: true,
      headers,
      removes: ((r.request_headers_to_remove ?? []) as string[]).map((n) => n.toLowerCase()),
      responseHeaders: headerPairs(r.response_headers_to_add),
      querySet: set,
      queryRemove: r.query_parameters_to_remove ?? [],
      ...metadata,
    };
  }
  return {
    allowed: false,
    status: r.http_status ?? 403,
    headers,
    ...(r.body === undefined ? {} : { body: r.body }),
    ...metadata,
  };
}

/** The same view of Gatehouse's CheckResponse. */
function actualResponse(
  response: CheckResponseMessage,
  expected: Record<string, unknown>,
): Record<string, unknown> {
  const metadata =
    response.dynamic_metadata === null || response.dynamic_metadata === undefined
      ? {}
      : { metadata: structToJson(response.dynamic_metadata) };
  if (response.status.code === 0) {
    const ok = response.ok_response;
    if (expected.headers === undefined) return { allowed: true };
    const removes = new Set(ok?.headers_to_remove ?? []);
    return {
      allowed: true,
      headers: options(ok?.headers),
      // Gatehouse also strips its identity headers: every name the policy asked for is there.
      removes: (expected.removes as string[]).filter((name) => removes.has(name)),
      responseHeaders: options(ok?.response_headers_to_add),
      querySet: (ok?.query_parameters_to_set ?? []).map((q) => [q.key, q.value]).sort(),
      queryRemove: ok?.query_parameters_to_remove ?? [],
      ...metadata,
    };
  }
  const denied = response.denied_response;
  if (expected.headers === undefined) return { allowed: false, status: denied?.status.code };
  return {
    allowed: false,
    status: denied?.status.code,
    // Gatehouse adds content-type to its own default body; compare the policy's headers.
    headers: options(denied?.headers).filter(([name]) =>
      (expected.headers as string[][]).some(([n]) => n === name),
    ),
    ...(expected.body === undefined ? {} : { body: denied?.body }),
    ...metadata,
  };
}

function headerPairs(value: unknown): string[][] {
  const objects = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return (objects as Array<Record<string, string | string[]>>)
    .flatMap((o) =>
      Object.entries(o).flatMap(([k, v]) =>
        (Array.isArray(v) ? v : [v]).map((x) => [k.toLowerCase(), x]),
      ),
    )
    .sort();
}

function options(list: readonly HeaderValueOptionMessage[] | undefined): string[][] {
  return (list ?? []).map((h) => [h.header.key.toLowerCase(), h.header.value]).sort();
}

const people: Subject = {
  title: 'the opa-envoy-plugin README / standalone tutorial policy (HS256, boolean allow)',
  files: {},
  path: 'envoy/authz/allow',
  cases: (t) => {
    const json = { 'content-type': 'application/json' };
    return [
      { name: 'guest reads /people', path: '/people', headers: bearer(t.hsGuest), allowed: true },
      {
        // glob.match("/people*", ["/"], ...): "*" does not cross the "/" delimiter.
        name: 'guest reads /people/ with a trailing slash (not matched by the glob)',
        path: '/people/',
        headers: bearer(t.hsGuest),
        allowed: false,
      },
      {
        name: 'guest reads with a query string',
        path: '/people?sort=name&page=2',
        headers: bearer(t.hsGuest),
        allowed: true,
      },
      { name: 'no token', path: '/people', allowed: false },
      {
        name: 'expired token',
        path: '/people',
        headers: bearer(t.hsExpired),
        allowed: false,
      },
      {
        name: 'forged token (another secret)',
        path: '/people',
        headers: bearer(t.hsForged),
        allowed: false,
      },
      {
        name: 'guest may not create a person',
        method: 'POST',
        path: '/people',
        headers: { ...bearer(t.hsGuest), ...json },
        body: JSON.stringify({ firstname: 'Alice', lastname: 'Smith' }),
        allowed: false,
      },
      {
        name: 'admin creates a person under their own name (JSON body)',
        method: 'POST',
        path: '/people',
        headers: { ...bearer(t.hsAdmin), ...json },
        body: JSON.stringify({ firstname: 'Bob', lastname: 'Jones' }),
        allowed: true,
      },
      {
        name: 'admin may not create a person under another name',
        method: 'POST',
        path: '/people',
        headers: { ...bearer(t.hsAdmin), ...json },
        body: JSON.stringify({ firstname: 'Mallory' }),
        allowed: false,
      },
      {
        name: 'admin posts to /people/ (trailing slash is another path for glob)',
        method: 'POST',
        path: '/people/',
        headers: { ...bearer(t.hsAdmin), ...json },
        body: JSON.stringify({ firstname: 'Bob' }),
        allowed: false,
      },
      {
        name: 'a truncated JSON body is not parsed',
        method: 'POST',
        path: '/people',
        headers: { ...bearer(t.hsAdmin), ...json, 'x-envoy-auth-partial-body': 'true' },
        body: '{"firstname": "Bob"',
        allowed: false,
      },
      {
        name: 'DELETE is never allowed',
        method: 'DELETE',
        path: '/people/1',
        headers: bearer(t.hsAdmin),
        allowed: false,
      },
    ];
  },
};

const orders: Subject = {
  title: "OPA's Envoy primer policy with additional controls (RS256, object result)",
  files: {},
  path: 'envoy/authz/result',
  cases: (t) => {
    const json = { 'content-type': 'application/json' };
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    return [
      { name: 'reader lists orders', path: '/orders', headers: bearer(t.rsReader), allowed: true },
      {
        name: 'reader lists orders/ (trailing slash)',
        path: '/orders/?debug=1',
        headers: { ...bearer(t.rsReader), 'x-internal-debug': 'on' },
        allowed: true,
      },
      {
        name: 'reader reads an order of their tenant',
        path: '/orders/42?tenant=acme',
        headers: bearer(t.rsReader),
        allowed: true,
      },
      {
        name: 'reader reads an order of another tenant',
        path: '/orders/42?tenant=other',
        headers: bearer(t.rsReader),
        allowed: false,
      },
      {
        name: 'the tenant named twice in the query',
        path: '/orders/42?tenant=acme&tenant=other',
        headers: bearer(t.rsReader),
        allowed: false,
      },
      {
        name: 'encoded characters in path and query',
        path: '/orders/a%20b?tenant=ac%6De&x=1+2',
        headers: bearer(t.rsReader),
        allowed: true,
      },
      { name: 'no token: 401 with a body', path: '/orders', allowed: false },
      {
        name: 'expired token: 401',
        path: '/orders',
        headers: bearer(t.rsExpired),
        allowed: false,
      },
      {
        name: 'forged token (another key, same kid): 401',
        path: '/orders',
        headers: bearer(t.rsForged),
        allowed: false,
      },
      {
        name: 'token for another audience: 401',
        path: '/orders',
        headers: bearer(t.rsOtherAudience),
        allowed: false,
      },
      {
        name: 'reader may not create an order: 403 with metadata',
        method: 'POST',
        path: '/orders',
        headers: { ...bearer(t.rsReader), ...json },
        body: JSON.stringify({ items: 2 }),
        allowed: false,
      },
      {
        name: 'writer creates an order (JSON body)',
        method: 'POST',
        path: '/orders',
        headers: { ...bearer(t.rsWriter), ...json },
        body: JSON.stringify({ items: 2 }),
        allowed: true,
      },
      {
        name: 'writer creates too large an order (JSON body)',
        method: 'POST',
        path: '/orders',
        headers: { ...bearer(t.rsWriter), ...json },
        body: JSON.stringify({ items: 11 }),
        allowed: false,
      },
      {
        name: 'writer creates an order (form body)',
        method: 'POST',
        path: '/orders',
        headers: { ...bearer(t.rsWriter), ...form },
        body: 'items=1&note=hello+world',
        allowed: true,
      },
      {
        name: 'a body shorter than its Content-Length is truncated',
        method: 'POST',
        path: '/orders',
        headers: { ...bearer(t.rsWriter), ...json, 'content-length': '500' },
        body: JSON.stringify({ items: 2 }),
        allowed: false,
      },
      {
        name: 'an internal caller named by context extensions, no token',
        path: '/orders/7',
        contextExtensions: { caller: 'batch' },
        allowed: true,
      },
    ];
  },
};

const bench: Subject = {
  title: 'bench/fixtures/opa-envoy/policy.rego, as is',
  files: {},
  path: 'envoy/authz/allow',
  cases: (t) => [
    {
      name: 'reader gets an order',
      path: '/orders/42',
      headers: bearer(t.rsReader),
      allowed: true,
    },
    {
      name: 'reader gets an order with a trailing slash',
      path: '/orders/42/',
      headers: bearer(t.rsReader),
      allowed: true,
    },
    {
      name: 'reader gets an order with a query string',
      path: '/orders/42?expand=items',
      headers: bearer(t.rsReader),
      allowed: true,
    },
    {
      name: 'reader lists orders (no rule)',
      path: '/orders',
      headers: bearer(t.rsReader),
      allowed: false,
    },
    {
      name: 'writer creates an order',
      method: 'POST',
      path: '/orders',
      headers: { ...bearer(t.rsWriter), 'content-type': 'application/json' },
      body: '{"items":1}',
      allowed: true,
    },
    {
      name: 'reader may not create an order',
      method: 'POST',
      path: '/orders',
      headers: bearer(t.rsReader),
      allowed: false,
    },
    { name: 'expired token', path: '/orders/42', headers: bearer(t.rsExpired), allowed: false },
    { name: 'forged token', path: '/orders/42', headers: bearer(t.rsForged), allowed: false },
    { name: 'no token', path: '/orders/42', allowed: false },
  ],
};

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

let issuer: TestIssuer;
let tokens: Tokens;

beforeAll(async () => {
  issuer = await createTestIssuer();
  const impostor = await createTestIssuer(issuer.issuer, issuer.kid);
  const now = Math.floor(Date.now() / 1000);
  const hs = (claims: Record<string, unknown>, secret = HS_SECRET): Promise<string> =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(new TextEncoder().encode(secret));
  const rs = (claims: Record<string, unknown>): Promise<string> =>
    issuer.sign({ tenant: 'acme', ...claims });
  tokens = {
    hsGuest: await hs({ sub: b64url('alice'), role: 'guest', nbf: now - 60, exp: now + 600 }),
    hsAdmin: await hs({ sub: b64url('bob'), role: 'admin', nbf: now - 60, exp: now + 600 }),
    hsExpired: await hs({ sub: b64url('alice'), role: 'guest', nbf: now - 600, exp: now - 60 }),
    hsForged: await hs(
      { sub: b64url('alice'), role: 'admin', nbf: now - 60, exp: now + 600 },
      'not-the-secret',
    ),
    rsReader: await rs({ sub: 'alice', roles: ['reader'] }),
    rsWriter: await rs({ sub: 'wendy', roles: ['writer'] }),
    rsExpired: await rs({ sub: 'alice', roles: ['reader'], exp: now - 60 }),
    rsForged: await impostor.sign({ sub: 'alice', roles: ['reader', 'writer'], tenant: 'acme' }),
    rsOtherAudience: await rs({ sub: 'alice', roles: ['reader'], aud: 'another-api' }),
  };
  const jwks = JSON.stringify(issuer.jwks);
  people.files['policy.rego'] = await readFile(path.join(FIXTURES, 'people-hs256.rego'), 'utf8');
  people.files['data.json'] = JSON.stringify({ people: { secret: HS_SECRET } });
  orders.files['policy.rego'] = await readFile(path.join(FIXTURES, 'orders-controls.rego'), 'utf8');
  orders.files['data.json'] = JSON.stringify({
    orders: { jwks, issuer: issuer.issuer, audience: TEST_AUDIENCE },
  });
  bench.files['policy.rego'] = await readFile(BENCH_POLICY, 'utf8');
  bench.files['data.json'] = JSON.stringify({
    bench: { jwks, issuer: issuer.issuer, audience: TEST_AUDIENCE },
  });
});

for (const subject of [people, orders, bench]) {
  describe(`OPA-Envoy differential: ${subject.title}`, () => {
    let dir: string;
    let t: TestGatehouse;
    let client: Client;
    let wasm: WasmPolicy;

    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-opa-envoy-'));
      for (const [name, content] of Object.entries(subject.files)) {
        await writeFile(path.join(dir, name), content);
      }
      // No catalog.yaml in the folder: the decision path answers every check.
      t = await startTestGatehouse({
        policySource: dir,
        config: { opaEnvoy: { path: subject.path } },
      });
      client = connect(t.gatehouse.grpcPort ?? 0);
      const opa = await findOpa(undefined);
      const compiled = await compileWasm(
        [{ path: 'policy.rego', content: subject.files['policy.rego'] ?? '' }],
        [subject.path],
        { opa, cacheDir: COMPILE_CACHE, timeoutMs: 120_000 },
      );
      wasm = await WasmPolicy.load(
        compiled.wasm,
        JSON.parse(subject.files['data.json'] ?? '{}'),
        'differential',
      );
    }, 120_000);
    afterAll(async () => {
      client.close();
      await t.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('decides every case as opa eval does, with the same result object', async () => {
      const cases = subject.cases(tokens);
      const allowedSeen = new Set<boolean>();
      for (const c of cases) {
        const message = request(c);
        const answer = await unary(client, protos.authorization.Check, message);
        expect(answer.error, c.name).toBeUndefined();
        const response = answer.response as CheckResponseMessage;

        // The document Gatehouse builds from the bytes it received.
        const built = buildOpaEnvoyInput({
          request: decodeCheckRequest(protos.authorization.Check.requestSerialize(message)),
          api: undefined,
          params: {},
          claims: undefined,
          skipRequestBodyParse: false,
        });
        if (!built.ok) throw new Error(`${c.name}: ${built.reason}`);

        const query = `data.${subject.path.replaceAll('/', '.')}`;
        const reference = await opaEval(subject.files, query, built.document);
        const resultSet = wasm.evaluate(
          subject.path,
          new TextEncoder().encode(JSON.stringify(built.document)),
        ) as Array<{ result: unknown }>;
        expect(resultSet[0]?.result, `${c.name}: result object`).toEqual(reference);

        const expected = expectedResponse(reference);
        expect(expected.allowed, `${c.name}: the policy's intent`).toBe(c.allowed);
        expect(actualResponse(response, expected), c.name).toEqual(expected);
        allowedSeen.add(c.allowed);
      }
      expect([...allowedSeen].sort()).toEqual([false, true]);
    }, 120_000);
  });
}
