/**
 * Quick look at one decision's cost: the transport-free pipeline over the example
 * policies, one check at a time (route, RS256 verify, three WASM policy levels), with the
 * verified-token cache on (a repeated token) and off (every check verifies the signature).
 * Not a comparison with a peer: that is the benchmark issue's work.
 *
 *   node --import tsx bench/pipeline-latency.ts [checks] [both|cached|uncached]
 *
 * `cached` alone is the one to profile the cached pipeline with (`node --cpu-prof`). It also
 * prints the garbage collector's pauses over the timed checks (perf_hooks `gc` entries: how
 * many, their total and the longest), to compare V8 flags such as `--max-semi-space-size`.
 */
import path from 'node:path';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { startGatehouse } from '../src/app.js';
import type { CheckInput } from '../src/check/check-input.js';
import { parseConfig } from '../src/config/load-config.js';
import { DEV_AUDIENCE, DEV_ISSUER, ensureDevKey } from '../src/dev/dev-keys.js';
import { silentLogger } from '../src/observability/logger.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const checks = Number(process.argv[2] ?? 20_000);
const which = process.argv[3] ?? 'both';
const keyDir = path.join(root, '.gatehouse', 'dev');
await ensureDevKey(keyDir);

async function run(cacheMaxEntries: number): Promise<void> {
  const config = parseConfig(
    {
      log: { level: 'silent' },
      tokens: { cacheMaxEntries },
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
    transport: 'json',
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

  for (let i = 0; i < 2000; i++) await gatehouse.pipeline.check(input);
  const pauses: PerformanceEntry[] = [];
  const gc = new PerformanceObserver((list) => pauses.push(...list.getEntries()));
  gc.observe({ entryTypes: ['gc'] });
  const samples = new Float64Array(checks);
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < checks; i++) {
    const t0 = process.hrtime.bigint();
    const decision = await gatehouse.pipeline.check(input);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
    if (!decision.allowed) throw new Error(`unexpected deny: ${decision.code} ${decision.reason}`);
  }
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  // Entries are delivered after the loop that caused them: let the observer run first.
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc.disconnect();
  samples.sort();
  const at = (q: number): string => (samples[Math.floor(q * (checks - 1))] ?? 0).toFixed(1);
  console.log(
    `pipeline check, token cache ${cacheMaxEntries > 0 ? 'on (repeated token)' : 'off (RS256 verify every time)'}, ${checks} sequential checks on Node ${process.version}:`,
  );
  console.log(`  p50 ${at(0.5)} us   p90 ${at(0.9)} us   p99 ${at(0.99)} us   max ${at(1)} us`);
  console.log(
    `  ${(checks / wallS).toFixed(0)} checks/s on one core, ${((cpu.user + cpu.system) / checks).toFixed(1)} us CPU per check`,
  );
  const pausedMs = pauses.reduce((sum, entry) => sum + entry.duration, 0);
  const longestMs = pauses.reduce((max, entry) => Math.max(max, entry.duration), 0);
  // A gc entry's detail.kind says which collection it was (Node's perf_hooks docs).
  const kindOf = (entry: PerformanceEntry): number | undefined =>
    (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
  const scavenges = pauses.filter(
    (entry) => kindOf(entry) === constants.NODE_PERFORMANCE_GC_MINOR,
  ).length;
  console.log(
    `  GC: ${pauses.length} pauses (${scavenges} scavenges), ${pausedMs.toFixed(1)} ms in all (${((pausedMs * 1000) / checks).toFixed(1)} us per check), longest ${longestMs.toFixed(2)} ms`,
  );
  await gatehouse.close();
}

if (which !== 'cached') await run(0);
if (which !== 'uncached') await run(10_000);
