/**
 * Overload: a real Gatehouse (this process) under floods sent from a child process
 * (test/helpers/flood-process.ts), while this process probes it the way kubelet would (a new
 * connection per probe) and opens fresh connections for checks, as a proxy would.
 *
 *   node --import tsx bench/overload.ts            # all scenarios, writes bench/results/overload.md
 *   OVERLOAD_SCENARIOS=grpc-2000 node --import tsx bench/overload.ts
 *
 * Knobs: OVERLOAD_DURATION_S (default 10), OVERLOAD_PROBE_EVERY_MS (default 100),
 * OVERLOAD_SCENARIOS (comma-separated names below), OVERLOAD_WRITE=0 to skip the results file.
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, startFlood, type FloodResult } from '../test/helpers/flood.js';
import { startTestGatehouse } from '../test/helpers/test-gatehouse.js';

interface Scenario {
  readonly name: string;
  readonly kind: 'grpc' | 'http';
  readonly concurrency: number;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'grpc-2000', kind: 'grpc', concurrency: 2000 },
  { name: 'http-5000', kind: 'http', concurrency: 5000 },
];

const durationS = Number(process.env.OVERLOAD_DURATION_S ?? 10);
const probeEveryMs = Number(process.env.OVERLOAD_PROBE_EVERY_MS ?? 100);
const chosen = process.env.OVERLOAD_SCENARIOS?.split(',');
const maxInflightChecks = Number(process.env.OVERLOAD_MAX_INFLIGHT ?? 256);

interface Row {
  readonly scenario: Scenario;
  readonly flood: FloodResult;
  readonly probes: FloodResult;
  /** Share of one core the Gatehouse process got during the flood. */
  readonly cpuShare: number;
  readonly loadAverage: number;
  readonly ports: { readonly probes: number; readonly http: number };
}

async function run(scenario: Scenario): Promise<Row> {
  const t = await startTestGatehouse({ config: { limits: { maxInflightChecks } } });
  try {
    const token = await t.issuer.sign();
    const flood = await startFlood({
      kind: scenario.kind,
      target: scenario.kind === 'grpc' ? t.grpcAddress : t.httpBase,
      concurrency: scenario.concurrency,
      path: scenario.kind === 'grpc' ? '/orders/42' : '/envoy/orders/42',
      token,
    });
    // Let the flood reach its steady state before probing.
    await sleep(1000);
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    // Probes from a process of their own, as kubelet's: a new connection each, 1 s timeout.
    const prober = await startFlood({
      kind: 'probe',
      target: t.probesBase,
      concurrency: 1,
      path: '/',
      urls: [
        `${t.probesBase}/healthz`,
        `${t.probesBase}/readyz`,
        `${t.httpBase}/healthz`,
        `${t.httpBase}/envoy/public/x`,
      ],
      intervalMs: probeEveryMs,
    });
    await sleep(durationS * 1000);
    const probes = await prober.stop();
    const cpu = process.cpuUsage(cpuBefore);
    const cpuShare = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore);
    const result = await flood.stop();
    return {
      scenario,
      flood: result,
      probes,
      cpuShare,
      loadAverage: os.loadavg()[0] ?? 0,
      ports: { probes: t.gatehouse.probesPort ?? 0, http: t.gatehouse.httpPort ?? 0 },
    };
  } finally {
    await t.close();
  }
}

const ms = (value: number): string => value.toFixed(1);

function table(first: string, outcomes: FloodResult['outcomes']): string[] {
  return [
    `| ${first} | count | p50 ms | p95 ms | p99 ms | max ms |`,
    '| --- | --- | --- | --- | --- | --- |',
    ...Object.entries(outcomes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(
        ([outcome, l]) =>
          `| ${outcome} | ${String(l.count)} | ${ms(l.p50Ms)} | ${ms(l.p95Ms)} | ${ms(l.p99Ms)} | ${ms(l.maxMs)} |`,
      ),
  ];
}

function report(row: Row): string {
  const { scenario, flood, probes } = row;
  const rate = ((flood.all.count / flood.durationMs) * 1000).toFixed(0);
  return [
    `### ${scenario.name}: ${String(scenario.concurrency)} ${scenario.kind === 'grpc' ? 'gRPC calls (one grpc-js channel)' : 'HTTP keep-alive connections'} in flight, maxInflightChecks ${String(maxInflightChecks)}`,
    '',
    `Flood: ${String(flood.all.count)} answers in ${(flood.durationMs / 1000).toFixed(1)} s (${rate}/s). Gatehouse got ${(row.cpuShare * 100).toFixed(0)} % of a core; load average ${row.loadAverage.toFixed(1)}.`,
    '',
    ...table('flood outcome', flood.outcomes),
    '',
    `Probes (another process, new connection each, 1 s timeout, every ${String(probeEveryMs)} ms): \`:PORT/path\` is on the probe port (\`/healthz\`, \`/readyz\`) or the check port (\`/healthz\`, and a check on a new connection, \`/envoy/public/x\`); probe port :${String(row.ports.probes)}, check port :${String(row.ports.http)}.`,
    '',
    ...table('probe: status path', probes.outcomes),
    '',
  ].join('\n');
}

const rows: Row[] = [];
for (const scenario of SCENARIOS) {
  if (chosen !== undefined && !chosen.some((name) => scenario.name === name)) continue;
  const row = await run(scenario);
  const text = report(row);
  process.stdout.write(`${text}\n`);
  rows.push(row);
}

if (process.env.OVERLOAD_WRITE !== '0' && rows.length > 0) {
  const cpus = os.cpus();
  const header = [
    '# Overload',
    '',
    `Measured with \`node --import tsx bench/overload.ts\` on ${String(cpus.length)} x ${cpus[0]?.model ?? '?'}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}; load average at the end ${os.loadavg()[0]?.toFixed(2) ?? '?'}.`,
    `Each scenario: a fresh Gatehouse in the bench process (fixture policies, one RS256 token, token cache on), the flood from a child process, ${String(durationS)} s of probes after 1 s of warm-up. The machine is shared: the load average and Gatehouse's share of a core are given with each scenario.`,
    '',
  ].join('\n');
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'overload.md');
  await writeFile(file, `${header}\n${rows.map(report).join('\n')}`);
  process.stdout.write(`wrote ${file}\n`);
}
