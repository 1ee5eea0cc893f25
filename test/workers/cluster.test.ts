import { request as httpRequest } from 'node:http';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client as GrpcClient, credentials } from '@grpc/grpc-js';
import { Client as HttpClient } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import { athOf, createProofKey, signProof } from '../auth/dpop/dpop-fixtures.js';
import { startClusterGatehouse, type ClusterGatehouse } from '../helpers/cluster-gatehouse.js';
import { waitFor } from '../helpers/wait-for.js';

// `workers: 2`, started as the CLI starts it: both workers answer checks on the one gRPC
// port and the one HTTP port; a policy change reaches both (same revision, then ready); a
// worker killed with SIGKILL is replaced while a client stream of checks goes on; a DPoP
// proof used at one worker is refused at the other (the primary holds the replay set).

const HOST = 'api.example.com';
const PATH = '/orders/42';
const protos = loadProtos();
/** Per call: a connection reset is reported sooner; a hung call ends here. */
const CALL_TIMEOUT_MS = 5000;

let gh: ClusterGatehouse;
let token: string;
const grpcClients: GrpcClient[] = [];

beforeAll(async () => {
  gh = await startClusterGatehouse(2);
  token = await gh.issuer.sign({});
  // A connection of its own per client (no shared subchannel): the primary hands each new
  // connection to the next worker, so several connections reach both workers.
  for (let i = 0; i < 6; i++) {
    grpcClients.push(
      new GrpcClient(`127.0.0.1:${gh.grpcPort}`, credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
      }),
    );
  }
}, 180_000);
afterAll(async () => {
  for (const client of grpcClients) client.close();
  await gh.close();
}, 60_000);

/** One Check call, with a deadline: a call stuck on a killed worker's connection ends. */
function grpcCheck(
  client: GrpcClient,
  headers: Record<string, string>,
): Promise<{ code: number; message: string } | { error: string }> {
  const method = protos.authorization.Check;
  const request = {
    attributes: {
      request: { http: { method: 'GET', path: PATH, host: HOST, scheme: 'https', headers } },
    },
  };
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      { deadline: Date.now() + CALL_TIMEOUT_MS },
      (error, response) => {
        if (error !== null || response === undefined) {
          resolve({ error: error?.message ?? 'no response' });
        } else {
          resolve({ code: response.status.code, message: response.status.message });
        }
      },
    );
  });
}

/** An Envoy-HTTP-mode check on a connection of its own (so the primary picks a worker). */
function httpCheckFreshConnection(headers: Record<string, string>): Promise<number> {
  const url = new URL(`${gh.httpBase}/envoy${PATH}`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { agent: false, headers: { ...headers, host: HOST, 'x-forwarded-proto': 'https' } },
      (res) => {
        res.resume();
        res.on('end', () => {
          resolve(res.statusCode ?? 0);
        });
      },
    );
    req.setTimeout(CALL_TIMEOUT_MS, () => {
      req.destroy(new Error('timed out'));
    });
    req.on('error', reject);
    req.end();
  });
}

function workerChecks(metrics: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const match of metrics.matchAll(
    /^gatehouse_worker_checks_decided\{worker="(\d+)",transport="([^"]+)"\} (\d+)/gm,
  )) {
    found.set(`${match[1]}/${match[2]}`, Number(match[3]));
  }
  return found;
}

describe('workers: 2', () => {
  it('both workers answer gRPC and HTTP checks on the shared ports', async () => {
    const bearer = { authorization: `Bearer ${token}` };
    for (const client of grpcClients) {
      for (let i = 0; i < 3; i++)
        expect(await grpcCheck(client, bearer)).toEqual({ code: 0, message: '' });
    }
    for (let i = 0; i < 12; i++) expect(await httpCheckFreshConnection(bearer)).toBe(200);
    const served = workerChecks(await gh.metrics());
    for (const key of ['1/grpc', '2/grpc', '1/http-envoy', '2/http-envoy']) {
      expect(served.get(key) ?? 0, `checks decided by worker/transport ${key}`).toBeGreaterThan(0);
    }
  });

  it('a DPoP proof used at one worker is refused when replayed to the other', async () => {
    const key = await createProofKey();
    const bound = await gh.issuer.sign({ cnf: { jkt: key.jkt } });
    const proofHeaders = async (): Promise<Record<string, string>> => ({
      authorization: `DPoP ${bound}`,
      dpop: await signProof(key, {
        claims: {
          htm: 'GET',
          htu: `https://${HOST}${PATH}`,
          iat: Math.floor(Date.now() / 1000),
          ath: athOf(bound),
        },
      }),
    });
    // Two HTTP connections that are known to reach different workers (each asks /status).
    const byWorker = new Map<number, HttpClient>();
    const opened: HttpClient[] = [];
    for (let i = 0; i < 12 && byWorker.size < 2; i++) {
      const client = new HttpClient(gh.httpBase, { pipelining: 1 });
      opened.push(client);
      const res = await client.request({ path: '/status', method: 'GET' });
      const status = (await res.body.json()) as { policySource: { worker: number } };
      if (!byWorker.has(status.policySource.worker))
        byWorker.set(status.policySource.worker, client);
    }
    try {
      expect([...byWorker.keys()].sort()).toEqual([1, 2]);
      const headers = await proofHeaders();
      const ask = async (client: HttpClient) => {
        const res = await client.request({
          path: `/envoy${PATH}`,
          method: 'GET',
          headers: { ...headers, host: HOST, 'x-forwarded-proto': 'https' },
        });
        const text = await res.body.text();
        // An allow has no body; a deny names its code in the JSON body.
        const code =
          res.statusCode === 200 ? 'GH_OK' : (JSON.parse(text) as { error: string }).error;
        return { status: res.statusCode, code };
      };
      expect(await ask(byWorker.get(1) as HttpClient)).toEqual({ status: 200, code: 'GH_OK' });
      expect(await ask(byWorker.get(2) as HttpClient)).toEqual({
        status: 401,
        code: 'GH_ERR_DPOP_PROOF',
      });

      // gRPC: one proof, first on one connection, then replayed on every other connection
      // (the connections are spread over both workers): refused everywhere.
      const grpcHeaders = await proofHeaders();
      expect(await grpcCheck(grpcClients[0] as GrpcClient, grpcHeaders)).toMatchObject({ code: 0 });
      for (const client of grpcClients.slice(1)) {
        expect(await grpcCheck(client, grpcHeaders)).toEqual({
          code: 16,
          message: 'GH_ERR_DPOP_PROOF',
        });
      }
    } finally {
      await Promise.all(opened.map((client) => client.close()));
    }
  });

  it('a policy change reaches every worker: one new revision, then ready', async () => {
    const before = await gh.status();
    await writeFile(
      path.join(gh.policyDir, 'data.json'),
      JSON.stringify({ blocked_subjects: ['mallory', 'trudy'] }),
    );
    await waitFor(
      'every worker to serve the new revision',
      async () => {
        const status = await gh.status();
        const revision = status.snapshot?.revision;
        return (
          revision !== undefined &&
          revision !== before.snapshot?.revision &&
          status.ready &&
          status.workers.length === 2 &&
          status.workers.every((worker) => worker.started && worker.revision === revision)
        );
      },
      60_000,
    );
  }, 90_000);

  it('kill -9 of a worker: replaced; a client stream retrying on the port sees no failed check', async () => {
    const bearer = { authorization: `Bearer ${token}` };
    const status = await gh.status();
    const victim = status.workers[0]?.pid ?? 0;
    expect(victim).toBeGreaterThan(0);
    const stop = { now: false };
    const tally = { checks: 0, failed: 0, retried: 0 };
    // Up to two retries (50 ms apart) on a connection error: what Envoy's retry or a client
    // does. An answer that is not an allow (e.g. GH_ERR_NO_SNAPSHOT from the replacement
    // worker) is a failed check at once: only connection errors are retried.
    const withRetry = async (attempt: () => Promise<boolean>): Promise<void> => {
      for (let tries = 0; tries < 3; tries++) {
        let allowed: boolean;
        try {
          allowed = await attempt();
        } catch {
          // a reset connection to the killed worker: retried
          tally.retried += 1;
          await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        if (allowed) tally.checks += 1;
        else tally.failed += 1;
        return;
      }
      tally.failed += 1;
    };
    const stream = (async () => {
      let i = 0;
      while (!stop.now) {
        const client = grpcClients[i++ % grpcClients.length] as GrpcClient;
        await Promise.all([
          withRetry(async () => (await httpCheckFreshConnection(bearer)) === 200),
          withRetry(async () => {
            const answer = await grpcCheck(client, bearer);
            if ('error' in answer) throw new Error(answer.error);
            return answer.code === 0;
          }),
        ]);
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The worker's pid: forked by the Gatehouse this test started.
    process.kill(victim, 'SIGKILL');
    await waitFor(
      'the killed worker to be replaced',
      async () => {
        const now = await gh.status();
        return (
          now.ready &&
          now.workers.length === 2 &&
          now.workers.every((worker) => worker.started && worker.pid !== victim)
        );
      },
      90_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop.now = true;
    await stream;
    console.info(
      `worker kill: ${tally.checks} checks, ${tally.retried} retried, ${tally.failed} failed`,
    );
    expect(tally.failed).toBe(0);
    expect(tally.checks).toBeGreaterThan(20);
    expect(await gh.metrics()).toMatch(/^gatehouse_worker_restarts_total 1$/m);
  }, 120_000);
});
