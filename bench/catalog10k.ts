/**
 * A catalog of 10,000 APIs (issue 10): how long its snapshot takes to build, step by step and
 * through the real sync path, and how much memory a real Gatehouse serving it holds.
 *
 * 1. In this process, BENCH_CATALOG_ROUNDS (3) rounds, the median of each step: parseCatalog
 *    (YAML parse, zod validation, resolution), RouteTable.build, readPolicyFolder (what the
 *    folder source does on every change) and buildSnapshot on what it read (the whole build;
 *    the policy compiles once, later rounds load it from the on-disk compile cache).
 * 2. Gatehouse from dist/main.js, as users start it, on that folder: the time from spawn to
 *    /readyz, RSS when ready, then BENCH_CATALOG_CHECKS (20,000) HTTP /v1/check calls at c=16,
 *    their paths spread over every API, each allowed or denied as expected, and RSS and peak
 *    RSS (VmHWM) after them, with the V8 heap from /metrics.
 *
 *   npm run build && node --import tsx bench/catalog10k.ts
 *   BENCH_CATALOG_APIS (10000), BENCH_CATALOG_JSON=path (also writes the figures)
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findOpa } from '../src/policy/opa-binary.js';
import { parseCatalog, type ApiDefinition } from '../src/routes/catalog.js';
import { RouteTable } from '../src/routes/route-table.js';
import { buildSnapshot } from '../src/snapshot/build-snapshot.js';
import type { Snapshot } from '../src/snapshot/snapshot.js';
import { readPolicyFolder } from '../src/sync/folder/read-policy-folder.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const APIS = Number(env.BENCH_CATALOG_APIS ?? 10_000);
const ROUNDS = Number(env.BENCH_CATALOG_ROUNDS ?? 3);
const CHECKS = Number(env.BENCH_CATALOG_CHECKS ?? 20_000);
const CONCURRENCY = 16;
const ISSUER = 'https://catalog10k.gatehouse.local';
const AUDIENCE = 'catalog10k';

/**
 * Services of 10 APIs, one host each for half of them (the others any-host), templates of 2
 * to 6 segments mixing literals and parameters, as an API estate of 1,000 services would:
 * `/svc{s}/v1/items{a}/{id}`, `/svc{s}/v1/items{a}/{id}/parts/{part}`, ...
 */
export function catalogText(apis: number): string {
  const lines = ['services:'];
  for (let s = 0; s < apis / 10; s++) {
    lines.push(`  - name: svc${s}`);
    if (s % 2 === 0) lines.push(`    hosts: [svc${s}.example.com]`);
    lines.push('    policy: catalog10k.read', '    apis:');
    for (let a = 0; a < 10; a++) {
      lines.push(
        `      - id: svc${s}.api${a}`,
        `        method: ${a % 3 === 0 ? 'POST' : 'GET'}`,
        `        path: ${templateOf(s, a)}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
function templateOf(s: number, a: number): string {
  const tail = ['', '/{id}', '/{id}/parts', '/{id}/parts/{part}', '/{id}/parts/{part}/history'];
  return `/svc${s}/v1/items${a}${tail[a % tail.length] ?? ''}`;
}
function requestOf(s: number, a: number): { method: string; path: string; host: string } {
  return {
    method: a % 3 === 0 ? 'POST' : 'GET',
    path: templateOf(s, a)
      .replaceAll('{id}', `${s * 7 + a}`)
      .replaceAll('{part}', 'p1'),
    host: s % 2 === 0 ? `svc${s}.example.com` : 'api.example.com',
  };
}

const REGO = `package catalog10k.read

default allow := false

allow if "reader" in input.token.roles
`;

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? 0;
const msSince = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

async function metric(port: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

const work = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-catalog10k-'));
const policies = path.join(work, 'policies');
mkdirSync(policies);
const text = catalogText(APIS);
writeFileSync(path.join(policies, 'catalog.yaml'), text);
writeFileSync(path.join(policies, 'read.rego'), REGO);
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
writeFileSync(
  path.join(work, 'jwks.json'),
  JSON.stringify({
    keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }],
  }),
);
const b64u = (data: string): string => Buffer.from(data).toString('base64url');
function jwt(roles: string[]): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64u(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'k1' }))}.${b64u(
    JSON.stringify({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'alice',
      iat: now - 60,
      exp: now + 3600,
      roles,
    }),
  )}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

async function inProcess(): Promise<Record<string, number>> {
  const opa = await findOpa(env.OPA_BIN ?? path.join(root, '.tools/bin/opa'));
  const steps: Record<string, number[]> = { parse: [], routes: [], read: [], snapshot: [] };
  let previous: Snapshot | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    let t0 = process.hrtime.bigint();
    const catalog = parseCatalog(text);
    steps.parse?.push(msSince(t0));
    t0 = process.hrtime.bigint();
    const table = RouteTable.build<ApiDefinition>(
      catalog.apis.map((api) => ({
        methods: api.methods,
        template: api.pathTemplate,
        hosts: api.hosts,
        value: api,
      })),
    );
    steps.routes?.push(msSince(t0));
    if (table.size !== APIS) throw new Error(`route table of ${table.size}`);
    t0 = process.hrtime.bigint();
    const read = await readPolicyFolder(policies, 'catalog.yaml');
    steps.read?.push(msSince(t0));
    t0 = process.hrtime.bigint();
    // Never the previous snapshot: it would reuse the parsed catalog and its table.
    const built = await buildSnapshot(
      read.inputs,
      [],
      { opa, cacheDir: path.join(work, 'wasm-cache'), timeoutMs: 120_000 },
      undefined,
    );
    steps.snapshot?.push(msSince(t0));
    previous = built.snapshot;
  }
  if (previous?.routes.size !== APIS) throw new Error('snapshot routes');
  return Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, median(v)]));
}

async function served(): Promise<Record<string, number>> {
  const [grpcPort, httpPort, probesPort] = [await freePort(), await freePort(), await freePort()];
  const configFile = path.join(work, 'gatehouse.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      realm: 'catalog10k',
      log: { level: 'warn' },
      grpc: { host: '127.0.0.1', port: grpcPort },
      http: { host: '127.0.0.1', port: httpPort },
      probes: { host: '127.0.0.1', port: probesPort },
      policies: { dir: policies, watch: false, compileCacheDir: path.join(work, 'wasm-cache') },
      persistence: { dir: path.join(work, 'state') },
      issuers: [
        {
          issuer: ISSUER,
          audiences: [AUDIENCE],
          algorithms: ['RS256'],
          jwksFile: path.join(work, 'jwks.json'),
        },
      ],
    }),
  );
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [path.join(root, 'dist/main.js'), '--config', configFile], {
    env: { ...env, OPA_BIN: env.OPA_BIN ?? path.join(root, '.tools/bin/opa') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const pid = child.pid ?? 0;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`gatehouse exited with ${child.exitCode}`);
      const ready = await fetch(`http://127.0.0.1:${probesPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const readyMs = msSince(started);
    const rssReady = statusKiB(pid, 'VmRSS');
    const reader = `Bearer ${jwt(['reader'])}`;
    const nobody = `Bearer ${jwt(['nobody'])}`;
    let next = 0;
    let wrong = 0;
    const services = APIS / 10;
    const one = async (): Promise<void> => {
      for (let i = next++; i < CHECKS; i = next++) {
        const s = (i * 7919) % services;
        const request = requestOf(s, i % 10);
        const allow = i % 5 !== 0;
        const response = await fetch(`http://127.0.0.1:${httpPort}/v1/check`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            ...request,
            headers: { authorization: allow ? reader : nobody },
          }),
        });
        const decision = (await response.json()) as { allowed: boolean; api?: { id?: string } };
        if (decision.allowed !== allow || decision.api?.id !== `svc${s}.api${i % 10}`) wrong++;
      }
    };
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: CONCURRENCY }, one));
    const loadMs = msSince(t0);
    if (wrong > 0) throw new Error(`${wrong} of ${CHECKS} checks decided otherwise than expected`);
    return {
      readyMs,
      rssReadyMiB: rssReady / 1024,
      rssAfterMiB: statusKiB(pid, 'VmRSS') / 1024,
      peakRssMiB: statusKiB(pid, 'VmHWM') / 1024,
      heapUsedMiB: ((await metric(httpPort, 'nodejs_heap_size_used_bytes')) ?? 0) / 2 ** 20,
      checksPerS: CHECKS / (loadMs / 1000),
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

try {
  const steps = await inProcess();
  const server = await served();
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const out = [
    `Catalog of ${APIS} APIs (bench/catalog10k.ts), ${(text.length / 1024).toFixed(0)} KiB of YAML, Node ${process.version}, load average ${load} at the end`,
    '',
    '| step | ms (median of ' + String(ROUNDS) + ') |',
    '|---|---:|',
    `| parseCatalog (YAML, validation, resolution) | ${steps.parse?.toFixed(0)} |`,
    `| RouteTable.build | ${steps.routes?.toFixed(0)} |`,
    `| readPolicyFolder (the folder source's read) | ${steps.read?.toFixed(0)} |`,
    `| buildSnapshot on it (catalog, routes, policy from the compile cache) | ${steps.snapshot?.toFixed(0)} |`,
    '',
    `Gatehouse from dist/main.js on this folder: ready in ${server.readyMs?.toFixed(0)} ms (spawn to /readyz, first compile included); RSS ${server.rssReadyMiB?.toFixed(0)} MiB when ready, ${server.rssAfterMiB?.toFixed(0)} MiB after ${CHECKS} HTTP /v1/check calls at c=${CONCURRENCY} over every API (${server.checksPerS?.toFixed(0)}/s, every decision as expected), peak ${server.peakRssMiB?.toFixed(0)} MiB; V8 heap used ${server.heapUsedMiB?.toFixed(0)} MiB.`,
  ];
  console.log(out.join('\n'));
  if (env.BENCH_CATALOG_JSON) {
    writeFileSync(
      env.BENCH_CATALOG_JSON,
      JSON.stringify({ apis: APIS, steps, server, load }, null, 2),
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
