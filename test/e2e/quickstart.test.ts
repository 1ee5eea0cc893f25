import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Client } from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import type { CheckRequestMessage } from '../../src/transport/grpc/wire-types.js';
import { connect, unary } from '../transport/grpc/grpc-test-client.js';

// The README's quick start, as a newcomer runs it: the real entry point (src/main.ts) with
// config/gatehouse.dev.yaml, the example policies, and a token from the dev token command.
// Ports come from the environment overrides (0: any free port), read back from the logs.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);
const protos = loadProtos();

let child: ChildProcess;
let grpcPort = 0;
let httpPort = 0;
let client: Client;
let readerToken: string;

beforeAll(async () => {
  // As scripts/start.sh does: the dev key exists before Gatehouse reads its JWKS.
  await run(process.execPath, ['--import', 'tsx', 'src/dev/ensure-dev-key.ts'], { cwd: ROOT });
  child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/main.ts', '--config', 'config/gatehouse.dev.yaml'],
    {
      cwd: ROOT,
      env: { ...process.env, GATEHOUSE_GRPC_PORT: '0', GATEHOUSE_HTTP_PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout ?? process.stdin });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => {
      reject(new Error(`gatehouse exited with ${String(code)}`));
    });
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'grpc server listening') grpcPort = entry.port ?? 0;
      if (entry.msg === 'http server listening') httpPort = entry.port ?? 0;
      if (grpcPort !== 0 && httpPort !== 0) resolve();
    });
  });
  client = connect(grpcPort);
  const minted = await run(
    process.execPath,
    ['--import', 'tsx', 'src/main.ts', 'token', '--roles', 'reader'],
    {
      cwd: ROOT,
    },
  );
  readerToken = minted.stdout.trim();
}, 120_000);

afterAll(() => {
  client.close();
  child.kill('SIGTERM');
});

function checkRequest(path: string, token?: string): CheckRequestMessage {
  return {
    attributes: {
      request: {
        http: {
          method: 'GET',
          path,
          host: 'localhost',
          headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        },
      },
    },
  };
}

describe('quick start: npm start with the example config', () => {
  it('gRPC: a protected API without a token gets status 16 and a 401 denied response', async () => {
    const { response } = await unary(
      client,
      protos.authorization.Check,
      checkRequest('/orders/42'),
    );
    expect(response?.status.code).toBe(16);
    expect(response?.denied_response?.status.code).toBe(401);
  });

  it('gRPC: the dev token with the reader role gets OK and x-user-sub', async () => {
    const { response } = await unary(
      client,
      protos.authorization.Check,
      checkRequest('/orders/42', readerToken),
    );
    expect(response?.status.code).toBe(0);
    expect(JSON.stringify(response?.ok_response?.headers)).toContain('"x-user-sub"');
  });

  it('gRPC: the reader is denied the admin API (7, 403)', async () => {
    const { response } = await unary(
      client,
      protos.authorization.Check,
      checkRequest('/admin', readerToken),
    );
    expect(response?.status.code).toBe(7);
    expect(response?.denied_response?.status.code).toBe(403);
  });

  it('HTTP agrees: 401 without a token, 200 with it, 403 on /admin', async () => {
    const base = `http://127.0.0.1:${httpPort}/envoy`;
    const statuses = [];
    for (const [path, token] of [
      ['/orders/42', undefined],
      ['/orders/42', readerToken],
      ['/admin', readerToken],
    ] as const) {
      const response = await request(`${base}${path}`, {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      });
      await response.body.dump();
      statuses.push(response.statusCode);
    }
    expect(statuses).toEqual([401, 200, 403]);
  });

  it("the declarative policy: alice reads her own profile, not bob's (its deny body)", async () => {
    const base = `http://127.0.0.1:${httpPort}/envoy`;
    const own = await request(`${base}/users/alice/profile`, {
      headers: { authorization: `Bearer ${readerToken}` },
    });
    await own.body.dump();
    expect(own.statusCode).toBe(200);
    const other = await request(`${base}/users/bob/profile`, {
      headers: { authorization: `Bearer ${readerToken}` },
    });
    expect(other.statusCode).toBe(403);
    expect(await other.body.json()).toEqual({ error: 'you may only read your own profile' });
  });
});
