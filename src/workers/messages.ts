import type { JSONWebKeySet } from 'jose';
import type { GatehouseConfig } from '../config/schema.js';

/**
 * What the primary and its workers say to each other over the cluster IPC channel (advanced
 * serialization: structured clone, so WebAssembly bytes travel as bytes, not base64).
 */

/** Everything a worker needs to build the snapshot the primary activated. */
export interface SnapshotParts {
  /** The primary's revision: every worker's snapshot carries the same one. */
  readonly revision: string;
  readonly sourceRevision: string | undefined;
  readonly catalogText: string;
  readonly data: unknown;
  /** The compiled (or bundled) policy.wasm. */
  readonly wasm: Uint8Array;
  /** The primary's policy hash (compiled Rego and data), so revisions agree. */
  readonly policyHash: string;
  /** The key set of each issuer that has one, as the snapshot was built with. */
  readonly keySets: Readonly<Record<string, JSONWebKeySet>>;
}

/** Epoch ms of each issuer's last successful key load, as the primary's key sources say. */
export type KeysRefreshedAtMap = Readonly<Record<string, number>>;

export type PrimaryMessage =
  | {
      readonly t: 'init';
      readonly workerId: number;
      readonly config: GatehouseConfig;
      /** The DPoP nonce secret every worker shares when the config names none. */
      readonly nonceSecret: Uint8Array;
      readonly snapshot: SnapshotParts | undefined;
      readonly refreshedAt: KeysRefreshedAtMap;
      readonly clusterReady: boolean;
    }
  | {
      readonly t: 'snapshot';
      readonly snapshot: SnapshotParts;
      readonly refreshedAt: KeysRefreshedAtMap;
    }
  | { readonly t: 'freshness'; readonly refreshedAt: KeysRefreshedAtMap }
  | { readonly t: 'clusterReady'; readonly ready: boolean }
  | { readonly t: 'shutdown' };

export type WorkerMessage =
  | { readonly t: 'hello' }
  | {
      readonly t: 'started';
      readonly grpcPort: number | undefined;
      readonly httpPort: number | undefined;
    }
  | { readonly t: 'revision'; readonly revision: string };

/** Requests either side may send; the answer comes back as an RpcReply with the same id. */
export type RpcRequest =
  | {
      readonly t: 'rpc';
      readonly id: number;
      readonly kind: 'replay';
      readonly jti: string;
      readonly jkt: string;
    }
  | {
      readonly t: 'rpc';
      readonly id: number;
      readonly kind: 'introspect';
      readonly issuer: string;
      readonly token: string;
    }
  | {
      readonly t: 'rpc';
      readonly id: number;
      readonly kind: 'unknownKid';
      readonly issuer: string;
      readonly kid: string;
    }
  | { readonly t: 'rpc'; readonly id: number; readonly kind: 'clusterMetrics' }
  | { readonly t: 'rpc'; readonly id: number; readonly kind: 'workerMetrics' };

export type RpcKind = RpcRequest['kind'];

export type RpcReply =
  | { readonly t: 'reply'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly t: 'reply'; readonly id: number; readonly ok: false; readonly error: string };

/** Distributive Omit: a request without its envelope. */
export type RpcBody<R = RpcRequest> = R extends RpcRequest ? Omit<R, 't' | 'id'> : never;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export const WORKERS_LOG = {
  workerStarted: 'worker serving',
  workerFailed: 'worker failed to start',
  workerExited: 'worker exited; starting a replacement',
  workersReady: 'every worker serves the same revision',
  workersStartTimeout: 'not every worker started in time',
} as const;
