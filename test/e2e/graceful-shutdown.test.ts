import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import { ServingStatus } from '../../src/transport/grpc/wire-types.js';
import { startScriptedServer, type ScriptedServer } from '../auth/introspection/scripted-server.js';
import { COMPILE_CACHE, FIXTURE_POLICIES, testGrpcServer } from '../helpers/test-gatehouse.js';
import { bearerUsersMeCheck, connect, unary } from '../transport/grpc/grpc-test-client.js';
import { waitFor } from '../helpers/wait-for.js';

// SIGTERM to the real command line while checks are in flight on both transports: a slow
// introspection endpoint holds one HTTP and one gRPC check open. Readiness must turn false
// on every signal first, new connections must stop, both checks must get their real answer
// (an allow), and the process must exit 0.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ISSUER = 'https://issuer.shutdown.test';
const INTROSPECTION_DELAY_MS = 4000;
const protos = loadProtos();

interface Listening {
  readonly grpc: number;
  readonly http: number;
  readonly probes: number;
}

let dir: string;
let introspection: ScriptedServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-shutdown-'));
  await cp(FIXTURE_POLICIES, path.join(dir, 'policies'), { recursive: true });
  introspection = await startScriptedServer((req) => ({
    body: {
      active: true,
      sub: 'alice',
      aud: 'orders-api',
      scope: 'orders:read',
      exp: Math.floor(Date.now() / 1000) + 600,
    },
    delayMs: (req.form.get('token') ?? '').startsWith('slow-') ? INTROSPECTION_DELAY_MS : 0,
  }));
});

afterAll(async () => {
  await introspection.close();
  await rm(dir, { recursive: true, force: true });
});

/** Starts `gatehouse run` and resolves with its ports, read from its listening log lines. */
async function startCli(): Promise<{
  child: ChildProcessByStdio<null, Readable, null>;
  ports: Listening;
}> {
  const file = path.join(dir, 'gatehouse.yaml');
  await writeFile(
    file,
    JSON.stringify({
      log: { level: 'info' },
      grpc: { host: '127.0.0.1', port: 0, ...testGrpcServer() },
      http: { host: '127.0.0.1', port: 0 },
      probes: { host: '127.0.0.1', port: 0 },
      policies: { dir: path.join(dir, 'policies'), watch: false, compileCacheDir: COMPILE_CACHE },
      persistence: { enabled: false },
      shutdown: { readinessDelayS: 1, drainTimeoutS: 15 },
      issuers: [
        {
          issuer: ISSUER,
          audiences: ['orders-api'],
          introspection: { endpoint: introspection.endpoint, timeoutMs: 10_000 },
        },
      ],
      centralServer: {
        tokenEndpoint: `${ISSUER}/token`,
        clientId: 'gatehouse',
        method: 'client_secret_basic',
        clientSecretEnv: 'GH_TEST_SECRET',
      },
    }),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'run', '-c', file], {
    cwd: ROOT,
    env: { ...process.env, GH_TEST_SECRET: 'a-client-secret-for-the-test-0123456789' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ports: { -readonly [K in keyof Listening]?: number | undefined } = {};
  let buffered = '';
  const listening = new Promise<Listening>((resolve, reject) => {
    child.once('exit', (code) => {
      reject(new Error(`gatehouse exited (${String(code)}) before listening`));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === 'grpc server listening') ports.grpc = entry.port;
        if (entry.msg === 'http server listening') ports.http = entry.port;
        if (entry.msg === 'probe server listening') ports.probes = entry.port;
        if (entry.msg === 'snapshot activated' && ports.grpc && ports.http && ports.probes) {
          resolve(ports as Listening);
        }
      }
    });
  });
  return { child, ports: await listening };
}

async function status(url: string): Promise<number | 'refused'> {
  try {
    const response = await request(url, { reset: true });
    await response.body.dump();
    return response.statusCode;
  } catch {
    return 'refused';
  }
}

const grpcCheck = bearerUsersMeCheck;

describe('SIGTERM drains: readiness first, no new connections, in-flight checks answered', () => {
  it('in-flight HTTP and gRPC checks waiting on introspection complete with their allow; exit 0', async () => {
    const { child, ports } = await startCli();
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const client = connect(ports.grpc);
    const httpBase = `http://127.0.0.1:${ports.http}`;
    const probesBase = `http://127.0.0.1:${ports.probes}`;
    try {
      // Ready and answering before the signal.
      // The probe thread sees readiness within its 100 ms publish interval.
      await waitFor(
        'probe /readyz 200',
        async () => (await status(`${probesBase}/readyz`)) === 200,
        2000,
      );
      expect(await status(`${httpBase}/readyz`)).toBe(200);
      const fast = await request(`${httpBase}/envoy/users/me`, {
        headers: { authorization: 'Bearer fast-token' },
      });
      await fast.body.dump();
      expect(fast.statusCode).toBe(200);

      // Two checks in flight, held by the slow introspection endpoint.
      let settled = 0;
      const httpInFlight = request(`${httpBase}/envoy/users/me`, {
        headers: { authorization: 'Bearer slow-http' },
      }).then(async (response) => {
        settled += 1;
        return { status: response.statusCode, body: await response.body.text() };
      });
      const grpcInFlight = grpcCheck(client, 'slow-grpc').then((result) => {
        settled += 1;
        return result;
      });
      await waitFor(
        'both slow checks at the introspection endpoint',
        () =>
          introspection.requests.filter((r) => r.form.get('token')?.startsWith('slow-') === true)
            .length === 2,
        5000,
      );

      child.kill('SIGTERM');

      // Readiness turns false on every signal while the checks are still in flight.
      await waitFor(
        'probe /readyz 503',
        async () => (await status(`${probesBase}/readyz`)) === 503,
        2000,
      );
      expect(await status(`${httpBase}/readyz`)).toBe(503);
      const health = await unary(client, protos.health.Check, { service: '' });
      expect(health.response?.status).toBe(ServingStatus.NOT_SERVING);
      expect(settled).toBe(0);

      // Then the check listener takes no new connection; the in-flight checks are still open.
      await waitFor(
        'check port refusing',
        async () => (await status(`${httpBase}/readyz`)) === 'refused',
        3000,
      );
      expect(settled).toBe(0);

      // Both in-flight checks get their real answer: the allow.
      const httpAnswer = await httpInFlight;
      expect(httpAnswer.status).toBe(200);
      const grpcAnswer = await grpcInFlight;
      expect(grpcAnswer.error).toBeUndefined();
      expect(grpcAnswer.response?.status.code).toBe(0);
      expect(grpcAnswer.response?.ok_response).toBeDefined();

      const [code, signal] = await exited;
      expect(signal).toBeNull();
      expect(code).toBe(0);
    } finally {
      client.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
