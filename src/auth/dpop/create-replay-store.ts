import type { GatehouseConfig } from '../../config/schema.js';
import type { Logger } from '../../observability/logger.js';
import { RedisReplayStore } from './redis-replay-store.js';
import { DpopReplayCache } from './replay-cache.js';
import type { DpopReplayStore } from './replay-store.js';

/**
 * Where accepted DPoP jtis are remembered (RFC 9449 section 11.1): a Redis store shared by
 * replicas when configured, else the cluster primary's set (workers), else this process.
 */
export function createReplayStore(
  config: GatehouseConfig,
  logger: Logger,
  env: NodeJS.ProcessEnv,
  /** The cluster primary's set, in a worker process (src/workers/). */
  clusterStore: DpopReplayStore | undefined,
): { readonly store: DpopReplayStore; close(): Promise<void> } {
  const { iatWindowS, replayCacheMaxEntries, replayStore: shared } = config.tokens.dpop;
  if (shared !== undefined) {
    const { url, passwordEnv, keyPrefix, timeoutMs } = shared.redis;
    const store = new RedisReplayStore({
      url,
      password: passwordEnv === undefined ? undefined : env[passwordEnv],
      keyPrefix,
      timeoutMs,
      iatWindowS,
      logger,
    });
    return { store, close: () => store.close() };
  }
  const store =
    clusterStore ?? new DpopReplayCache({ iatWindowS, maxEntries: replayCacheMaxEntries });
  return { store, close: () => Promise.resolve() };
}
