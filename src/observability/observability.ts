import type { GatehouseConfig } from '../config/schema.js';
import { gatehouseVersion } from '../cli/version.js';
import type { SnapshotStore } from '../snapshot/snapshot-store.js';
import type { ClientCredentialsTokenSource } from '../net/oauth/client-credentials.js';
import { CheckObservations, type CheckObserver, type CheckTracer } from './check-observer.js';
import { DecisionLog } from './decision-log/decision-log.js';
import type { ServiceCredentials } from './decision-log/service-sink.js';
import { DecisionRates } from './decision-rates.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { registerRuntimeMetrics } from './runtime-metrics.js';
import { StatusPage } from './status-page.js';

export interface ObservabilityOptions {
  readonly config: GatehouseConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly store: SnapshotStore;
  readonly sources: {
    readonly introspectors: ReadonlyMap<string, { stats(): { cacheHits: number } | undefined }>;
    readonly centralServerClient: ClientCredentialsTokenSource | undefined;
  };
  /** ControlLoop.status(). */
  readonly status: () => Record<string, unknown>;
}

export interface Observability {
  readonly observer: CheckObserver;
  readonly statusPage: StatusPage;
  close(): Promise<void>;
}

/**
 * Decision logs, scrape-time metrics, traces and the status page, wired once. The check
 * path sees only `observer`; sending and scraping happen here, off it.
 */
export async function startObservability(options: ObservabilityOptions): Promise<Observability> {
  const { config, logger, metrics, store } = options;
  const client = options.sources.centralServerClient;
  const credentials: ServiceCredentials | undefined =
    client === undefined
      ? undefined
      : {
          headers: () => client.authorizationHeader(),
          invalidate: () => {
            client.invalidate();
          },
          dispatcher: client.dispatcher(),
        };
  const decisionLog = new DecisionLog({
    config: config.decisionLogs,
    metrics,
    logger,
    version: gatehouseVersion(),
    credentials,
  });
  const rates = new DecisionRates();
  const stopRuntime = registerRuntimeMetrics(metrics, {
    snapshot: () => store.current(),
    status: options.status,
    introspectionCacheHits: () =>
      new Map(
        [...options.sources.introspectors].map(([issuer, introspector]) => [
          issuer,
          introspector.stats()?.cacheHits ?? 0,
        ]),
      ),
  });
  // The OpenTelemetry SDK and exporter are loaded only when tracing is configured: without
  // it they would only cost memory (~14 MiB RSS measured on import).
  const tracing =
    config.tracing.otlpEndpoint === undefined
      ? undefined
      : await (await import('./tracing.js')).startTracing(config.tracing, logger);
  const tracer: CheckTracer | undefined = tracing;
  return {
    observer: new CheckObservations({ metrics, logger, decisionLog, rates, tracer }),
    statusPage: new StatusPage({ status: options.status, rates, metrics }),
    async close() {
      await decisionLog.close();
      await tracing?.close();
      stopRuntime();
    },
  };
}
