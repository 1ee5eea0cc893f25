import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge } from 'prom-client';
import type { Snapshot } from '../snapshot/snapshot.js';
import type { Metrics } from './metrics.js';

/** What the scrape-time series read: all of it is already kept by the control loop. */
export interface RuntimeSources {
  readonly snapshot: () => Snapshot | undefined;
  /** ControlLoop.status(): the policy source's and each issuer's key source's status. */
  readonly status: () => Record<string, unknown>;
  /** Introspection cache hits per issuer (counters that only grow). */
  readonly introspectionCacheHits: () => ReadonlyMap<string, number>;
}

/** A status field that is a time: a Date, epoch milliseconds or an ISO string. */
function timeMs(value: unknown): number | undefined {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  return undefined;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

interface SourceRow {
  readonly source: string;
  readonly kind: string;
  readonly lastSuccessMs: number | undefined;
  readonly consecutiveFailures: number;
  readonly revision: string;
}

/** Every source in ControlLoop.status(): the policy source, then each issuer's keys. */
export function sourceRows(status: Record<string, unknown>): SourceRow[] {
  const rows: SourceRow[] = [];
  const policy = record(status.policySource);
  if (Object.keys(policy).length > 0) {
    rows.push({
      source: 'policy',
      kind: typeof policy.kind === 'string' ? policy.kind : 'policy',
      lastSuccessMs: timeMs(policy.lastSuccessAt),
      consecutiveFailures: Number(policy.consecutiveFailures ?? 0),
      revision: typeof policy.revision === 'string' ? policy.revision : '',
    });
  }
  for (const [issuer, value] of Object.entries(record(status.issuers))) {
    const entry = record(value);
    rows.push({
      source: issuer,
      kind: 'issuer_keys',
      lastSuccessMs: timeMs(entry.lastSuccessAt),
      consecutiveFailures: Number(entry.consecutiveFailures ?? 0),
      revision: Array.isArray(entry.keyIds) ? entry.keyIds.join(',') : '',
    });
  }
  return rows;
}

/**
 * The series read at scrape time from state that already exists (no bookkeeping on the
 * check path): snapshot, sources, introspection cache, event-loop delay. Returns a stop
 * function for the event-loop monitor.
 */
export function registerRuntimeMetrics(metrics: Metrics, sources: RuntimeSources): () => void {
  const registers = [metrics.registry];
  new Gauge({
    name: 'gatehouse_snapshot_active',
    help: 'Whether a snapshot is active (1) or not yet (0: every check is GH_ERR_NO_SNAPSHOT).',
    registers,
    collect() {
      this.set(sources.snapshot() === undefined ? 0 : 1);
    },
  });
  new Gauge({
    name: 'gatehouse_snapshot_age_seconds',
    help: 'Seconds since the active snapshot was built (absent without one).',
    registers,
    collect() {
      this.reset();
      const snapshot = sources.snapshot();
      if (snapshot !== undefined) this.set((Date.now() - snapshot.createdAt.getTime()) / 1000);
    },
  });
  new Gauge({
    name: 'gatehouse_snapshot_info',
    help: 'The active snapshot: revision, the source revision (bundle manifest) and API count as labels; always 1.',
    labelNames: ['revision', 'source_revision'] as const,
    registers,
    collect() {
      this.reset();
      const snapshot = sources.snapshot();
      if (snapshot === undefined) return;
      this.set({ revision: snapshot.revision, source_revision: snapshot.sourceRevision ?? '' }, 1);
    },
  });
  new Gauge({
    name: 'gatehouse_snapshot_apis',
    help: 'APIs in the active snapshot catalog.',
    registers,
    collect() {
      this.reset();
      const snapshot = sources.snapshot();
      if (snapshot !== undefined) this.set(snapshot.catalog.apis.length);
    },
  });
  new Gauge({
    name: 'gatehouse_source_last_success_timestamp_seconds',
    help: 'When each source (the policy source, each issuer key source) last loaded successfully, in Unix seconds.',
    labelNames: ['source', 'kind'] as const,
    registers,
    collect() {
      this.reset();
      for (const row of sourceRows(sources.status())) {
        if (row.lastSuccessMs !== undefined) {
          this.set({ source: row.source, kind: row.kind }, row.lastSuccessMs / 1000);
        }
      }
    },
  });
  new Gauge({
    name: 'gatehouse_source_consecutive_failures',
    help: 'Failed loads of each source since its last success.',
    labelNames: ['source', 'kind'] as const,
    registers,
    collect() {
      this.reset();
      for (const row of sourceRows(sources.status())) {
        this.set({ source: row.source, kind: row.kind }, row.consecutiveFailures);
      }
    },
  });
  new Gauge({
    name: 'gatehouse_source_info',
    help: 'Each source and what it last loaded (the policy revision, the key ids) as labels; always 1.',
    labelNames: ['source', 'kind', 'revision'] as const,
    registers,
    collect() {
      this.reset();
      for (const row of sourceRows(sources.status())) {
        this.set({ source: row.source, kind: row.kind, revision: row.revision }, 1);
      }
    },
  });
  new Counter({
    name: 'gatehouse_introspection_cache_hits_total',
    help: 'Opaque tokens answered from the introspection cache, by issuer.',
    labelNames: ['issuer'] as const,
    registers,
    collect() {
      // The introspection clients count; a counter that only grows is copied as it is.
      this.reset();
      for (const [issuer, hits] of sources.introspectionCacheHits()) this.inc({ issuer }, hits);
    },
  });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  new Gauge({
    name: 'gatehouse_event_loop_delay_seconds',
    help: 'Event-loop delay since the previous scrape, by quantile (0.5, 0.99, 1 = max), in seconds.',
    labelNames: ['quantile'] as const,
    registers,
    collect() {
      if (delay.count === 0) return;
      this.set({ quantile: '0.5' }, delay.percentile(50) / 1e9);
      this.set({ quantile: '0.99' }, delay.percentile(99) / 1e9);
      this.set({ quantile: '1' }, delay.max / 1e9);
      delay.reset();
    },
  });
  return () => {
    delay.disable();
  };
}
