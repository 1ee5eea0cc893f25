import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from './redis-server.js';
import { COMPILE_CACHE, FIXTURE_POLICIES, testGrpcServer } from './test-gatehouse.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from './token-factory.js';
import { waitFor } from './wait-for.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** One worker as the primary's /status lists it. */
export interface WorkerStatus {
  readonly worker: number;
  readonly pid: number | null;
  readonly started: boolean;
  readonly revision: string | null;
}

export interface ClusterGatehouse {
  readonly issuer: TestIssuer;
  readonly policyDir: string;
  readonly grpcPort: number;
  readonly httpBase: string;
  readonly probesBase: string;
  /** The primary's pid (the process this helper started). */
  readonly pid: number;
  /** The primary's /status. */
  status(): Promise<{
    ready: boolean;
    snapshot: { revision: string } | null;
    workers: WorkerStatus[];
  }>;
  /** The primary's aggregated /metrics text. */
  metrics(): Promise<string>;
  /** Everything the processes printed (JSON log lines). */
  output(): string;
  close(): Promise<void>;
}

/**
 * A real Gatehouse with `workers`, started as users start it (`node --import tsx src/main.ts
 * run --config FILE`), on free loopback ports, with a copy of the fixture policies (watched)
 * and a fresh RSA issuer. Resolves once the primary's /readyz says every worker serves.
 */
export async function startClusterGatehouse(workers: number): Promise<ClusterGatehouse> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cluster-'));
  const policyDir = path.join(dir, 'policies');
  await cp(FIXTURE_POLICIES, policyDir, { recursive: true });
  const issuer = await createTestIssuer();
  const jwksFile = path.join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify(issuer.jwks));
  const [grpcPort, httpPort, probesPort] = [await freePort(), await freePort(), await freePort()];
  const configFile = path.join(dir, 'gatehouse.json');
  await writeFile(
    configFile,
    JSON.stringify({
      realm: 'test',
      workers,
      log: { level: 'info' },
      grpc: { host: '127.0.0.1', port: grpcPort, ...testGrpcServer() },
      http: { host: '127.0.0.1', port: httpPort },
      probes: { host: '127.0.0.1', port: probesPort },
      policies: { dir: policyDir, watch: true, compileCacheDir: COMPILE_CACHE },
      persistence: { enabled: false },
      issuers: [
        { issuer: issuer.issuer, audiences: [TEST_AUDIENCE], algorithms: ['RS256'], jwksFile },
      ],
    }),
  );
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/main.ts', 'run', '--config', configFile],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } },
  );
  let output = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => (output += chunk));
  child.stderr?.on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const probesBase = `http://127.0.0.1:${probesPort}`;
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      // The primary stops its workers (the pids it forked) before it exits.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    process.off('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `a ${workers}-worker Gatehouse to be ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`gatehouse exited early:\n${output}`);
        const res = await request(`${probesBase}/readyz`).catch(() => undefined);
        if (res === undefined) return false;
        await res.body.text();
        return res.statusCode === 200;
      },
      120_000,
    );
  } catch (error) {
    await close();
    throw error;
  }
  return {
    issuer,
    policyDir,
    grpcPort,
    httpBase: `http://127.0.0.1:${httpPort}`,
    probesBase,
    pid: child.pid ?? 0,
    status: async () => (await (await request(`${probesBase}/status`)).body.json()) as never,
    metrics: async () => (await request(`${probesBase}/metrics`)).body.text(),
    output: () => output,
    close,
  };
}
