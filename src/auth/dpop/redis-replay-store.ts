import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';

/**
 * ioredis, required when the first Redis store is made rather than imported at start-up:
 * a Gatehouse without `tokens.dpop.replayStore` (the default) does not pay its memory
 * (~20 MiB RSS measured on import). ioredis is CommonJS, so require() loads it in step.
 */
const loadRedis = (): typeof Redis =>
  (createRequire(import.meta.url)('ioredis') as { Redis: typeof Redis }).Redis;
import type { Logger } from '../../observability/logger.js';
import type { DpopReplayStore } from './replay-store.js';

export interface RedisReplayStoreOptions {
  /** redis:// or rediss:// URL of a Redis or Valkey server. */
  readonly url: string;
  readonly password?: string | undefined;
  /** Prefix of every key written; the rest is the proof key's thumbprint and the jti. */
  readonly keyPrefix: string;
  /** Time limit for one SET, in milliseconds. */
  readonly timeoutMs: number;
  /** The verifier's iat window, in seconds: each jti is kept for twice it (RFC 9449 11.1). */
  readonly iatWindowS: number;
  readonly logger: Logger;
}

export const REDIS_REPLAY_LOG = {
  connected: 'dpop replay store connected',
  unreachable: 'dpop replay store unreachable: DPoP checks are denied until it answers',
} as const;

/** Longest wait between reconnection attempts, in milliseconds. */
const MAX_RECONNECT_DELAY_MS = 2000;

/**
 * The DPoP replay store shared by replicas (RFC 9449 section 11.1 across a fleet): each
 * accepted jti is written with `SET key 1 NX PX <2 x window>`, which answers OK only to the
 * first writer, atomically on the server, so a proof replayed to another replica is refused.
 *
 * Fail closed and fast: no offline queue (a command while disconnected rejects at once
 * instead of waiting for a reconnect), one time limit per command, and the client keeps
 * reconnecting in the background so checks pass again as soon as the server answers.
 */
export class RedisReplayStore implements DpopReplayStore {
  readonly iatWindowS: number;
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #ttlMs: number;
  #reachable: boolean | undefined;

  constructor(options: RedisReplayStoreOptions) {
    this.iatWindowS = options.iatWindowS;
    this.#prefix = options.keyPrefix;
    this.#ttlMs = options.iatWindowS * 2 * 1000;
    const RedisClient = loadRedis();
    this.#client = new RedisClient(options.url, {
      password: options.password,
      enableOfflineQueue: false,
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(options.timeoutMs, 1000),
      // A command is answered or refused; never resent later (its check has moved on).
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(times * 100, MAX_RECONNECT_DELAY_MS),
      // Checks must not wait for the first connection: until it is up they deny.
      lazyConnect: false,
    });
    this.#client.on('ready', () => {
      if (this.#reachable !== true)
        options.logger.info({ url: redact(options.url) }, REDIS_REPLAY_LOG.connected);
      this.#reachable = true;
    });
    // Without a listener an 'error' event would throw; each is a reconnect, logged once.
    this.#client.on('error', (error: Error) => {
      if (this.#reachable !== false) {
        options.logger.warn({ err: error, url: redact(options.url) }, REDIS_REPLAY_LOG.unreachable);
      }
      this.#reachable = false;
    });
  }

  async seen(jti: string, jkt: string): Promise<boolean> {
    // A thumbprint is base64url (RFC 7638 section 3), which has no ":": the key is unambiguous.
    const answer = await this.#client.set(
      `${this.#prefix}${jkt}:${jti}`,
      '1',
      'PX',
      this.#ttlMs,
      'NX',
    );
    // OK: first use. null: the key exists, so the proof was seen within its lifetime.
    return answer !== 'OK';
  }

  /** Waits (bounded) for the first connection; resolves either way. For start-up logs and tests. */
  async connected(timeoutMs: number): Promise<boolean> {
    if (this.#client.status === 'ready') return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#client.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#client.once('ready', onReady);
    });
  }

  async close(): Promise<void> {
    this.#client.disconnect(false);
    return Promise.resolve();
  }
}

/** The URL for logs: without a password in it. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
}
