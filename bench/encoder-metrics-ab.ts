/**
 * A cached gRPC check's own work, old against new, interleaved in one process: the pipeline
 * (Gatehouse's example catalog and policies, the dev issuer's RS256 token, verified-token
 * cache on, as bench/pipeline-latency.ts runs it) followed by the CheckResponse encode, with
 *
 * - old: prom-client's Counter and Histogram updated on every check (the definitions kept in
 *   test/observability/prom-client-metrics.ts) and the old mapper + proto-loader encode
 *   (test/transport/grpc/proto-loader-check-response.ts);
 * - new: the tallies (src/observability/metrics-tally.ts) and encodeCheckResponse.
 *
 * Blocks of checks alternate between the two (which goes first alternates too), so load swings
 * on a shared machine hit both alike; CPU of the process (process.cpuUsage) per check.
 *
 *   taskset -c 1 node --import tsx bench/encoder-metrics-ab.ts [rounds] [checks per block]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { startGatehouse } from '../src/app.js';
import type { CheckInput } from '../src/check/check-input.js';
import { parseConfig } from '../src/config/load-config.js';
import type { Decision } from '../src/decision/decision.js';
import { DEV_AUDIENCE, DEV_ISSUER, ensureDevKey } from '../src/dev/dev-keys.js';
import { silentLogger } from '../src/observability/logger.js';
import type { Metrics } from '../src/observability/metrics.js';
import { encodeCheckResponse } from '../src/transport/grpc/check-response-encoder.js';
import { loadProtos } from '../src/transport/grpc/load-protos.js';
import { PromClientCheckMetrics } from '../test/observability/prom-client-metrics.js';
import { decisionToCheckResponse } from '../test/transport/grpc/proto-loader-check-response.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.argv[2] ?? 10);
const block = Number(process.argv[3] ?? 3000);
const keyDir = path.join(root, '.gatehouse', 'dev');

const config = parseConfig(
  {
    log: { level: 'silent' },
    grpc: { enabled: false },
    http: { enabled: false },
    probes: { enabled: false },
    policies: { dir: 'policies', watch: false, compileCacheDir: '.gatehouse/wasm-cache' },
    issuers: [
      {
        issuer: DEV_ISSUER,
        audiences: [DEV_AUDIENCE],
        algorithms: ['RS256'],
        jwksFile: '.gatehouse/dev/jwks.json',
      },
    ],
  },
  root,
  {},
);
const gatehouse = await startGatehouse(config, { logger: silentLogger() });
const key = await ensureDevKey(keyDir);
const token = await new SignJWT({ roles: ['reader'], scope: 'orders:read' })
  .setProtectedHeader({ alg: 'RS256', kid: key.kid })
  .setIssuer(DEV_ISSUER)
  .setAudience(DEV_AUDIENCE)
  .setSubject('alice')
  .setExpirationTime('1h')
  .sign(key.privateKey);

const input: CheckInput = {
  transport: 'grpc',
  method: 'GET',
  path: '/orders/42?expand=items',
  host: 'api.example.com',
  scheme: 'https',
  protocol: 'HTTP/1.1',
  headers: { authorization: `Bearer ${token}`, 'user-agent': 'bench', accept: '*/*' },
  requestId: 'bench',
  body: '',
  source: { address: '10.0.0.1', port: 40000 },
  destination: { address: '10.0.0.2', port: 8080 },
  contextExtensions: {},
};

// The running pipeline's Metrics (private to it; a bench may reach in): its per-check
// members are swapped between blocks, and the pipeline reads them on every check.
const metrics = (gatehouse.pipeline as unknown as { options: { metrics: Metrics } }).options
  .metrics;
const PER_CHECK = [
  'decisions',
  'checkDuration',
  'checkPhaseDuration',
  'tokenCacheLookups',
] as const;
const tallied = Object.fromEntries(PER_CHECK.map((name) => [name, metrics[name]]));
const oracle = new PromClientCheckMetrics();
const promClient = Object.fromEntries(PER_CHECK.map((name) => [name, oracle[name]]));
function install(members: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(members)) {
    Object.defineProperty(metrics, name, { value, configurable: true, writable: false });
  }
}

const { Check } = loadProtos().authorization;
const variants = {
  old: {
    members: promClient,
    encode: (decision: Decision) => Check.responseSerialize(decisionToCheckResponse(decision)),
  },
  new: { members: tallied, encode: encodeCheckResponse },
};

async function runBlock(which: keyof typeof variants): Promise<number> {
  const variant = variants[which];
  install(variant.members);
  const before = process.cpuUsage();
  for (let i = 0; i < block; i++) {
    const decision = await gatehouse.pipeline.check(input);
    if (!decision.allowed) throw new Error(`unexpected deny: ${decision.code}`);
    variant.encode(decision);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / block;
}

await runBlock('old'); // warm-up of both
await runBlock('new');
const sums = { old: 0, new: 0 };
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? (['old', 'new'] as const) : (['new', 'old'] as const);
  for (const which of order) sums[which] += await runBlock(which);
}
const oldUs = sums.old / rounds;
const newUs = sums.new / rounds;
console.log(
  `cached check (pipeline + CheckResponse encode), ${rounds} rounds x ${block} checks each, Node ${process.version}:`,
);
console.log(
  `  old ${oldUs.toFixed(1)} us CPU/check, new ${newUs.toFixed(1)} us, saved ${(oldUs - newUs).toFixed(1)} us, old/new ${(oldUs / newUs).toFixed(3)}`,
);
await gatehouse.close();
