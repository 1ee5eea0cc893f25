import type { JSONWebKeySet } from 'jose';
import { buildIssuerKeys, type IssuerKeys } from '../auth/issuer-keys.js';
import type { IntrospectionResult } from '../auth/introspection/introspection-client.js';
import type { DpopReplayStore } from '../auth/dpop/replay-store.js';
import type { TokenIntrospector } from '../check/authenticate.js';
import type { Authorizer } from '../check/authorizer.js';
import type { GatehouseConfig, IssuerConfig } from '../config/schema.js';
import { Gauge } from 'prom-client';
import type { Metrics } from '../observability/metrics.js';
import type { PolicyInputs } from '../snapshot/build-snapshot.js';
import type { SnapshotStore } from '../snapshot/snapshot-store.js';
import type { KeySource, PolicySource } from '../sync/sources.js';
import type { KeysRefreshedAtMap, SnapshotParts } from './messages.js';
import type { RpcChannel } from './rpc.js';

/** Time limits of the worker's questions to the primary, in milliseconds. */
export const WORKER_RPC_TIMEOUT_MS = {
  /** The primary answers from memory; past this the proof is denied (GH_ERR_DPOP_REPLAY_UNCHECKED). */
  replay: 2000,
  /** Above any introspection timeoutMs the schema allows plus the discovery. */
  introspect: 30_000,
  unknownKid: 15_000,
  clusterMetrics: 10_000,
} as const;

/** What a worker process hands startGatehouse instead of its own sources (see app.ts). */
export interface WorkerRole {
  readonly workerId: number;
  readonly sources: {
    readonly policySource: PolicySource;
    readonly keySources: Map<string, KeySource>;
    readonly lastKnownGood: undefined;
    /** Decision logs from a worker go out without the central-server token (the primary holds it). */
    readonly centralServerClient: undefined;
    readonly introspectors: ReadonlyMap<string, TokenIntrospector>;
    close(): Promise<void>;
  };
  /** The primary's replay set, asked over IPC (a shared Redis store takes precedence). */
  readonly replay: DpopReplayStore;
  /** The authorizer the transports see: ready only while every worker serves one revision. */
  serve(authorizer: Authorizer): Authorizer;
  /** Connects the worker's metrics (answered to the primary; /metrics shows the cluster's). */
  attach(parts: { readonly metrics: Metrics; readonly store: SnapshotStore }): void;
}

/**
 * The worker's end of the cluster: it builds no snapshot inputs of its own. The primary's
 * control loop syncs and compiles; each activated snapshot arrives whole (WebAssembly bytes,
 * catalog, data, key sets) and is delivered to the worker's control loop like a policy
 * source's delivery, so the build, the checks and the swap (one assignment) are the same
 * code as in a single process. DPoP replay and introspection go to the primary, so they
 * hold across workers.
 */
export class WorkerLink implements WorkerRole {
  readonly workerId: number;
  readonly sources: WorkerRole['sources'];
  readonly replay: DpopReplayStore;
  readonly #policySource: PrimaryPolicySource;
  readonly #keySources = new Map<string, PrimaryKeySource>();
  #clusterReady: boolean;

  constructor(
    private readonly rpc: RpcChannel,
    private readonly send: (message: unknown) => void,
    init: {
      readonly workerId: number;
      readonly config: GatehouseConfig;
      readonly snapshot: SnapshotParts | undefined;
      readonly refreshedAt: KeysRefreshedAtMap;
      readonly clusterReady: boolean;
      readonly env: NodeJS.ProcessEnv;
    },
  ) {
    this.workerId = init.workerId;
    this.#clusterReady = init.clusterReady;
    for (const issuer of init.config.issuers) {
      const secret =
        issuer.hmacSecretEnv === undefined ? undefined : init.env[issuer.hmacSecretEnv];
      this.#keySources.set(issuer.issuer, new PrimaryKeySource(issuer, secret, rpc));
    }
    this.#policySource = new PrimaryPolicySource(init.workerId, this.#keySources);
    const introspectors = new Map<string, TokenIntrospector>();
    for (const issuer of init.config.issuers) {
      if (issuer.introspection !== undefined) {
        introspectors.set(issuer.issuer, new PrimaryIntrospector(issuer.issuer, rpc));
      }
    }
    this.sources = {
      policySource: this.#policySource,
      keySources: this.#keySources,
      lastKnownGood: undefined,
      centralServerClient: undefined,
      introspectors,
      close: () => Promise.resolve(),
    };
    const iatWindowS = init.config.tokens.dpop.iatWindowS;
    this.replay = {
      iatWindowS,
      seen: async (jti, jkt) =>
        (await rpc.request({ kind: 'replay', jti, jkt }, WORKER_RPC_TIMEOUT_MS.replay)) === true,
    };
    this.freshness(init.refreshedAt);
    if (init.snapshot !== undefined) this.#policySource.receive(init.snapshot);
  }

  serve(authorizer: Authorizer): Authorizer {
    return {
      check: (input) => authorizer.check(input),
      isReady: () => this.#clusterReady && authorizer.isReady(),
    };
  }

  attach({ metrics, store }: { readonly metrics: Metrics; readonly store: SnapshotStore }): void {
    const registry = metrics.registry;
    const worker = String(this.workerId);
    // Per worker (distinct label values survive the aggregation): shows the load spreads.
    new Gauge({
      name: 'gatehouse_worker_checks_decided',
      help: 'Checks this worker decided since it started, by worker slot and transport.',
      labelNames: ['worker', 'transport'] as const,
      registers: [registry],
      async collect() {
        const totals = new Map<string, number>();
        for (const entry of (await metrics.decisionsByTransport.get()).values) {
          const transport = String(entry.labels.transport);
          totals.set(transport, (totals.get(transport) ?? 0) + entry.value);
        }
        for (const [transport, total] of totals) this.set({ worker, transport }, total);
      },
    });
    // /metrics on the shared check port lands on any worker: it shows the whole cluster.
    registry.metrics = async () =>
      String(
        await this.rpc.request({ kind: 'clusterMetrics' }, WORKER_RPC_TIMEOUT_MS.clusterMetrics),
      );
    this.rpc.serve(async (request) => {
      if (request.kind === 'workerMetrics') return registry.getMetricsAsJSON();
      throw new Error(`a worker does not answer ${request.kind}`);
    });
    store.onActivate((snapshot) => {
      this.send({ t: 'revision', revision: snapshot.revision });
    });
    const current = store.current();
    if (current !== undefined) this.send({ t: 'revision', revision: current.revision });
  }

  /** A snapshot the primary activated. */
  snapshot(parts: SnapshotParts, refreshedAt: KeysRefreshedAtMap): void {
    this.freshness(refreshedAt);
    this.#policySource.receive(parts);
  }

  freshness(refreshedAt: KeysRefreshedAtMap): void {
    for (const [issuer, source] of this.#keySources) source.setRefreshedAt(refreshedAt[issuer]);
  }

  clusterReady(ready: boolean): void {
    this.#clusterReady = ready;
  }
}

/** The primary's snapshots as a policy source: each is delivered once, in order. */
class PrimaryPolicySource implements PolicySource {
  readonly kind = 'primary';
  #deliver: ((inputs: PolicyInputs) => Promise<boolean>) | undefined;
  #latest: SnapshotParts | undefined;
  #activated: string | undefined;

  constructor(
    private readonly workerId: number,
    private readonly keySources: ReadonlyMap<string, PrimaryKeySource>,
  ) {}

  async start(deliver: (inputs: PolicyInputs) => Promise<boolean>): Promise<void> {
    this.#deliver = deliver;
    await this.deliverLatest();
  }

  stop(): void {
    this.#deliver = undefined;
  }

  refreshNow(): Promise<boolean> {
    return this.deliverLatest();
  }

  status(): unknown {
    return { kind: this.kind, worker: this.workerId, revision: this.#activated ?? null };
  }

  receive(parts: SnapshotParts): void {
    this.#latest = parts;
    if (this.#deliver !== undefined) void this.deliverLatest();
  }

  private async deliverLatest(): Promise<boolean> {
    const parts = this.#latest;
    const deliver = this.#deliver;
    if (parts === undefined || deliver === undefined) return false;
    // The keys first: the control loop builds with what the key sources hold now.
    for (const [issuer, source] of this.keySources) source.setKeySet(parts.keySets[issuer]);
    const activated = await deliver({
      catalogText: parts.catalogText,
      regoFiles: [],
      data: parts.data,
      wasm: Buffer.from(parts.wasm.buffer, parts.wasm.byteOffset, parts.wasm.byteLength),
      sourceRevision: parts.sourceRevision,
      policyHash: parts.policyHash,
    });
    if (activated) this.#activated = parts.revision;
    return activated;
  }
}

/**
 * One issuer's keys as the primary's snapshot carries them. Changes arrive with the next
 * snapshot (so onChange never fires); an unknown kid asks the primary's key source, which
 * refreshes within its cooldown for the whole cluster.
 */
class PrimaryKeySource implements KeySource {
  #keys: IssuerKeys | undefined;
  #keySet: JSONWebKeySet | undefined;
  #refreshedAt: number | undefined;

  constructor(
    private readonly config: IssuerConfig,
    private readonly hmacSecret: string | undefined,
    private readonly rpc: RpcChannel,
  ) {}

  start(): Promise<boolean> {
    return Promise.resolve(this.#keys !== undefined);
  }

  stop(): void {
    // Nothing runs here: the primary's source has the timers.
  }

  current(): IssuerKeys | undefined {
    return this.#keys;
  }

  lastSuccessAt(): number | undefined {
    return this.#refreshedAt;
  }

  onChange(): () => void {
    return () => undefined;
  }

  async refreshForUnknownKid(kid: string): Promise<boolean> {
    let keySet: unknown;
    try {
      keySet = await this.rpc.request(
        { kind: 'unknownKid', issuer: this.config.issuer, kid },
        WORKER_RPC_TIMEOUT_MS.unknownKid,
      );
    } catch {
      return false;
    }
    if (keySet === null || keySet === undefined) return false;
    this.setKeySet(keySet as JSONWebKeySet);
    return this.#keys?.keyIds.includes(kid) ?? false;
  }

  status(): unknown {
    return { source: 'primary', keyIds: this.#keys?.keyIds ?? [] };
  }

  setKeySet(keySet: JSONWebKeySet | undefined): void {
    if (keySet === this.#keySet) return;
    this.#keySet = keySet;
    this.#keys =
      keySet === undefined ? undefined : buildIssuerKeys(this.config, keySet, this.hmacSecret);
  }

  setRefreshedAt(at: number | undefined): void {
    this.#refreshedAt = at;
  }
}

/** Introspection by the primary's client: one cache, one request in flight per token, one budget. */
class PrimaryIntrospector implements TokenIntrospector {
  constructor(
    private readonly issuer: string,
    private readonly rpc: RpcChannel,
  ) {}

  async introspect(token: string): Promise<IntrospectionResult> {
    try {
      return (await this.rpc.request(
        { kind: 'introspect', issuer: this.issuer, token },
        WORKER_RPC_TIMEOUT_MS.introspect,
      )) as IntrospectionResult;
    } catch (error) {
      return {
        kind: 'unavailable',
        code: 'GH_INTROSPECTION_NETWORK',
        reason: `the primary did not answer the introspection: ${String(error)}`,
      };
    }
  }
}
