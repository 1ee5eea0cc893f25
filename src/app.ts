import type { GatehouseConfig } from './config/schema.js';
import { DpopNonces, MIN_NONCE_SECRET_BYTES } from './auth/dpop/nonce.js';
import { AdmissionControl } from './check/admission-control.js';
import { ConfigError } from './config/load-config.js';
import { CheckPipeline } from './check/pipeline.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { startObservability } from './observability/observability.js';
import { findOpa, OpaNotFoundError, type OpaBinary } from './policy/opa-binary.js';
import { LOG } from './observability/log-messages.js';
import { SnapshotStore } from './snapshot/snapshot-store.js';
import { controlLoopFor, type ControlLoop } from './sync/control-loop.js';
import { createSources, type Sources } from './sync/create-sources.js';
import { startGrpcServer } from './transport/grpc/grpc-server.js';
import { startHttpServer } from './transport/http/http-server.js';
import { startProbeServer } from './transport/http/probe-server.js';
import { TrustedProxies } from './transport/http/trusted-proxies.js';
import { ReadinessGate } from './lifecycle/readiness-gate.js';
import { TlsFiles, type ListenerTlsFiles } from './transport/tls/tls-files.js';
import { createReplayStore } from './auth/dpop/create-replay-store.js';
import type { WorkerRole } from './workers/worker-link.js';

export interface GatehouseOptions {
  readonly logger?: Logger;
  readonly env?: NodeJS.ProcessEnv;
  /** Collect Node process metrics (off in tests: they register global hooks). */
  readonly processMetrics?: boolean;
  /**
   * Set in a worker process of a cluster (`workers` > 1, src/workers/): snapshots, keys,
   * introspection and the DPoP replay set come from the primary instead of own sources.
   */
  readonly worker?: WorkerRole;
}

export interface RunningGatehouse {
  /** Bound ports (useful when the config asks for port 0). Undefined when disabled. */
  readonly grpcPort: number | undefined;
  readonly httpPort: number | undefined;
  /** The probe listener's port (/healthz, /readyz, /metrics, /status). */
  readonly probesPort: number | undefined;
  readonly store: SnapshotStore;
  readonly pipeline: CheckPipeline;
  /** The pipeline behind the in-flight bound, as every transport sees it. */
  readonly admission: AdmissionControl;
  readonly controlLoop: ControlLoop;
  /** Re-reads (folder) or re-fetches (bundle) the policies now; resolves with whether a snapshot was activated. */
  reloadPolicies(): Promise<boolean>;
  /** Whether the first snapshot was activated at start-up. */
  readonly ready: boolean;
  /**
   * The graceful stop (SIGTERM/SIGINT): readiness false everywhere at once, checks still
   * answered for shutdown.readinessDelayS, then the listeners refuse new connections and
   * in-flight checks finish (up to shutdown.drainTimeoutS), then everything closes.
   */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Wires the house: the control loop builds snapshots into the store; the pipeline reads
 * them; the transports call the pipeline. The servers start even when the first snapshot
 * fails, so health checks can say "not ready" and every check is an explicit deny.
 */
export async function startGatehouse(
  config: GatehouseConfig,
  options: GatehouseOptions = {},
): Promise<RunningGatehouse> {
  const logger = options.logger ?? createLogger(config.log);
  const metrics = new Metrics({ processMetrics: options.processMetrics ?? false });
  const trustedProxies = new TrustedProxies(config.http.trustedProxies);
  const worker = options.worker;
  // A worker builds from the primary's compiled module: it never needs opa.
  const opa = worker === undefined ? await findOpaFor(config, logger) : undefined;
  const store = new SnapshotStore();
  const env = options.env ?? process.env;
  // Before the sources: a missing nonce secret stops the start with nothing to close.
  const nonces = dpopNonces(config, env);
  const grpcTls = await loadTls('grpc.tls', config.grpc.tls, logger);
  const httpTls = await loadTls('http.tls', config.http.tls, logger);
  const sources = worker?.sources ?? (await createSources(config, logger, env, metrics));
  const replay = createReplayStore(config, logger, env, worker?.replay);
  const { policySource } = sources;
  const controlLoop = controlLoopFor(config, env, { store, opa, logger, metrics, sources });
  const observability = await startObservability({
    config,
    logger,
    metrics,
    store,
    // A worker's introspection and central-server client live in the primary.
    sources:
      worker === undefined
        ? // Outside a cluster `sources` is what createSources returned (see above).
          (sources as Sources)
        : { introspectors: new Map(), centralServerClient: undefined },
    status: () => controlLoop.status(),
  });
  const pipeline = new CheckPipeline(store, {
    realm: config.realm,
    allowUnknownApis: config.routing.allowUnknownApis,
    maxTokenBytes: config.tokens.maxTokenBytes,
    clockSkewS: config.tokens.clockSkewS,
    tokenCache: {
      maxEntries: config.tokens.cacheMaxEntries,
      maxTtlS: config.tokens.cacheMaxTtlS,
      onLookup: (hit) => {
        metrics.tokenCacheLookups.inc({ result: hit ? 'hit' : 'miss' });
      },
    },
    logger,
    metrics,
    keysForUnknownKid: (issuer, kid) => controlLoop.keysForUnknownKid(issuer, kid),
    keysRefreshedAt: (issuer) => controlLoop.keysRefreshedAt(issuer),
    introspectors: sources.introspectors,
    methodOverride: config.routing.methodOverride,
    observer: observability.observer,
    ...(config.opaEnvoy === undefined
      ? {}
      : { opaEnvoy: { ...config.opaEnvoy, identityHeaders: config.routing.identityHeaders } }),
    dpop: {
      algorithms: config.tokens.dpop.algorithms,
      iatWindowS: config.tokens.dpop.iatWindowS,
      replay: replay.store,
      nonces,
    },
  });

  // Every transport shares one in-flight bound: a flood on one door sheds load for all.
  // Each decided check tells the probe thread the main loop is alive (set once it runs).
  let beat: () => void = () => undefined;
  const admission = new AdmissionControl(pipeline, {
    maxInflightChecks: config.limits.maxInflightChecks,
    maxEventLoopDelayMs: config.limits.maxEventLoopDelayMs,
    realm: config.realm,
    logger,
    metrics,
    onDecided: () => {
      beat();
    },
  });

  // Draining turns every readiness signal false while checks are still answered.
  const readiness = new ReadinessGate();

  // A worker joins a cluster that may be serving: it builds the primary's snapshot before
  // it listens, so a connection handed to it never meets GH_ERR_NO_SNAPSHOT meanwhile.
  const workerStarted = worker === undefined ? undefined : await controlLoop.start();
  // In a worker, ready only while every worker serves the same revision.
  const served = readiness.gate(worker?.serve(admission) ?? admission);
  worker?.attach({ metrics, store });
  const grpc = config.grpc.enabled
    ? await startGrpcServer({
        host: config.grpc.host,
        port: config.grpc.port,
        authorizer: served,
        logger,
        maxReceiveMessageBytes: config.grpc.maxReceiveMessageBytes,
        maxConcurrentStreams: config.grpc.maxConcurrentStreams,
        tls: grpcTls,
        reflection: config.grpc.reflection,
        server: config.grpc.server,
      })
    : undefined;
  const http = config.http.enabled
    ? await startHttpServer({
        host: config.http.host,
        port: config.http.port,
        authorizer: served,
        logger,
        metrics,
        realm: config.realm,
        envoyPathPrefix: config.http.envoyPathPrefix,
        authzen: config.http.authzen,
        trustedProxies,
        maxBodyBytes: config.http.maxBodyBytes,
        status: () => controlLoop.status(),
        statusPage: observability.statusPage,
        tls: httpTls,
      })
    : undefined;
  grpcTls?.watch();
  httpTls?.watch();
  // In a cluster the primary answers probes for every worker.
  const probes =
    config.probes.enabled && worker === undefined
      ? await startProbeServer({
          host: config.probes.host,
          port: config.probes.port,
          authorizer: readiness.gate(pipeline),
          logger,
          metrics,
          status: () => controlLoop.status(),
          statusPage: observability.statusPage,
        })
      : undefined;
  if (probes !== undefined) {
    beat = () => {
      probes.beat();
    };
  }

  // Listen first: until a snapshot is active every check is an explicit deny and health
  // says NOT_SERVING, which is what an orchestrator should see during a slow first sync.
  let ready: boolean;
  try {
    ready = workerStarted ?? (await controlLoop.start());
  } catch (error) {
    controlLoop.stop();
    await Promise.all([grpc?.close(), http?.close(), probes?.close()]);
    await observability.close();
    await Promise.all([sources.close(), replay.close()]);
    grpcTls?.stop();
    httpTls?.stop();
    throw error;
  }

  return {
    grpcPort: grpc?.port,
    httpPort: http?.port,
    probesPort: probes?.port,
    store,
    pipeline,
    admission,
    controlLoop,
    reloadPolicies: () => policySource.refreshNow(),
    ready,
    async drain() {
      readiness.startDraining();
      logger.info({ readinessDelayS: config.shutdown.readinessDelayS }, LOG.drainStarted);
      grpc?.announceHealth();
      await new Promise((resolve) => setTimeout(resolve, config.shutdown.readinessDelayS * 1000));
      logger.info({ drainTimeoutS: config.shutdown.drainTimeoutS }, LOG.drainListenersClosed);
      // Sources stay open meanwhile: an in-flight check may still be waiting on introspection.
      const timeoutMs = config.shutdown.drainTimeoutS * 1000;
      await Promise.all([grpc?.close(timeoutMs), http?.drain(timeoutMs)]);
      logger.info(LOG.drainDone);
      controlLoop.stop();
      await probes?.close();
      await sources.close();
      grpcTls?.stop();
      httpTls?.stop();
    },
    async close() {
      controlLoop.stop();
      admission.close();
      await Promise.all([grpc?.close(), http?.close(), probes?.close()]);
      await Promise.all([grpc?.close(), http?.close(), probes?.close()]);
      await observability.close();
      await Promise.all([sources.close(), replay.close()]);
      grpcTls?.stop();
      httpTls?.stop();
    },
  };
}

/**
 * DPoP server nonces (RFC 9449 section 9). With `tokens.dpop.nonce.secretEnv`, every
 * replica with the same secret accepts the others' nonces; without it the secret is random
 * and the nonces of this process are good here only.
 */
function dpopNonces(config: GatehouseConfig, env: NodeJS.ProcessEnv): DpopNonces {
  const { secretEnv, lifetimeS } = config.tokens.dpop.nonce;
  if (secretEnv === undefined) return new DpopNonces({ lifetimeS });
  const secret = env[secretEnv];
  if (secret === undefined || Buffer.byteLength(secret) < MIN_NONCE_SECRET_BYTES) {
    throw new ConfigError('DPoP nonce secret is missing', [
      `tokens.dpop.nonce.secretEnv: environment variable ${secretEnv} must hold at least ${MIN_NONCE_SECRET_BYTES} bytes`,
    ]);
  }
  return new DpopNonces({ lifetimeS, secret: Buffer.from(secret, 'utf8') });
}

/** A listener's TLS files, read before any port opens: a bad pair is a named config error. */
async function loadTls(
  option: string,
  files: ListenerTlsFiles | undefined,
  logger: Logger,
): Promise<TlsFiles | undefined> {
  if (files === undefined) return undefined;
  try {
    return await TlsFiles.load(files, logger);
  } catch (error) {
    throw new ConfigError('TLS files are not usable', [
      `${option}: ${error instanceof Error ? error.message : String(error)}`,
    ]);
  }
}

/**
 * opa is needed to compile Rego. With a bundle server, bundles that carry policy.wasm load
 * without it, so a host without opa may still run: say so once, and fail only the builds
 * that need compiling.
 */
export async function findOpaFor(
  config: GatehouseConfig,
  logger: Logger,
): Promise<OpaBinary | undefined> {
  try {
    return await findOpa(config.opa.binary);
  } catch (error) {
    if (config.bundle === undefined || !(error instanceof OpaNotFoundError)) throw error;
    logger.warn({ err: error }, LOG.opaMissing);
    return undefined;
  }
}
