import type { JSONWebKeySet } from 'jose';
import { buildIssuerKeys, type IssuerKeys } from '../auth/issuer-keys.js';
import { staleKeysReason } from '../auth/key-freshness.js';
import { assessSigningKeys } from '../auth/usable-signing-keys.js';
import type { GatehouseConfig, IssuerConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { LOG } from '../observability/log-messages.js';
import type { Metrics } from '../observability/metrics.js';
import type { OpaBinary } from '../policy/opa-binary.js';
import { buildSnapshot, type PolicyInputs } from '../snapshot/build-snapshot.js';
import type { SnapshotStore } from '../snapshot/snapshot-store.js';
import type { LastKnownGoodStore } from './last-known-good.js';
import { issuerHmacSecrets } from './issuer-secrets.js';
import type { KeySource, PolicySource } from './sources.js';

/** What a snapshot build takes from the config. */
export interface SnapshotBuildConfig {
  /** The issuers, in config order: every one is known to the snapshot. */
  readonly issuers: readonly IssuerConfig[];
  readonly compileCacheDir: GatehouseConfig['policies']['compileCacheDir'];
  readonly buildTimeoutMs: GatehouseConfig['opa']['buildTimeoutMs'];
  readonly identityHeaders: GatehouseConfig['routing']['identityHeaders'];
  /** `opaEnvoy.path` in OPA-Envoy compatibility mode, else undefined. */
  readonly opaEnvoyPath: string | undefined;
}

/** The control loop's slice of the config. */
export function snapshotBuildConfig(config: GatehouseConfig): SnapshotBuildConfig {
  return {
    issuers: config.issuers,
    compileCacheDir: config.policies.compileCacheDir,
    buildTimeoutMs: config.opa.buildTimeoutMs,
    identityHeaders: config.routing.identityHeaders,
    opaEnvoyPath: config.opaEnvoy?.path,
  };
}

export interface ControlLoopOptions {
  readonly config: SnapshotBuildConfig;
  /** The HMAC secret of each issuer with hmacSecretEnv, by issuer (see issuerHmacSecrets). */
  readonly hmacSecrets: ReadonlyMap<string, string>;
  readonly store: SnapshotStore;
  /** Undefined when no opa is installed: then only bundles carrying policy.wasm can load. */
  readonly opa: OpaBinary | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly policySource: PolicySource;
  /** One per configured issuer with public keys, by issuer. */
  readonly keySources: ReadonlyMap<string, KeySource>;
  readonly lastKnownGood: LastKnownGoodStore | undefined;
}

/**
 * The control loop of one Gatehouse from its config and sources: the single-process app
 * and the workers' primary both build it this way (the workers then only receive
 * snapshots).
 */
export function controlLoopFor(
  config: GatehouseConfig,
  env: NodeJS.ProcessEnv,
  parts: Pick<ControlLoopOptions, 'store' | 'opa' | 'logger' | 'metrics'> & {
    readonly sources: Pick<ControlLoopOptions, 'policySource' | 'keySources' | 'lastKnownGood'>;
  },
): ControlLoop {
  const { sources, ...rest } = parts;
  return new ControlLoop({
    ...rest,
    config: snapshotBuildConfig(config),
    hmacSecrets: issuerHmacSecrets(config.issuers, env),
    policySource: sources.policySource,
    keySources: sources.keySources,
    lastKnownGood: sources.lastKnownGood,
  });
}

interface BuildRecord {
  readonly at: number;
  readonly ok: boolean;
  readonly origin: string;
  readonly error?: string;
}

/**
 * The slow loop: sources deliver policy inputs and keys; it builds whole snapshots and
 * activates them. It never runs on the check path. Builds run one at a time, in order; a
 * failed build keeps the previous snapshot serving. Every activated snapshot's inputs are
 * saved as last-known-good, and at start-up that copy serves before any source answers.
 */
export class ControlLoop {
  private queue: Promise<unknown> = Promise.resolve();
  private rebuildQueued = false;
  /** The inputs of the active snapshot: key changes rebuild from these. */
  private activeInputs: PolicyInputs | undefined;
  /** Keys restored from last-known-good, used until an issuer's source has loaded. */
  private restoredKeys = new Map<string, IssuerKeys>();
  /** When the restored keys were loaded (epoch ms), as last-known-good recorded it. */
  private restoredLoadedAt = new Map<string, number>();
  private lastBuild: BuildRecord | undefined;
  private readonly unsubscribers: Array<() => void> = [];

  constructor(private readonly options: ControlLoopOptions) {}

  /** Restores last-known-good, starts the sources, builds. Resolves with whether a snapshot is active. */
  async start(): Promise<boolean> {
    await this.restoreLastKnownGood();
    for (const source of this.options.keySources.values()) {
      this.unsubscribers.push(
        source.onChange(() => {
          void this.rebuild('keys');
        }),
      );
    }
    await Promise.all([...this.options.keySources.values()].map((source) => source.start()));
    await this.options.policySource.start((inputs) =>
      this.submit(inputs, this.options.policySource.kind),
    );
    return this.options.store.current() !== undefined;
  }

  stop(): void {
    this.options.policySource.stop();
    for (const source of this.options.keySources.values()) source.stop();
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
  }

  /** Builds a snapshot from new policy inputs; resolves with whether it was activated. */
  submit(inputs: PolicyInputs, origin: string): Promise<boolean> {
    return this.enqueue(() => this.buildAndActivate(inputs, origin));
  }

  /** Rebuilds the active inputs with the current keys (after a key change). */
  rebuild(origin: string): Promise<boolean> {
    if (this.rebuildQueued) return Promise.resolve(true);
    this.rebuildQueued = true;
    return this.enqueue(() => {
      this.rebuildQueued = false;
      const inputs = this.activeInputs;
      return inputs === undefined ? Promise.resolve(false) : this.buildAndActivate(inputs, origin);
    });
  }

  /**
   * For the check path: a token named a `kid` the snapshot does not know. Asks the issuer's
   * source for a refresh (at most one per cooldown, one fetch in flight) and returns the new
   * keys when the kid is now known; the snapshot catches up in the background.
   */
  async keysForUnknownKid(issuer: string, kid: string): Promise<IssuerKeys | undefined> {
    const source = this.options.keySources.get(issuer);
    if (source === undefined || !(await source.refreshForUnknownKid(kid))) return undefined;
    return source.current();
  }

  /**
   * For the check path (maxKeyStalenessS): when the keys builds use for `issuer` were last
   * loaded successfully, read live: the source's last success (a refresh that finds the
   * same keys counts, though it builds no snapshot), else the restored keys' original load
   * time, never the restart's.
   */
  keysRefreshedAt(issuer: string): number | undefined {
    const source = this.options.keySources.get(issuer);
    if (source?.current() !== undefined) return source.lastSuccessAt();
    return this.restoredKeys.has(issuer) ? this.restoredLoadedAt.get(issuer) : undefined;
  }

  status(): Record<string, unknown> {
    const snapshot = this.options.store.current();
    return {
      ready: snapshot !== undefined,
      snapshot:
        snapshot === undefined
          ? null
          : {
              revision: snapshot.revision,
              sourceRevision: snapshot.sourceRevision ?? null,
              createdAt: snapshot.createdAt.toISOString(),
              apis: snapshot.catalog.apis.length,
              policies: snapshot.catalog.packages.length,
            },
      lastBuild: this.lastBuild ?? null,
      policySource: this.options.policySource.status(),
      issuers: Object.fromEntries(
        [...this.options.keySources].map(([issuer, source]) => [
          issuer,
          { ...(source.status() as object), ...this.freshness(issuer) },
        ]),
      ),
    };
  }

  /** The keys' age as the check path judges it (maxKeyStalenessS), for status(). */
  private freshness(issuer: string): Record<string, unknown> {
    const refreshedAt = this.keysRefreshedAt(issuer);
    const config = this.options.config.issuers.find((entry) => entry.issuer === issuer);
    return {
      keysRefreshedAt: refreshedAt === undefined ? null : new Date(refreshedAt).toISOString(),
      maxKeyStalenessS: config?.maxKeyStalenessS ?? null,
      keysStale:
        config === undefined
          ? false
          : staleKeysReason(config, refreshedAt, Date.now()) !== undefined,
    };
  }

  private enqueue(task: () => Promise<boolean>): Promise<boolean> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private currentKeys(): IssuerKeys[] {
    return this.options.config.issuers.map((issuer) => {
      const fromSource = this.options.keySources.get(issuer.issuer)?.current();
      if (fromSource !== undefined) return fromSource;
      const restored = this.restoredKeys.get(issuer.issuer);
      if (restored !== undefined) return restored;
      // No keys (yet): the issuer stays known, and its tokens fail as signed by an unknown key.
      return buildIssuerKeys(issuer, undefined, this.options.hmacSecrets.get(issuer.issuer));
    });
  }

  private async buildAndActivate(inputs: PolicyInputs, origin: string): Promise<boolean> {
    const { config, store, logger, metrics, opa } = this.options;
    const sequence = store.beginBuild();
    const started = Date.now();
    try {
      const { snapshot, compiled } = await buildSnapshot(
        inputs,
        this.currentKeys(),
        { opa, cacheDir: config.compileCacheDir, timeoutMs: config.buildTimeoutMs },
        store.current(),
        config.identityHeaders,
        config.opaEnvoyPath,
      );
      this.lastBuild = { at: Date.now(), ok: true, origin };
      if (store.current()?.revision === snapshot.revision) {
        this.activeInputs = inputs;
        return true;
      }
      if (!store.activate(snapshot, sequence)) {
        metrics.snapshotBuilds.inc({ result: 'stale' });
        return false;
      }
      this.activeInputs = inputs;
      metrics.snapshotBuilds.inc({ result: 'activated' });
      logger.info(
        {
          revision: snapshot.revision,
          sourceRevision: snapshot.sourceRevision,
          origin,
          apis: snapshot.catalog.apis.length,
          policies: snapshot.catalog.packages.length,
          wasm: compiled,
          ms: Date.now() - started,
        },
        LOG.snapshotActivated,
      );
      if (origin !== 'last-known-good') await this.saveLastKnownGood(inputs);
      return true;
    } catch (error) {
      metrics.snapshotBuilds.inc({ result: 'failed' });
      this.lastBuild = { at: Date.now(), ok: false, origin, error: String(error) };
      logger.error(
        { err: error, origin, revision: store.current()?.revision ?? null },
        LOG.snapshotRejected,
      );
      return false;
    }
  }

  private async restoreLastKnownGood(): Promise<void> {
    const lkg = this.options.lastKnownGood;
    if (lkg === undefined) return;
    const loaded = await lkg.load();
    if (!loaded.ok) {
      if (!loaded.missing)
        this.options.logger.warn({ reason: loaded.reason }, LOG.lastKnownGoodIgnored);
      return;
    }
    for (const issuer of this.options.config.issuers) {
      const keySet = loaded.state.issuers[issuer.issuer];
      if (keySet === undefined) continue;
      const secret = this.options.hmacSecrets.get(issuer.issuer);
      try {
        // Saved keys that cannot verify what the issuer is configured for now (its
        // algorithms changed) are no fallback: they would refuse every token.
        const { usable, refused } = await assessSigningKeys(keySet, issuer.algorithms);
        if (usable.length === 0) {
          this.options.logger.warn(
            { issuer: issuer.issuer, refused },
            LOG.lastKnownGoodKeysUnusable,
          );
          continue;
        }
        this.restoredKeys.set(issuer.issuer, buildIssuerKeys(issuer, keySet, secret));
      } catch (error) {
        this.options.logger.warn({ err: error, issuer: issuer.issuer }, LOG.lastKnownGoodIgnored);
        continue;
      }
      const loadedAt = Date.parse(loaded.state.keysLoadedAt?.[issuer.issuer] ?? '');
      if (Number.isFinite(loadedAt)) {
        this.restoredLoadedAt.set(issuer.issuer, loadedAt);
        this.options.metrics.jwksLastSuccess.set({ issuer: issuer.issuer }, loadedAt / 1000);
      }
    }
    const policy = loaded.state.policy;
    const activated = await this.submit(
      {
        catalogText: policy.catalogText,
        regoFiles: policy.regoFiles,
        data: policy.data,
        wasm:
          policy.wasmBase64 === undefined ? undefined : Buffer.from(policy.wasmBase64, 'base64'),
        sourceRevision: policy.sourceRevision,
      },
      'last-known-good',
    );
    this.options.logger.info(
      { activated, savedAt: loaded.state.savedAt },
      LOG.lastKnownGoodRestored,
    );
  }

  private async saveLastKnownGood(inputs: PolicyInputs): Promise<void> {
    const lkg = this.options.lastKnownGood;
    if (lkg === undefined) return;
    const issuers: Record<string, JSONWebKeySet> = {};
    const keysLoadedAt: Record<string, string> = {};
    for (const keys of this.currentKeys()) {
      if (keys.keySet === undefined) continue;
      issuers[keys.config.issuer] = keys.keySet;
      const loadedAt = this.keysRefreshedAt(keys.config.issuer);
      if (loadedAt !== undefined) {
        keysLoadedAt[keys.config.issuer] = new Date(loadedAt).toISOString();
      }
    }
    try {
      await lkg.save({
        savedAt: new Date().toISOString(),
        policy: {
          catalogText: inputs.catalogText,
          regoFiles: inputs.regoFiles,
          data: inputs.data,
          wasmBase64: inputs.wasm?.toString('base64'),
          sourceRevision: inputs.sourceRevision,
        },
        issuers,
        keysLoadedAt,
      });
    } catch (error) {
      // Serving goes on; only the next restart loses the head start.
      this.options.logger.error({ err: error, dir: lkg.dir }, LOG.lastKnownGoodSaveFailed);
    }
  }
}
