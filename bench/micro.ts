/**
 * Micro-benchmarks of the check path's hot functions, beside the load runs of run.ts:
 *
 * - route match (RouteTable.match, and normalizePath + match) with 100, 1,000 and 10,000 APIs
 *   and paths of 2 to 16 segments, interleaved slices: per-call p50/p99, so the growth with
 *   path length and the flatness with catalog size show in one table;
 * - catalog build (parse + route table) for 10,000 APIs: time and the RSS it adds;
 * - token verify: RS256 uncached (verifyJwt every time) and cached (VerifiedTokenCache hit);
 * - token verify per algorithm, jose (WebCrypto) against the node:crypto fast path, uncached,
 *   and the cache hit against the former SHA-256 cache key: interleaved blocks in this one
 *   process, CPU time of all threads (process.cpuUsage) per call, so ratios survive a loaded
 *   machine;
 * - WASM evaluate: the bench policy on a realistic input document (encode included);
 * - CheckRequest decode (decodeCheckRequest; proto-loader + the old mapper beside it) and
 *   CheckResponse encode;
 * - CheckResponse encode (encodeCheckResponse against the old mapper + proto-loader) and one
 *   check's metric updates (the tallies against prom-client on every call): interleaved
 *   blocks, CPU per call, old / new.
 *
 *   node --import tsx bench/micro.ts            (prints a markdown table)
 *   BENCH_MICRO_ROUTES_ONLY=1 node --import tsx bench/micro.ts   (route match + catalog build)
 *   BENCH_MICRO_JSON=path node --import tsx bench/micro.ts   (also writes the figures)
 *
 * Single-threaded and sequential: figures are per call on one core, hrtime around each call
 * (the timer's own ~0.05 us is included).
 */
import { constants, createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JSONWebKeySet } from 'jose';
import { buildIssuerKeys } from '../src/auth/issuer-keys.js';
import { verifyJwt, type VerifyRequirements } from '../src/auth/jwt-verifier.js';
import { VerifiedTokenCache } from '../src/auth/verified-token-cache.js';
import { buildPolicyInput } from '../src/check/policy-input.js';
import { configSchema } from '../src/config/schema.js';
import { compileWasm } from '../src/policy/compile-wasm.js';
import { findOpa } from '../src/policy/opa-binary.js';
import { WasmPolicy } from '../src/policy/wasm-policy.js';
import { entrypointFor, parseCatalog, type ApiDefinition } from '../src/routes/catalog.js';
import { normalizeHost } from '../src/routes/normalize-authority.js';
import { normalizePath, parseQuery } from '../src/routes/normalize-path.js';
import { RouteTable } from '../src/routes/route-table.js';
import { decodeCheckRequest } from '../src/transport/grpc/check-request-decoder.js';
import { encodeCheckResponse } from '../src/transport/grpc/check-response-encoder.js';
import { DEFAULT_IDENTITY_HEADERS } from '../src/config/identity-headers.js';
import { METHOD_OVERRIDE_HEADERS } from '../src/check/method-override.js';
import { deny, type Decision } from '../src/decision/decision.js';
import { Metrics } from '../src/observability/metrics.js';
import { PromClientCheckMetrics } from '../test/observability/prom-client-metrics.js';
import { decisionToCheckResponse } from '../test/transport/grpc/proto-loader-check-response.js';
import { loadProtos } from '../src/transport/grpc/load-protos.js';
import { protoLoaderCheckInput } from '../test/transport/grpc/proto-loader-check-input.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Row {
  readonly name: string;
  readonly calls: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly meanUs: number;
}
const rows: Row[] = [];

/** Times `fn` per call after a warm-up; returns and records p50/p99/mean in microseconds. */
async function time(
  name: string,
  calls: number,
  fn: (i: number) => unknown,
  asyncFn = false,
): Promise<Row> {
  for (let i = 0; i < Math.min(calls, 2000); i++) {
    if (asyncFn) await fn(i);
    else fn(i);
  }
  const samples = new Float64Array(calls);
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    if (asyncFn) await fn(i);
    else fn(i);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const total = Number(process.hrtime.bigint() - started) / 1000;
  samples.sort();
  const at = (q: number): number => samples[Math.floor(q * (calls - 1))] ?? 0;
  const row = { name, calls, p50Us: at(0.5), p99Us: at(0.99), meanUs: total / calls };
  rows.push(row);
  return row;
}

// ---- route match ---------------------------------------------------------------------------

/**
 * A catalog of `apis` APIs in services of 10, each API a distinct template of `depth`
 * segments: /s{service}/v1/r{api}/{id}/... (literals and parameters alternating).
 */
function catalogText(apis: number, depth: number): string {
  const lines = ['services:'];
  for (let s = 0; s < apis / 10; s++) {
    lines.push(`  - name: svc${s}`, '    apis:');
    for (let a = 0; a < 10; a++) {
      lines.push(
        `      - id: svc${s}.api${a}`,
        '        method: GET',
        `        path: ${template(s, a, depth)}`,
      );
    }
  }
  return lines.join('\n');
}
function template(s: number, a: number, depth: number): string {
  const segments = [`s${s}`, `r${a}`];
  for (let i = 2; i < depth; i++) segments.push(i % 2 === 0 ? `{p${i}}` : `x${i}`);
  return `/${segments.join('/')}`;
}
function requestPath(s: number, a: number, depth: number): string {
  const segments = [`s${s}`, `r${a}`];
  for (let i = 2; i < depth; i++) segments.push(i % 2 === 0 ? `v${i}` : `x${i}`);
  return `/${segments.join('/')}`;
}

const host = (() => {
  const normalized = normalizeHost('api.example.com');
  if (!normalized.ok) throw new Error('host');
  return normalized.host;
})();

function routeTable(apis: number, depth: number): RouteTable<ApiDefinition> {
  const catalog = parseCatalog(catalogText(apis, depth));
  return RouteTable.build(
    catalog.apis.map((api) => ({
      methods: api.methods,
      template: api.pathTemplate,
      hosts: api.hosts,
      value: api,
    })),
  );
}

/**
 * Route match at 100 / 1,000 / 10,000 APIs and 2 / 4 / 8 / 16 segments, all twelve tables in
 * this one process, measured in interleaved slices: every round visits the tables in a new
 * random order, BENCH_MICRO_ROUTE_SLICE (2,000) calls each, paths spread over every API of the
 * table. So load swings hit every case alike, and each slice starts with caches full of
 * another table, as a lookup does in a server between two checks. Per call: RouteTable.match
 * on normalized segments, and normalizePath + match as the check path runs them.
 */
function routeBenchmarks(): string[] {
  const rounds = Number(process.env.BENCH_MICRO_ROUTE_ROUNDS ?? 30);
  const slice = Number(process.env.BENCH_MICRO_ROUTE_SLICE ?? 2000);
  const cases = [100, 1000, 10_000].flatMap((apis) =>
    [2, 4, 8, 16].map((depth) => {
      const services = apis / 10;
      const paths = Array.from({ length: 8192 }, (_, i) =>
        requestPath((i * 7919) % services, (i * 31) % 10, depth),
      );
      return {
        apis,
        depth,
        table: routeTable(apis, depth),
        paths,
        segments: paths.map((p) => {
          const normalized = normalizePath(p);
          if (!normalized.ok) throw new Error(normalized.reason);
          return normalized.segments;
        }),
        match: [] as number[],
        both: [] as number[],
      };
    }),
  );
  const timer: number[] = [];
  let next = 0;
  for (let round = 0; round <= rounds; round++) {
    const order = cases.map((c) => ({ c, key: Math.random() })).sort((a, b) => a.key - b.key);
    for (const { c } of order) {
      for (let i = 0; i < slice; i++) {
        const k = next++ & 8191;
        let t0 = process.hrtime.bigint();
        const found = c.table.match(host, 'GET', c.segments[k] ?? []);
        let t1 = process.hrtime.bigint();
        if (found === undefined) throw new Error('no route');
        // Round 0 is the warm-up.
        if (round > 0) c.match.push(Number(t1 - t0) / 1000);
        const other = (k + 4099) & 8191;
        t0 = process.hrtime.bigint();
        const normalized = normalizePath(c.paths[other] ?? '/');
        if (!normalized.ok || c.table.match(host, 'GET', normalized.segments) === undefined) {
          throw new Error('no route');
        }
        t1 = process.hrtime.bigint();
        if (round > 0) c.both.push(Number(t1 - t0) / 1000);
        if (round > 0 && i % 16 === 0) {
          const e0 = process.hrtime.bigint();
          timer.push(Number(process.hrtime.bigint() - e0) / 1000);
        }
      }
    }
  }
  const q = (values: number[], at: number): number => {
    const sorted = Float64Array.from(values).sort();
    return sorted[Math.floor(at * (sorted.length - 1))] ?? 0;
  };
  const lines = [
    `Interleaved: ${rounds} rounds x ${slice} calls per table (${rounds * slice} samples per cell), load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; the timer alone: p50 ${q(timer, 0.5).toFixed(2)} us, included below.`,
    '',
    '| APIs | path segments | match p50 us | match p99 us | normalizePath + match p50 us | normalizePath + match p99 us |',
    '|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of cases) {
    const row = {
      name: `route match, ${c.apis} APIs, ${c.depth} segments`,
      calls: c.match.length,
      p50Us: q(c.match, 0.5),
      p99Us: q(c.match, 0.99),
      meanUs: c.match.reduce((a, b) => a + b, 0) / c.match.length,
    };
    rows.push(row);
    lines.push(
      `| ${c.apis} | ${c.depth} | ${row.p50Us.toFixed(2)} | ${row.p99Us.toFixed(2)} | ${q(c.both, 0.5).toFixed(2)} | ${q(c.both, 0.99).toFixed(2)} |`,
    );
  }
  return lines;
}

function catalogBuild(): string[] {
  const text = catalogText(10_000, 4);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const t0 = process.hrtime.bigint();
  const table = routeTable(10_000, 4);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  global.gc?.();
  const rssAfter = process.memoryUsage().rss;
  if (table.size !== 10_000) throw new Error('table size');
  return [
    `- catalog of 10,000 APIs (${(text.length / 1024).toFixed(0)} KiB of YAML): parse + route table in ${ms.toFixed(0)} ms; RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, ${(rssAfter / 2 ** 20).toFixed(0)} MiB with the catalog and its table (a fresh process${global.gc === undefined ? ', without --expose-gc' : ''}).`,
  ];
}

// ---- tokens ----------------------------------------------------------------------------------

const ISSUER = 'https://micro.gatehouse.local';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwks: JSONWebKeySet = {
  keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }],
};
const b64u = (data: string | Buffer): string => Buffer.from(data).toString('base64url');
function rs256(claims: Record<string, unknown>): string {
  const input = `${b64u(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'k1' }))}.${b64u(JSON.stringify(claims))}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}
const nowS = Math.floor(Date.now() / 1000);
const token = rs256({
  iss: ISSUER,
  aud: 'micro',
  sub: 'alice',
  iat: nowS - 60,
  exp: nowS + 3600,
  roles: ['reader'],
});

async function tokenBenchmarks(): Promise<void> {
  const config = configSchema.parse({
    issuers: [{ issuer: ISSUER, audiences: ['micro'], algorithms: ['RS256'], jwksFile: '/x' }],
  });
  const issuerConfig = config.issuers[0];
  if (issuerConfig === undefined) throw new Error('issuer');
  const keys = buildIssuerKeys(issuerConfig, jwks, undefined);
  const issuers = new Map([[ISSUER, keys]]);
  const requirements: VerifyRequirements = {
    issuers: undefined,
    audiences: undefined,
    maxTokenBytes: 8192,
    defaultClockSkewS: 30,
  };
  await time(
    'token verify, RS256 uncached (verifyJwt)',
    5000,
    async () => {
      const result = await verifyJwt(token, issuers, requirements);
      if (!result.ok) throw new Error(result.reason);
    },
    true,
  );
  const cache = new VerifiedTokenCache({ maxEntries: 10_000, maxTtlS: 300 });
  const first = await verifyJwt(token, issuers, requirements);
  if (!first.ok) throw new Error(first.reason);
  // The key the authenticator uses: what was required of the token (issuers, audiences).
  const requirementsKey = '*\0*';
  cache.set(token, requirementsKey, first, 30);
  await time('token verify, cached (VerifiedTokenCache hit)', 100_000, () => {
    if (cache.get(token, requirementsKey) === undefined) throw new Error('miss');
  });
}

// ---- token verify per algorithm: jose vs the node:crypto fast path -----------------------------

const VERIFY_ALGS = ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

interface VerifyRow {
  readonly alg: string;
  readonly joseCpuUs: number;
  readonly fastCpuUs: number;
  readonly joseP50Us: number;
  readonly fastP50Us: number;
  readonly oldKeyHitCpuUs: number;
  readonly newKeyHitCpuUs: number;
}
const verifyRows: VerifyRow[] = [];

/** A token of `alg`, signed with node:crypto (R || S for ECDSA, RFC 7518 section 3.4). */
function signed(alg: string, key: KeyObject, kid: string): string {
  const claims = { iss: ISSUER, aud: 'micro', sub: 'alice', iat: nowS - 60, exp: nowS + 3600 };
  const input = `${b64u(JSON.stringify({ alg, typ: 'JWT', kid }))}.${b64u(JSON.stringify(claims))}`;
  const data = Buffer.from(input);
  const hash = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
  const signature = alg.startsWith('PS')
    ? sign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
    : alg.startsWith('ES')
      ? sign(hash, data, { key, dsaEncoding: 'ieee-p1363' })
      : sign(hash, data, key);
  return `${input}.${signature.toString('base64url')}`;
}

/** CPU microseconds (user + system, every thread) per call of `fn`, and the p50 wall time. */
async function cpuPerCall(
  calls: number,
  fn: () => unknown,
): Promise<{ cpuUs: number; walls: number[] }> {
  const walls: number[] = [];
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    walls.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  const used = process.cpuUsage(before);
  return { cpuUs: (used.user + used.system) / calls, walls };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
};

async function verifyPathBenchmarks(): Promise<void> {
  const pairs: Record<string, { privateKey: KeyObject; publicKey: KeyObject }> = {
    RS256: { privateKey, publicKey },
    PS256: { privateKey, publicKey },
    ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    ES384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
    ES512: generateKeyPairSync('ec', { namedCurve: 'P-521' }),
    EdDSA: generateKeyPairSync('ed25519'),
  };
  const keySet: JSONWebKeySet = {
    keys: VERIFY_ALGS.map((alg) => ({
      ...(pairs[alg]?.publicKey.export({ format: 'jwk' }) ?? {}),
      kid: `k-${alg}`,
      alg,
      use: 'sig',
    })),
  };
  const config = configSchema.parse({
    issuers: [
      { issuer: ISSUER, audiences: ['micro'], algorithms: [...VERIFY_ALGS], jwksFile: '/x' },
    ],
  });
  const issuerConfig = config.issuers[0];
  if (issuerConfig === undefined) throw new Error('issuer');
  const keys = buildIssuerKeys(issuerConfig, keySet, undefined);
  const fast = new Map([[ISSUER, keys]]);
  // The same keys without the fast path: what verifyJwt did before (jose's jwtVerify).
  const jose = new Map([[ISSUER, { ...keys, fastKeys: undefined }]]);
  const requirements: VerifyRequirements = {
    issuers: undefined,
    audiences: undefined,
    maxTokenBytes: 8192,
    defaultClockSkewS: 30,
  };
  const rounds = Number(process.env.BENCH_MICRO_VERIFY_ROUNDS ?? 6);
  const block = Number(process.env.BENCH_MICRO_VERIFY_BLOCK ?? 400);
  for (const alg of VERIFY_ALGS) {
    const pair = pairs[alg];
    if (pair === undefined) throw new Error(alg);
    const jwt = signed(alg, pair.privateKey, `k-${alg}`);
    const verifyWith = (issuers: typeof fast) => async () => {
      const result = await verifyJwt(jwt, issuers, requirements);
      if (!result.ok) throw new Error(`${alg}: ${result.reason}`);
    };
    // Cached: the hit as it is now, and as it was (SHA-256 of requirements + token, then a
    // lookup by the digest).
    const cache = new VerifiedTokenCache({ maxEntries: 10_000, maxTtlS: 300 });
    const first = await verifyJwt(jwt, fast, requirements);
    if (!first.ok) throw new Error(first.reason);
    cache.set(jwt, '*\0*', first, 30);
    const oldKeys = new Map<string, unknown>([
      [createHash('sha256').update('*\0*').update('\0').update(jwt).digest('base64url'), first],
    ]);
    const hitNew = () => {
      if (cache.get(jwt, '*\0*') === undefined) throw new Error('miss');
    };
    const hitOld = () => {
      const digest = createHash('sha256')
        .update('*\0*')
        .update('\0')
        .update(jwt)
        .digest('base64url');
      if (!oldKeys.has(digest)) throw new Error('miss');
    };
    await cpuPerCall(200, verifyWith(jose)); // warm-up of both paths
    await cpuPerCall(200, verifyWith(fast));
    const sums = { jose: 0, fast: 0, oldHit: 0, newHit: 0 };
    const walls = { jose: [] as number[], fast: [] as number[] };
    // Interleaved blocks, alternating which path goes first, so load swings hit both alike.
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['jose', 'fast'] as const) : (['fast', 'jose'] as const);
      for (const which of order) {
        const measured = await cpuPerCall(block, verifyWith(which === 'jose' ? jose : fast));
        sums[which] += measured.cpuUs;
        walls[which].push(...measured.walls);
      }
      sums.oldHit += (await cpuPerCall(block * 10, hitOld)).cpuUs;
      sums.newHit += (await cpuPerCall(block * 10, hitNew)).cpuUs;
    }
    verifyRows.push({
      alg,
      joseCpuUs: sums.jose / rounds,
      fastCpuUs: sums.fast / rounds,
      joseP50Us: median(walls.jose),
      fastP50Us: median(walls.fast),
      oldKeyHitCpuUs: sums.oldHit / rounds,
      newKeyHitCpuUs: sums.newHit / rounds,
    });
  }
}

function verifyLines(): string[] {
  return [
    '| alg | jose CPU us | fast path CPU us | jose / fast | jose p50 wall us | fast p50 wall us | hit, SHA-256 key CPU us | hit, token key CPU us | old / new |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...verifyRows.map(
      (r) =>
        `| ${r.alg} | ${r.joseCpuUs.toFixed(1)} | ${r.fastCpuUs.toFixed(1)} | ${(r.joseCpuUs / r.fastCpuUs).toFixed(2)} | ${r.joseP50Us.toFixed(1)} | ${r.fastP50Us.toFixed(1)} | ${r.oldKeyHitCpuUs.toFixed(2)} | ${r.newKeyHitCpuUs.toFixed(2)} | ${(r.oldKeyHitCpuUs / r.newKeyHitCpuUs).toFixed(2)} |`,
    ),
  ];
}

// ---- WASM and the gRPC codec -----------------------------------------------------------------

const checkRequest = {
  attributes: {
    source: { address: { socket_address: { address: '10.0.0.1', port_value: 40000 } } },
    destination: { address: { socket_address: { address: '10.0.0.2', port_value: 8080 } } },
    request: {
      http: {
        id: 'bench-1',
        method: 'GET',
        path: '/orders/42?expand=items',
        host: 'api.example.com',
        scheme: 'https',
        protocol: 'HTTP/1.1',
        headers: {
          ':authority': 'api.example.com',
          ':method': 'GET',
          ':path': '/orders/42?expand=items',
          ':scheme': 'https',
          'user-agent': 'bench',
          accept: 'application/json',
          'x-request-id': 'bench-1',
          authorization: `Bearer ${token}`,
        },
      },
    },
  },
};

async function wasmAndCodecBenchmarks(): Promise<void> {
  const opa = await findOpa(process.env.OPA_BIN);
  const dir = path.join(root, 'bench/fixtures/gatehouse');
  const regoFiles = ['bench.rego', 'bench-write.rego'].map((name) => ({
    path: name,
    content: readFileSync(path.join(dir, name), 'utf8'),
  }));
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-micro-'));
  try {
    const entrypoint = entrypointFor('bench.read');
    const wasm = await compileWasm(regoFiles, [entrypoint, entrypointFor('bench.write')], {
      opa,
      cacheDir,
      timeoutMs: 60_000,
    });
    const policy = await WasmPolicy.load(wasm.wasm, {}, 'micro');
    const protos = loadProtos();
    const bytes = protos.authorization.Check.requestSerialize(checkRequest);
    const input = decodeCheckRequest(bytes);
    const normalized = normalizePath(input.path);
    if (!normalized.ok) throw new Error('path');
    const catalog = parseCatalog(readFileSync(path.join(dir, 'catalog.yaml'), 'utf8'));
    const api = catalog.apis[0];
    const documentFor = (): Record<string, unknown> =>
      buildPolicyInput({
        request: input,
        segments: normalized.segments,
        query: parseQuery(normalized.query),
        api,
        params: { id: '42' },
        claims: { iss: ISSUER, sub: 'alice', roles: ['reader'], exp: nowS + 3600 },
      });
    const encoder = new TextEncoder();
    await time('policy input: build + JSON encode', 100_000, () =>
      encoder.encode(JSON.stringify(documentFor())),
    );
    const encoded = encoder.encode(JSON.stringify(documentFor()));
    await time('WASM evaluate, one level (bench.read)', 50_000, () => {
      const result = policy.evaluate(entrypoint, encoded);
      if (!Array.isArray(result)) throw new Error('result');
    });
    await time('CheckRequest decode (proto-loader)', 100_000, () =>
      protos.authorization.Check.requestDeserialize(bytes),
    );
    await time('CheckRequest decode -> CheckInput (old: proto-loader + mapper)', 100_000, () =>
      protoLoaderCheckInput(bytes),
    );
    await time('CheckRequest decode -> CheckInput (decodeCheckRequest)', 100_000, () =>
      decodeCheckRequest(bytes),
    );
    const response = decisionToCheckResponse({
      allowed: true,
      code: 'GH_OK',
      api: undefined,
      upstreamHeaders: [['x-user', 'alice']],
      upstreamHeadersToRemove: ['x-user', 'x-gatehouse-subject'],
      responseHeaders: [],
      revision: 'micro',
    });
    await time('CheckResponse encode (allow, one header)', 100_000, () =>
      protos.authorization.Check.responseSerialize(response),
    );
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

// ---- CheckResponse encoder and per-check metrics: old against new -----------------------------

/** CPU per call of a synchronous function over `calls` calls (process.cpuUsage, all threads). */
function syncCpuPerCall(calls: number, fn: () => unknown): number {
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}

/**
 * Each pair (old, new) in interleaved blocks, alternating which goes first, so that load
 * swings on a shared machine hit both alike; returns `| case | old | new | old / new |` rows.
 */
function interleaved(
  cases: ReadonlyArray<readonly [name: string, old: () => unknown, fresh: () => unknown]>,
): string[] {
  const rounds = Number(process.env.BENCH_MICRO_AB_ROUNDS ?? 10);
  const block = Number(process.env.BENCH_MICRO_AB_BLOCK ?? 20_000);
  return cases.map(([name, old, fresh]) => {
    syncCpuPerCall(block, old); // warm-up of both
    syncCpuPerCall(block, fresh);
    let oldUs = 0;
    let newUs = 0;
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        oldUs += syncCpuPerCall(block, old);
        newUs += syncCpuPerCall(block, fresh);
      } else {
        newUs += syncCpuPerCall(block, fresh);
        oldUs += syncCpuPerCall(block, old);
      }
    }
    return `| ${name} | ${(oldUs / rounds).toFixed(3)} | ${(newUs / rounds).toFixed(3)} | ${(oldUs / newUs).toFixed(2)} |`;
  });
}

function encoderAndMetricsBenchmarks(): string[] {
  const { Check } = loadProtos().authorization;
  const allow = (extra: Partial<Decision>): Decision =>
    ({
      allowed: true,
      code: 'GH_OK',
      api: { id: 'orders.get', service: 'orders' },
      upstreamHeaders: [],
      upstreamHeadersToRemove: [],
      responseHeaders: [],
      revision: 'micro',
      ...extra,
    }) as Decision;
  const decisions: ReadonlyArray<readonly [string, Decision]> = [
    ['allow, no header changes', allow({})],
    [
      'allow, 2 claim headers + 4 removals',
      allow({
        upstreamHeaders: [
          ['x-user-sub', 'alice'],
          ['x-user-roles', 'reader'],
        ],
        upstreamHeadersToRemove: ['x-user-sub', 'x-user-roles', 'x-gatehouse-subject', 'x-tenant'],
      }),
    ],
    [
      // What the example catalog's cached allow carries: the default identity headers and
      // the method override headers, less the one claim header set.
      'allow, 1 claim header + the 35 default identity/override removals (the real pipeline allow)',
      allow({
        upstreamHeaders: [['x-user-sub', 'alice']],
        upstreamHeadersToRemove: [...DEFAULT_IDENTITY_HEADERS, ...METHOD_OVERRIDE_HEADERS].filter(
          (name) => name !== 'x-user-sub',
        ),
      }),
    ],
    [
      'allow with dynamic_metadata (5 members, nested)',
      allow({
        upstreamHeaders: [['x-user-sub', 'alice']],
        dynamicMetadata: {
          sub: 'alice',
          roles: ['reader', 'writer'],
          n: 3,
          ok: true,
          ctx: { a: null },
        },
      }),
    ],
    ['deny 401 (challenge, JSON body)', deny('GH_ERR_TOKEN_EXPIRED', 'exp', { realm: 'shop' })],
  ];
  const encoderRows = interleaved(
    decisions.map(
      ([name, decision]) =>
        [
          name,
          () => Check.responseSerialize(decisionToCheckResponse(decision)),
          () => encodeCheckResponse(decision),
        ] as const,
    ),
  );
  // One cached allow's metric updates, as the pipeline and its observer make them.
  const oneCheck = (metrics: Metrics | PromClientCheckMetrics) => () => {
    metrics.tokenCacheLookups.inc({ result: 'hit' });
    metrics.checkPhaseDuration.observe({ phase: 'route' }, 0.000004);
    metrics.checkPhaseDuration.observe({ phase: 'auth' }, 0.000011);
    metrics.checkPhaseDuration.observe({ phase: 'evaluate' }, 0.000031);
    metrics.checkDuration.observe({ transport: 'grpc' }, 0.000062);
    metrics.decisions.inc({ transport: 'grpc', code: 'GH_OK', api: 'orders.get' });
  };
  const metricRows = interleaved([
    [
      'per-check metric updates (1 token lookup, 3 phases, 1 duration, 1 decision)',
      oneCheck(new PromClientCheckMetrics()),
      oneCheck(new Metrics()),
    ],
  ]);
  return [
    '| case | old CPU us | new CPU us | old / new |',
    '|---|---:|---:|---:|',
    ...encoderRows.map((row) => row.replace('| ', '| CheckResponse encode: ')),
    ...metricRows,
  ];
}

// ---- main ------------------------------------------------------------------------------------

// The catalog build first, so its RSS figure is not mixed with the route tables' below.
const buildLines = catalogBuild();
const routeLines = routeBenchmarks();
// BENCH_MICRO_ROUTES_ONLY=1: the route match and catalog build figures alone (a minute).
let encoderLines: string[] = [];
if (process.env.BENCH_MICRO_ROUTES_ONLY !== '1') {
  await tokenBenchmarks();
  await verifyPathBenchmarks();
  await wasmAndCodecBenchmarks();
  encoderLines = encoderAndMetricsBenchmarks();
}

const out = [
  `Micro-benchmarks (bench/micro.ts), Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at the end`,
  '',
  '### Route match (RouteTable.match; normalizePath + match)',
  '',
  ...routeLines,
  '',
  ...buildLines,
  '',
  '### Token verify: jose (WebCrypto) vs the node:crypto fast path, interleaved, CPU per call',
  '',
  ...verifyLines(),
  '',
  '### CheckResponse encoder and per-check metrics: old (proto-loader; prom-client on every call) vs new, interleaved, CPU per call',
  '',
  ...encoderLines,
  '',
  '### Hot functions',
  '',
  '| function | calls | p50 us | p99 us | mean us |',
  '|---|---:|---:|---:|---:|',
  ...rows
    .filter((r) => !r.name.startsWith('route match'))
    .map(
      (r) =>
        `| ${r.name} | ${r.calls} | ${r.p50Us.toFixed(2)} | ${r.p99Us.toFixed(2)} | ${r.meanUs.toFixed(2)} |`,
    ),
];
console.log(out.join('\n'));
if (process.env.BENCH_MICRO_JSON) {
  writeFileSync(
    process.env.BENCH_MICRO_JSON,
    JSON.stringify({ rows, verifyRows, build: buildLines }, null, 2),
  );
}
