import { buildIssuerKeys, type IssuerKeys } from '../auth/issuer-keys.js';
import type { GatehouseConfig, IssuerConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { LOG } from '../observability/log-messages.js';
import type { Metrics } from '../observability/metrics.js';
import type { OpaBinary } from '../policy/opa-binary.js';
import { buildSnapshot } from '../snapshot/build-snapshot.js';
import type { SnapshotStore } from '../snapshot/snapshot-store.js';
import { loadIssuerKeys } from './jwks-loader.js';
import { readPolicyFolder, watchPolicyFolder } from './local-folder-source.js';

export interface ControlLoopOptions {
  readonly config: GatehouseConfig;
  readonly store: SnapshotStore;
  readonly opa: OpaBinary;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The slow loop: reads sources, builds whole snapshots and activates them. It never runs
 * on the check path. One build at a time; a change that arrives during a build triggers
 * exactly one more build after it. A failed build keeps the previous snapshot serving.
 */
export class ControlLoop {
  private building: Promise<boolean> | undefined;
  private rebuildRequested = false;
  private readonly stoppers: Array<() => void> = [];
  /** Last good keys per issuer: a failed JWKS refresh keeps serving the previous keys. */
  private readonly keys = new Map<string, IssuerKeys>();

  constructor(private readonly options: ControlLoopOptions) {}

  /** Builds the first snapshot and starts watching. Resolves with whether it activated one. */
  async start(): Promise<boolean> {
    // URL key sets here; key files are read by every build.
    await this.refreshKeys((issuer) => issuer.jwksUrl !== undefined);
    const activated = await this.reload();
    const { config } = this.options;
    if (config.policies.watch) {
      this.stoppers.push(
        watchPolicyFolder(config.policies.dir, config.policies.watchDebounceMs, () => {
          void this.reload();
        }),
      );
    }
    for (const issuer of config.issuers) {
      if (issuer.jwksUrl === undefined) continue;
      const timer = setInterval(() => {
        void this.refreshKeys((candidate) => candidate === issuer).then(() => this.reload());
      }, issuer.jwksRefreshIntervalS * 1000);
      timer.unref();
      this.stoppers.push(() => {
        clearInterval(timer);
      });
    }
    return activated;
  }

  stop(): void {
    for (const stop of this.stoppers.splice(0)) stop();
  }

  /** Rebuilds from the sources; coalesces concurrent requests. Resolves with whether it activated. */
  reload(): Promise<boolean> {
    if (this.building !== undefined) {
      this.rebuildRequested = true;
      return this.building;
    }
    this.building = this.buildAndActivate().finally(() => {
      this.building = undefined;
      if (this.rebuildRequested) {
        this.rebuildRequested = false;
        void this.reload();
      }
    });
    return this.building;
  }

  private async buildAndActivate(): Promise<boolean> {
    const { config, store, logger, metrics, opa } = this.options;
    const sequence = store.beginBuild();
    const started = Date.now();
    try {
      // Key files are cheap to re-read and may have changed with the policies.
      await this.refreshKeys((issuer) => issuer.jwksUrl === undefined);
      const inputs = await readPolicyFolder(config.policies.dir, config.policies.catalogFile);
      const { snapshot, compiled } = await buildSnapshot(
        inputs,
        [...this.keys.values()],
        { opa, cacheDir: config.policies.compileCacheDir, timeoutMs: config.opa.buildTimeoutMs },
        store.current(),
      );
      if (store.current()?.revision === snapshot.revision) return true;
      if (!store.activate(snapshot, sequence)) {
        metrics.snapshotBuilds.inc({ result: 'stale' });
        return false;
      }
      metrics.snapshotBuilds.inc({ result: 'activated' });
      logger.info(
        {
          revision: snapshot.revision,
          apis: snapshot.catalog.apis.length,
          policies: snapshot.catalog.packages.length,
          wasm: compiled,
          ms: Date.now() - started,
        },
        LOG.snapshotActivated,
      );
      return true;
    } catch (error) {
      metrics.snapshotBuilds.inc({ result: 'failed' });
      logger.error(
        { err: error, revision: store.current()?.revision ?? null },
        LOG.snapshotRejected,
      );
      return false;
    }
  }

  private async refreshKeys(which: (issuer: IssuerConfig) => boolean = () => true): Promise<void> {
    const { config, logger } = this.options;
    await Promise.all(
      config.issuers.filter(which).map(async (issuer) => {
        try {
          const keys = await loadIssuerKeys(issuer, {
            timeoutMs: 5000,
            maxBytes: 1024 * 1024,
            env: this.options.env ?? process.env,
          });
          this.keys.set(issuer.issuer, keys);
          logger.info({ issuer: issuer.issuer, kids: keys.keyIds }, LOG.jwksLoaded);
        } catch (error) {
          // Keep the previous keys for this issuer; without any, its tokens are rejected
          // as signed by an unknown key (the issuer itself stays known).
          logger.error({ err: error, issuer: issuer.issuer }, LOG.jwksFailed);
          if (!this.keys.has(issuer.issuer)) {
            this.keys.set(issuer.issuer, buildIssuerKeys(issuer, undefined, undefined));
          }
        }
      }),
    );
  }
}
