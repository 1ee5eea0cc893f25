import { LRUCache } from 'lru-cache';
import { CONFIG_DEFAULTS } from '../../config/schema.js';

/** Default for DpopReplayCacheOptions.maxEntries: the schema's tokens.dpop.replayCacheMaxEntries. */
export const DEFAULT_REPLAY_MAX_ENTRIES = CONFIG_DEFAULTS.tokens.dpop.replayCacheMaxEntries;
/**
 * Default iat window, in seconds, shared with verifyDpopProof (RFC 9449 section 11.1): the
 * schema's tokens.dpop.iatWindowS.
 */
export const DEFAULT_IAT_WINDOW_S = CONFIG_DEFAULTS.tokens.dpop.iatWindowS;

export interface DpopReplayCacheOptions {
  /**
   * The iat window, in seconds, of the verifier using this cache; default 60. A proof is
   * accepted while its iat is within ±window of the clock, a span of twice the window, so
   * each jti is remembered for twice the window from the moment it is first seen.
   */
  readonly iatWindowS?: number;
  /** How many proofs are remembered at most (least recently seen go first); default 100000. */
  readonly maxEntries?: number;
  /** A monotonic clock in milliseconds; default `performance`. For tests. */
  readonly clock?: { now(): number };
}

/**
 * Remembers the jti of every accepted DPoP proof for as long as the proof could be
 * accepted, so that a second use is detected (RFC 9449 section 11.1: "servers SHOULD
 * store ... the jti value of each DPoP proof for the time window in which the respective
 * DPoP proof JWT would be accepted").
 *
 * Keys are the proof key's thumbprint plus the jti: a jti is unique per client key (RFC
 * 9449 section 4.2), and one client cannot burn another client's jti values.
 *
 * The cache is bounded: when it is full, the least recently seen entry goes, even if its
 * proof could still be accepted, and a replay of that proof would then pass. `liveEvictions`
 * counts those; size `maxEntries` above the peak number of proofs per twice the window.
 */
export class DpopReplayCache {
  readonly iatWindowS: number;
  readonly maxEntries: number;
  readonly #ttlMs: number;
  readonly #clock: { now(): number };
  /** Value: when the entry expires, on #clock. */
  readonly #entries: LRUCache<string, number>;
  #liveEvictions = 0;

  constructor(options: DpopReplayCacheOptions = {}) {
    const iatWindowS = options.iatWindowS ?? DEFAULT_IAT_WINDOW_S;
    const maxEntries = options.maxEntries ?? DEFAULT_REPLAY_MAX_ENTRIES;
    if (!Number.isFinite(iatWindowS) || iatWindowS <= 0) {
      throw new TypeError(`iatWindowS must be a positive number of seconds, got ${iatWindowS}`);
    }
    if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0) {
      throw new TypeError(`maxEntries must be a positive integer, got ${maxEntries}`);
    }
    this.iatWindowS = iatWindowS;
    this.maxEntries = maxEntries;
    this.#ttlMs = iatWindowS * 2 * 1000;
    const clock = options.clock ?? performance;
    this.#clock = clock;
    this.#entries = new LRUCache<string, number>({
      max: maxEntries,
      ttl: this.#ttlMs,
      // Read the clock on every check: the default caches it for a millisecond behind a
      // timer, which an injected clock cannot see through.
      ttlResolution: 0,
      perf: clock,
      dispose: (expiresAt, _key, reason) => {
        if (reason === 'evict' && expiresAt > clock.now()) this.#liveEvictions += 1;
      },
    });
  }

  /**
   * Records the proof `jti` of key `jkt` and reports whether it was already recorded within
   * its lifetime, i.e. whether this proof is a replay.
   */
  seen(jti: string, jkt: string): boolean {
    // A thumbprint is base64url (RFC 7638 section 3), which has no ":": the key is unambiguous.
    const key = `${jkt}:${jti}`;
    if (this.#entries.has(key)) return true;
    this.#entries.set(key, this.#clock.now() + this.#ttlMs);
    return false;
  }

  /** Entries held, including expired ones not yet pushed out. */
  get size(): number {
    return this.#entries.size;
  }

  /** Entries pushed out by `maxEntries` while their proof could still be accepted. */
  get liveEvictions(): number {
    return this.#liveEvictions;
  }
}
