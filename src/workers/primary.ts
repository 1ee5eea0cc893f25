import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry, Counter } from 'prom-client';
import { findOpaFor } from '../app.js';
import { DpopReplayCache } from '../auth/dpop/replay-cache.js';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { SnapshotStore } from '../snapshot/snapshot-store.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import { controlLoopFor } from '../sync/control-loop.js';
import { createSources } from '../sync/create-sources.js';
import { startProbeServer } from '../transport/http/probe-server.js';
import type {
  KeysRefreshedAtMap,
  PrimaryMessage,
  RpcRequest,
  SnapshotParts,
  WorkerMessage,
} from './messages.js';
import { isRecord, WORKERS_LOG } from './messages.js';
import { RpcChannel } from './rpc.js';

/** How often the primary tells workers when each issuer's keys last loaded (maxKeyStalenessS). */
const FRESHNESS_MS = 1000;
/** A worker that dies sooner than this after its start is replaced after RESTART_DELAY_MS. */
const CRASH_LOOP_MS = 5000;
const RESTART_DELAY_MS = 1000;
/** How long a worker has to report its metrics to an aggregated scrape. */
const WORKER_METRICS_TIMEOUT_MS = 2000;
/** How long close() waits for a worker to drain before it is killed. */
const WORKER_STOP_MS = 15_000;
const WORKER_START_MS = 60_000;

export interface ClusterOptions {
  readonly logger: Logger;
  readonly env: NodeJS.ProcessEnv;
  readonly processMetrics?: boolean;
}

export interface RunningCluster {
  /** Whether every worker served the first snapshot when start-up finished. */
  readonly ready: boolean;
  readonly grpcPort: number | undefined;
  readonly httpPort: number | undefined;
  readonly probesPort: number | undefined;
  /** Process ids of the serving workers (for tests and status). */
  workerPids(): number[];
  close(): Promise<void>;
}

/** `workers: auto` is one per core the process may use. */
export function workerCount(setting: GatehouseConfig['workers']): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

interface WorkerState {
  readonly slot: number;
  readonly worker: Worker;
  readonly rpc: RpcChannel;
  readonly forkedAt: number;
  started: boolean;
  revision: string | undefined;
}

/**
 * `workers` > 1: this process is the primary. It runs the one control loop (sources,
 * compiles, last-known-good) and the probe listener, and forks the workers that answer
 * checks on the gRPC and HTTP ports (node:cluster shares the listening sockets: the primary
 * accepts and hands each connection to a worker, round-robin). Each snapshot it activates
 * goes whole to every worker. It holds the DPoP replay set and the introspection clients
 * the workers ask over IPC, replaces a worker that dies, aggregates /metrics, and is ready
 * while every started worker serves the same revision.
 */
export async function startCluster(
  config: GatehouseConfig,
  options: ClusterOptions,
): Promise<RunningCluster> {
  const { logger, env } = options;
  const count = workerCount(config.workers);
  const metrics = new Metrics({ processMetrics: options.processMetrics ?? false });
  const restarts = new Counter({
    name: 'gatehouse_worker_restarts_total',
    help: 'Worker processes that exited and were replaced.',
    registers: [metrics.registry],
  });
  const opa = await findOpaFor(config, logger);
  const store = new SnapshotStore();
  const sources = await createSources(config, logger, env, metrics);
  const controlLoop = controlLoopFor(config, env, { store, opa, logger, metrics, sources });
  const replay = new DpopReplayCache({
    iatWindowS: config.tokens.dpop.iatWindowS,
    maxEntries: config.tokens.dpop.replayCacheMaxEntries,
  });
  // Every worker accepts every other's DPoP nonces: one secret, from the config or made here.
  const nonceSecret = randomBytes(32).toString('hex');
  const workerConfig = await withFixedPorts(config);

  const workers = new Map<number, WorkerState>();
  let closing = false;
  let clusterReady = false;
  let latest: SnapshotParts | undefined;

  const refreshedAt = (): KeysRefreshedAtMap => {
    const map: Record<string, number> = {};
    for (const issuer of config.issuers) {
      const at = controlLoop.keysRefreshedAt(issuer.issuer);
      if (at !== undefined) map[issuer.issuer] = at;
    }
    return map;
  };
  const post = (state: WorkerState, message: PrimaryMessage): void => {
    if (!state.worker.isConnected()) return;
    try {
      state.worker.send(message);
    } catch (error) {
      logger.debug({ err: error, worker: state.slot }, 'could not send to worker');
      // It is dying: the exit handler replaces it and the replacement gets the state.
    }
  };
  const broadcast = (message: PrimaryMessage): void => {
    for (const state of workers.values()) post(state, message);
  };
  const readyNow = (): boolean => clusterReady;
  const updateReadiness = (): void => {
    const serving = [...workers.values()].filter((state) => state.started);
    const revisions = new Set(serving.map((state) => state.revision));
    const ready =
      serving.length > 0 && revisions.size === 1 && !revisions.has(undefined) && !closing;
    if (ready === clusterReady) return;
    clusterReady = ready;
    if (ready)
      logger.info(
        { revision: serving[0]?.revision, workers: serving.length },
        WORKERS_LOG.workersReady,
      );
    broadcast({ t: 'clusterReady', ready });
  };

  store.onActivate((snapshot) => {
    latest = snapshotParts(snapshot);
    broadcast({ t: 'snapshot', snapshot: latest, refreshedAt: refreshedAt() });
  });
  const freshness = setInterval(() => {
    broadcast({ t: 'freshness', refreshedAt: refreshedAt() });
  }, FRESHNESS_MS);
  freshness.unref();

  const aggregatedMetrics = async (): Promise<string> => {
    const parts = await Promise.all(
      [...workers.values()].map((state) =>
        state.rpc.request({ kind: 'workerMetrics' }, WORKER_METRICS_TIMEOUT_MS).catch(() => []),
      ),
    );
    parts.push(await metrics.registry.getMetricsAsJSON());
    return AggregatorRegistry.aggregate(parts as object[]).metrics();
  };

  const answer = async (request: RpcRequest): Promise<unknown> => {
    switch (request.kind) {
      case 'replay':
        return replay.seen(request.jti, request.jkt);
      case 'introspect': {
        const introspector = sources.introspectors.get(request.issuer);
        if (introspector === undefined) throw new Error(`no introspection for ${request.issuer}`);
        return introspector.introspect(request.token);
      }
      case 'unknownKid': {
        const keys = await controlLoop.keysForUnknownKid(request.issuer, request.kid);
        return keys?.keySet ?? null;
      }
      case 'clusterMetrics':
        return aggregatedMetrics();
      case 'workerMetrics':
        throw new Error('the primary serves no checks');
    }
  };

  cluster.setupPrimary({
    exec: workerEntry(),
    execArgv: process.execArgv,
    args: [],
    // Structured clone: WebAssembly bytes travel as bytes.
    serialization: 'advanced',
  });

  let startedOnce: () => void = () => undefined;
  const fork = (slot: number): void => {
    const worker = cluster.fork(env);
    const rpc = new RpcChannel((message) => worker.send(message as PrimaryMessage));
    rpc.serve(answer);
    const state: WorkerState = {
      slot,
      worker,
      rpc,
      forkedAt: Date.now(),
      started: false,
      revision: undefined,
    };
    workers.set(worker.id, state);
    worker.on('message', (message: unknown) => {
      if (rpc.receive(message) || !isRecord(message)) return;
      const event = message as WorkerMessage;
      // The worker asks once its module has loaded: IPC messages sent before it listens are lost.
      if (event.t === 'hello') {
        post(state, {
          t: 'init',
          workerId: slot,
          config: workerConfig,
          nonceSecret: Buffer.from(nonceSecret, 'utf8'),
          snapshot: latest,
          refreshedAt: refreshedAt(),
          clusterReady,
        });
      } else if (event.t === 'started') {
        state.started = true;
        logger.info({ worker: slot, pid: worker.process.pid }, WORKERS_LOG.workerStarted);
        startedOnce();
      } else {
        state.revision = event.revision;
      }
      updateReadiness();
    });
    // Errors on the channel of a dying worker; its exit is handled below.
    worker.on('error', () => undefined);
  };
  cluster.on('exit', (worker, code, signal) => {
    const state = workers.get(worker.id);
    if (state === undefined) return;
    workers.delete(worker.id);
    state.rpc.close('the worker exited');
    updateReadiness();
    if (closing) return;
    restarts.inc();
    const delay = Date.now() - state.forkedAt < CRASH_LOOP_MS ? RESTART_DELAY_MS : 0;
    logger.warn(
      { worker: state.slot, pid: worker.process.pid, code, signal, delayMs: delay },
      WORKERS_LOG.workerExited,
    );
    setTimeout(() => {
      if (!closing) fork(state.slot);
    }, delay).unref();
  });

  const probes = config.probes.enabled
    ? await startProbeServer({
        host: config.probes.host,
        port: config.probes.port,
        authorizer: { isReady: () => clusterReady },
        logger,
        metrics: withClusterMetrics(metrics, aggregatedMetrics),
        status: () => ({
          ...controlLoop.status(),
          ready: clusterReady,
          workers: [...workers.values()].map((state) => ({
            worker: state.slot,
            pid: state.worker.process.pid ?? null,
            started: state.started,
            revision: state.revision ?? null,
          })),
        }),
      })
    : undefined;

  const allStarted = new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      logger.warn({ workers: count }, WORKERS_LOG.workersStartTimeout);
      resolve();
    }, WORKER_START_MS);
    timer.unref();
    startedOnce = () => {
      if ([...workers.values()].filter((state) => state.started).length >= count) {
        clearTimeout(timer);
        resolve();
      }
    };
  });
  // Workers listen first, as a single process does: until the first snapshot every check is
  // an explicit deny and readiness says not ready.
  for (let slot = 1; slot <= count; slot++) fork(slot);

  const close = async (): Promise<void> => {
    closing = true;
    clearInterval(freshness);
    controlLoop.stop();
    updateReadiness();
    await Promise.all([...workers.values()].map((state) => stopWorker(state, post)));
    await Promise.all([probes?.close(), sources.close()]);
  };
  try {
    await controlLoop.start();
  } catch (error) {
    await close();
    throw error;
  }
  await allStarted;
  // Wait (bounded) for the workers to build the first snapshot, so `ready` means served.
  if (store.current() !== undefined) {
    const deadline = Date.now() + WORKER_START_MS;
    // (read through a call: clusterReady changes in the message handlers meanwhile)
    while (!readyNow() && Date.now() < deadline && workers.size > 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return {
    ready: readyNow(),
    grpcPort: config.grpc.enabled ? workerConfig.grpc.port : undefined,
    httpPort: config.http.enabled ? workerConfig.http.port : undefined,
    probesPort: probes?.port,
    workerPids: () =>
      [...workers.values()].flatMap((state) =>
        state.started && state.worker.process.pid !== undefined ? [state.worker.process.pid] : [],
      ),
    close,
  };
}

/** What a worker needs to rebuild `snapshot` exactly (same revision). */
function snapshotParts(snapshot: Snapshot): SnapshotParts {
  const keySets: Record<string, NonNullable<SnapshotParts['keySets'][string]>> = {};
  for (const [issuer, keys] of snapshot.issuers) {
    if (keys.keySet !== undefined) keySets[issuer] = keys.keySet;
  }
  return {
    revision: snapshot.revision,
    sourceRevision: snapshot.sourceRevision,
    catalogText: snapshot.catalogText,
    data: snapshot.policy.source.data,
    wasm: snapshot.policy.source.wasm,
    policyHash: snapshot.policy.hash,
    keySets,
  };
}

/** The probe server's view of the metrics: the whole cluster's, aggregated. */
function withClusterMetrics(metrics: Metrics, aggregated: () => Promise<string>): Metrics {
  metrics.registry.metrics = aggregated;
  return metrics;
}

/**
 * Port 0 means "any free port"; in a cluster each worker's listen(0) would be a different
 * shared handle per address, so the primary picks the port once and every worker gets it.
 */
async function withFixedPorts(config: GatehouseConfig): Promise<GatehouseConfig> {
  const grpcPort =
    config.grpc.enabled && config.grpc.port === 0
      ? await freePort(config.grpc.host)
      : config.grpc.port;
  let httpPort =
    config.http.enabled && config.http.port === 0
      ? await freePort(config.http.host)
      : config.http.port;
  while (config.http.enabled && config.http.port === 0 && httpPort === grpcPort)
    httpPort = await freePort(config.http.host);
  return {
    ...config,
    grpc: { ...config.grpc, port: grpcPort },
    http: { ...config.http, port: httpPort },
    // The primary answers probes; workers never open the probe port.
    probes: { ...config.probes, enabled: false },
  };
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** Asks a worker to drain and exit; kills it (the pid this primary forked) after WORKER_STOP_MS. */
async function stopWorker(
  state: WorkerState,
  post: (state: WorkerState, message: PrimaryMessage) => void,
): Promise<void> {
  if (state.worker.isDead()) return;
  const exited = new Promise<void>((resolve) =>
    state.worker.once('exit', () => {
      resolve();
    }),
  );
  post(state, { t: 'shutdown' });
  const timer = setTimeout(() => state.worker.process.kill('SIGKILL'), WORKER_STOP_MS);
  await exited;
  clearTimeout(timer);
}

/** The worker entry beside this file: .ts under tsx, .js from dist. */
function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `worker-main${path.extname(here)}`);
}
