import type { Dispatcher } from 'undici';
import { buildIssuerKeys, type IssuerKeys } from '../../auth/issuer-keys.js';
import { assessSigningKeys } from '../../auth/usable-signing-keys.js';
import type { IssuerConfig } from '../../config/schema.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { equalJitterBackoffMs, refreshDelayMs } from '../../net/backoff.js';
import type { OidcMetadata } from '../../net/oidc-discovery.js';
import { KeySourceError } from '../../net/oidc-errors.js';
import { hashJwks } from './jwks-hash.js';
import { loadKeySet, selectKeyOrigin, type KeyOrigin, type LoadedKeySet } from './key-origin.js';
import { OIDC_LOG } from './log-messages.js';

export interface IssuerKeySourceOptions {
  readonly config: IssuerConfig;
  /** Where the keys come from. Default: the one the config names (selectKeyOrigin). */
  readonly origin?: KeyOrigin;
  /**
   * Between scheduled refreshes, in seconds (jittered 10 % shorter). Default:
   * config.jwksRefreshIntervalS, shortened to config.maxKeyStalenessS / 2 when that is less,
   * so keys that load fine never go stale between two refreshes.
   */
  readonly refreshIntervalS?: number;
  /**
   * After any refresh, how long an unknown `kid` does not trigger another one, in seconds.
   * Default: config.unknownKidCooldownS (30, as jose's `cooldownDuration`): a flood of
   * tokens with made-up kids costs the provider at most one request per cooldown.
   */
  readonly unknownKidCooldownS?: number;
  /** The first retry after a failure, in seconds; doubles per failure up to the interval. Default 1. */
  readonly backoffBaseS?: number;
  /** Per HTTP request, for the headers and for the body each, in milliseconds. Default 5000. */
  readonly timeoutMs?: number;
  /**
   * One whole refresh (discovery and JWKS), in milliseconds, before it is abandoned so a
   * server that trickles its answer cannot hold refreshes up. Default 2 × timeoutMs.
   */
  readonly attemptDeadlineMs?: number;
  /** The largest document accepted, in bytes. Default 1 MiB. */
  readonly maxBytes?: number;
  /** Extra request headers, asked for on every request (a bearer token from an OAuth client). */
  readonly headers?: () => Promise<Record<string, string>>;
  /** An undici dispatcher, e.g. an Agent with a client certificate for mutual TLS. */
  readonly dispatcher?: Dispatcher;
  /** The HS* shared secret, passed through to the IssuerKeys. */
  readonly hmacSecret?: string;
  readonly logger?: Logger;
  /** Refresh outcomes and failures by issuer, and when the keys were last loaded. */
  readonly metrics?: Pick<Metrics, 'jwksRefreshes' | 'jwksRefreshFailures' | 'jwksLastSuccess'>;
}

export interface IssuerKeySourceStatus {
  readonly issuer: string;
  /** The JWKS URL (discovered or configured) or a file: URL; undefined before the first load. */
  readonly jwksUri: string | undefined;
  readonly keyIds: readonly string[];
  /**
   * Epoch milliseconds of the last load that produced usable keys, whether they changed or
   * not. A load without a usable signing key is a failure and does not count.
   */
  readonly lastSuccessAt: number | undefined;
  /** Epoch milliseconds of the last failed attempt. */
  readonly lastErrorAt: number | undefined;
  readonly lastError: { readonly code: string; readonly message: string } | undefined;
  /** Epoch milliseconds of the next scheduled attempt; undefined when not started. */
  readonly nextAttemptAt: number | undefined;
  readonly consecutiveFailures: number;
  /** Loads started (HTTP or file), scheduled and on demand. */
  readonly fetches: number;
  /** Loads that finished after a newer one had already been applied, and were dropped. */
  readonly staleResults: number;
}

type Listener = (keys: IssuerKeys) => void;

/**
 * One issuer's verification keys, kept current in the background, after jose's remote
 * JWKS (src/jwks/remote.ts): one load in flight at a time, whatever the number of
 * callers; a cooldown before an unknown kid may trigger another; a sequence number so an
 * older load that finishes late never replaces newer keys. (A load that overruns
 * attemptDeadlineMs is given up on, since fetchBytes cannot be aborted; it may still
 * finish after a newer one, which is what the sequence number is for.) A failed load
 * keeps the previous keys: an outage at the provider must not reject every token. So does
 * a load that yields no key able to verify the configured algorithms (an empty set, only
 * encryption keys, other algorithms): adopting it would reject every token just the same.
 */
export class IssuerKeySource {
  readonly #options: IssuerKeySourceOptions;
  readonly #origin: KeyOrigin;
  readonly #intervalS: number;
  readonly #cooldownMs: number;
  readonly #backoffBaseS: number;
  readonly #timeoutMs: number;
  readonly #deadlineMs: number;
  readonly #maxBytes: number;
  readonly #listeners = new Set<Listener>();

  #keys: IssuerKeys | undefined;
  #hash: string | undefined;
  #jwksUri: string | undefined;
  #metadata: OidcMetadata | undefined;
  #inFlight: Promise<boolean> | undefined;
  /** The sequence number of the newest load started, and of the one whose keys are held. */
  #startedSequence = 0;
  #appliedSequence = 0;
  #fetches = 0;
  #staleResults = 0;
  #failures = 0;
  #lastAttemptEndedAt: number | undefined;
  #lastSuccessAt: number | undefined;
  #lastErrorAt: number | undefined;
  #lastError: { code: string; message: string } | undefined;
  #nextAttemptAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(options: IssuerKeySourceOptions) {
    this.#options = options;
    this.#origin = options.origin ?? selectKeyOrigin(options.config);
    const maxStalenessS = options.config.maxKeyStalenessS;
    this.#intervalS = positive(
      'refreshIntervalS',
      options.refreshIntervalS ??
        Math.min(
          options.config.jwksRefreshIntervalS,
          maxStalenessS === undefined ? Infinity : maxStalenessS / 2,
        ),
    );
    this.#cooldownMs =
      nonNegative(
        'unknownKidCooldownS',
        options.unknownKidCooldownS ?? options.config.unknownKidCooldownS,
      ) * 1000;
    this.#backoffBaseS = positive('backoffBaseS', options.backoffBaseS ?? 1);
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs ?? 5000);
    this.#deadlineMs = positive(
      'attemptDeadlineMs',
      options.attemptDeadlineMs ?? 2 * this.#timeoutMs,
    );
    this.#maxBytes = positive('maxBytes', options.maxBytes ?? 1024 * 1024);
  }

  /** Loads once and schedules refreshes. Resolves with whether keys were loaded. */
  start(): Promise<boolean> {
    this.#running = true;
    return this.refresh();
  }

  /** Stops scheduled refreshes; the current keys stay readable, on-demand refreshes still work. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextAttemptAt = undefined;
  }

  current(): IssuerKeys | undefined {
    return this.#keys;
  }

  /** Epoch milliseconds of the last load that produced usable keys (changed or not). */
  lastSuccessAt(): number | undefined {
    return this.#lastSuccessAt;
  }

  /** Called with the new keys whenever the key set changes (the first load included). */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Loads now, or joins the load in flight. Resolves with whether it produced keys. */
  refresh(): Promise<boolean> {
    this.#inFlight ??= this.#attempt().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /**
   * For the check path, when a token names a kid the current keys lack (a rotation at
   * the provider). Within the cooldown after a refresh it answers false at once, without
   * a request, so tokens with random kids cannot make Gatehouse hammer the provider.
   */
  async refreshForUnknownKid(kid: string): Promise<boolean> {
    if (this.#knows(kid)) return true;
    const last = this.#lastAttemptEndedAt;
    if (
      this.#inFlight === undefined &&
      last !== undefined &&
      Date.now() - last < this.#cooldownMs
    ) {
      return false;
    }
    await this.refresh();
    return this.#knows(kid);
  }

  status(): IssuerKeySourceStatus {
    return {
      issuer: this.#options.config.issuer,
      jwksUri: this.#jwksUri,
      keyIds: this.#keys?.keyIds ?? [],
      lastSuccessAt: this.#lastSuccessAt,
      lastErrorAt: this.#lastErrorAt,
      lastError: this.#lastError,
      nextAttemptAt: this.#nextAttemptAt,
      consecutiveFailures: this.#failures,
      fetches: this.#fetches,
      staleResults: this.#staleResults,
    };
  }

  #knows(kid: string): boolean {
    return this.#keys?.keyIds.includes(kid) ?? false;
  }

  async #attempt(): Promise<boolean> {
    const sequence = ++this.#startedSequence;
    this.#fetches += 1;
    // The load applies its own result whenever it finishes, even after the attempt gave
    // up on it: if nothing newer was applied meanwhile, its keys are still the newest.
    const loading = this.#load().then(async (loaded) => {
      await this.#requireUsableKeys(loaded);
      this.#apply(sequence, loaded);
    });
    let ok: boolean;
    try {
      await withDeadline(loading, this.#deadlineMs);
      this.#failures = 0;
      ok = true;
    } catch (error) {
      this.#recordFailure(error);
      ok = false;
    }
    this.#lastAttemptEndedAt = Date.now();
    this.#schedule(ok);
    return ok;
  }

  #load(): Promise<LoadedKeySet> {
    const { config, headers, dispatcher } = this.#options;
    return loadKeySet(this.#origin, {
      config,
      timeoutMs: this.#timeoutMs,
      maxBytes: this.#maxBytes,
      ...(headers === undefined ? {} : { headers }),
      ...(dispatcher === undefined ? {} : { dispatcher }),
      // The jwks_uri rarely moves; discover again only after a failure, when it might have.
      metadata: this.#failures === 0 ? this.#metadata : undefined,
    });
  }

  /** Throws GH_OIDC_JWKS_UNUSABLE when no key of the set can verify the configured algorithms. */
  async #requireUsableKeys(loaded: LoadedKeySet): Promise<void> {
    const { config } = this.#options;
    const { usable, refused } = await assessSigningKeys(loaded.jwks, config.algorithms);
    if (usable.length > 0) {
      if (refused.length > 0) {
        this.#options.logger?.warn(
          { issuer: config.issuer, jwksUri: loaded.jwksUri, usable, refused },
          OIDC_LOG.keysIgnored,
        );
      }
      return;
    }
    const why =
      refused.length === 0
        ? 'the "keys" array is empty'
        : refused.map(({ key, reason }) => `${key}: ${reason}`).join('; ');
    throw new KeySourceError(
      'GH_OIDC_JWKS_UNUSABLE',
      `${loaded.jwksUri} has no key to verify ${config.algorithms.join(', ')} (${why})`,
    );
  }

  /** Swaps in a load's keys, unless a newer load's keys are already held. */
  #apply(sequence: number, loaded: LoadedKeySet): void {
    if (sequence < this.#appliedSequence) {
      this.#staleResults += 1;
      this.#options.logger?.warn(
        { issuer: this.#options.config.issuer, sequence, applied: this.#appliedSequence },
        OIDC_LOG.staleKeysDropped,
      );
      return;
    }
    // Built (and validated) whole before the one assignment that publishes it.
    const { config, hmacSecret } = this.#options;
    const keys = buildIssuerKeys(config, loaded.jwks, hmacSecret);
    const hash = hashJwks(loaded.jwks);
    this.#appliedSequence = sequence;
    this.#metadata = loaded.metadata;
    this.#jwksUri = loaded.jwksUri;
    this.#lastSuccessAt = Date.now();
    const issuer = config.issuer;
    this.#options.metrics?.jwksLastSuccess.set({ issuer }, this.#lastSuccessAt / 1000);
    const changed = hash !== this.#hash;
    this.#options.metrics?.jwksRefreshes.inc({
      issuer,
      outcome: changed ? 'changed' : 'unchanged',
    });
    if (!changed) return;
    this.#keys = keys;
    this.#hash = hash;
    this.#options.logger?.info(
      { issuer: config.issuer, jwksUri: loaded.jwksUri, kids: keys.keyIds },
      OIDC_LOG.keysChanged,
    );
    for (const listener of this.#listeners) {
      try {
        listener(keys);
      } catch (error) {
        // A listener's failure is its own: the keys are current either way.
        this.#options.logger?.error({ err: error, issuer: config.issuer }, OIDC_LOG.listenerFailed);
      }
    }
  }

  #recordFailure(error: unknown): void {
    this.#failures += 1;
    this.#lastErrorAt = Date.now();
    this.#lastError = {
      code: errorCode(error),
      message: error instanceof Error ? error.message : String(error),
    };
    const issuer = this.#options.config.issuer;
    this.#options.metrics?.jwksRefreshes.inc({ issuer, outcome: 'failed' });
    this.#options.metrics?.jwksRefreshFailures.inc({ issuer, reason: this.#lastError.code });
    this.#options.logger?.error(
      {
        err: error,
        issuer: this.#options.config.issuer,
        failures: this.#failures,
        keptKids: this.#keys?.keyIds ?? [],
      },
      OIDC_LOG.refreshFailed,
    );
  }

  #schedule(ok: boolean): void {
    if (!this.#running) return;
    clearTimeout(this.#timer);
    const delayMs = ok
      ? refreshDelayMs(this.#intervalS, Math.random())
      : equalJitterBackoffMs(this.#failures, this.#backoffBaseS, this.#intervalS, Math.random());
    this.#nextAttemptAt = Date.now() + delayMs;
    this.#timer = setTimeout(() => {
      void this.refresh();
    }, delayMs);
    // Refreshes alone never keep the process alive.
    this.#timer.unref();
  }
}

/** Rejects with GH_OIDC_REFRESH_TIMEOUT if `work` has not settled within `ms`. */
async function withDeadline(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new KeySourceError('GH_OIDC_REFRESH_TIMEOUT', `key refresh took over ${ms} ms`));
    }, ms);
  });
  try {
    await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'GH_OIDC_UNEXPECTED';
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} must be a number over 0, got ${value}`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new TypeError(`${name} must be a number of 0 or more, got ${value}`);
  }
  return value;
}
