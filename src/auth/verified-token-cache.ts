import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';

/**
 * Tokens that verified, so a repeated token costs a map lookup instead of a signature check.
 *
 * - Keyed by the token string itself (already in memory; a Map hashes it natively, where a
 *   SHA-256 of requirements + token per check was 5.6% of the busy CPU in the issue-10
 *   profile), then by what was required of it (issuers, audiences): a token verified for one
 *   API is never taken as verified for another with other requirements. A token longer than
 *   V8 hashes (LONG_TOKEN_CHARS) is keyed by its SHA-256 instead, so a flood of long
 *   same-length tokens cannot pile into one hash bucket.
 * - Bounded: at most maxEntries tokens (LRU), each with at most MAX_REQUIREMENT_SETS verdicts;
 *   a token is at most tokens.maxTokenBytes, so memory is at most about maxEntries x (token +
 *   its claims), whatever a flood of distinct tokens does.
 * - An entry lives no longer than the token (exp, or iat + maxTokenAgeS when the issuer sets
 *   that, plus the clock skew that verification allowed) and no longer than maxTtlS; that
 *   end and nbf are checked again on every read.
 * - One cache per key set (see VerifiedTokenCaches): new keys mean an empty cache, and a
 *   token whose key was removed is never served from it.
 * - Only successes are cached: caching failures would let garbage tokens fill it.
 */
export interface CachedVerification {
  readonly claims: JWTPayload;
  readonly issuer: string;
  /** An end of validity before exp (iat + maxTokenAgeS), when verification set one. */
  readonly notAfterS?: number;
}

interface Entry extends CachedVerification {
  /** The earlier of exp and notAfterS. */
  readonly untilS: number;
  readonly nbfS: number | undefined;
  readonly skewS: number;
  /** When maxTtlS ends this verdict (the token's LRU ttl may be renewed by another one). */
  readonly storedUntilS: number;
}

/** A token's verdicts, by requirements string; the token's length guards hashed keys. */
interface TokenEntries {
  readonly tokenLength: number;
  readonly byRequirements: Map<string, Entry>;
}

/**
 * V8 hashes at most String::kMaxHashCalcLength (16383) characters of a string and gives
 * longer ones a hash of their length alone: such tokens are keyed by SHA-256 instead.
 */
const LONG_TOKEN_CHARS = 16_383;

/** Distinct requirement sets (APIs with other issuers/audiences) remembered per token. */
export const MAX_REQUIREMENT_SETS = 8;

export interface VerifiedTokenCacheOptions {
  readonly maxEntries: number;
  readonly maxTtlS: number;
  /** Told of every lookup (hit or miss), for the token cache metrics. */
  readonly onLookup?: ((hit: boolean) => void) | undefined;
}

export class VerifiedTokenCache {
  private readonly cache: LRUCache<string, TokenEntries> | undefined;
  private hitCount = 0;

  constructor(private readonly options: VerifiedTokenCacheOptions) {
    this.cache =
      options.maxEntries > 0
        ? new LRUCache<string, TokenEntries>({ max: options.maxEntries })
        : undefined;
  }

  get hits(): number {
    return this.hitCount;
  }

  /** How many tokens are remembered (each with one or more verdicts). */
  get size(): number {
    return this.cache?.size ?? 0;
  }

  get(
    token: string,
    requirements: string,
    nowS = Date.now() / 1000,
  ): CachedVerification | undefined {
    if (this.cache === undefined) return undefined;
    const key = cacheKey(token);
    const entries = this.cache.get(key);
    const entry =
      entries?.tokenLength === token.length ? entries.byRequirements.get(requirements) : undefined;
    if (entries === undefined || entry === undefined) {
      this.options.onLookup?.(false);
      return undefined;
    }
    if (
      nowS > entry.untilS + entry.skewS ||
      nowS > entry.storedUntilS ||
      (entry.nbfS !== undefined && nowS < entry.nbfS - entry.skewS)
    ) {
      entries.byRequirements.delete(requirements);
      if (entries.byRequirements.size === 0) this.cache.delete(key);
      this.options.onLookup?.(false);
      return undefined;
    }
    this.hitCount++;
    this.options.onLookup?.(true);
    return entry;
  }

  set(
    token: string,
    requirements: string,
    verified: CachedVerification,
    skewS: number,
    nowS = Date.now() / 1000,
  ): void {
    const expS = verified.claims.exp;
    if (this.cache === undefined || typeof expS !== 'number') return;
    const untilS = Math.min(expS, verified.notAfterS ?? expS);
    const ttlS = Math.min(untilS + skewS - nowS, this.options.maxTtlS);
    if (ttlS <= 0) return;
    const nbf = verified.claims.nbf;
    const entry: Entry = {
      ...verified,
      untilS,
      nbfS: typeof nbf === 'number' ? nbf : undefined,
      skewS,
      storedUntilS: nowS + ttlS,
    };
    const key = cacheKey(token);
    const known = this.cache.get(key);
    const entries =
      known?.tokenLength === token.length
        ? known
        : { tokenLength: token.length, byRequirements: new Map<string, Entry>() };
    const { byRequirements } = entries;
    byRequirements.delete(requirements);
    if (byRequirements.size >= MAX_REQUIREMENT_SETS) {
      // The oldest verdict goes (a Map iterates in insertion order).
      const [oldest] = byRequirements.keys();
      if (oldest !== undefined) byRequirements.delete(oldest);
    }
    byRequirements.set(requirements, entry);
    // The token's LRU ttl: the longest of its verdicts' (each also checks its own end).
    let longestS = 0;
    for (const one of byRequirements.values()) {
      longestS = Math.max(longestS, Math.min(one.untilS + one.skewS, one.storedUntilS) - nowS);
    }
    this.cache.set(key, entries, { ttl: Math.ceil(longestS * 1000) });
  }
}

/**
 * The verified-token caches, owned by the authenticator rather than by the frozen snapshot
 * (a cache is mutable state): one per key set, told apart by the snapshot's `keysHash`. A
 * snapshot with the same keys as the last one checked shares its cache (a verification
 * stays true while the keys stay the same); a snapshot with other keys starts an empty one.
 * A check still running on an older snapshot keeps using that snapshot's cache.
 */
export class VerifiedTokenCaches {
  private readonly bySnapshot = new WeakMap<object, VerifiedTokenCache>();
  private latest: { readonly keysHash: string; readonly cache: VerifiedTokenCache } | undefined;

  constructor(private readonly options: VerifiedTokenCacheOptions) {}

  /** The cache for tokens verified against `snapshot`'s keys. */
  for(snapshot: { readonly keysHash: string }): VerifiedTokenCache {
    const known = this.bySnapshot.get(snapshot);
    if (known !== undefined) return known;
    const cache =
      this.latest?.keysHash === snapshot.keysHash
        ? this.latest.cache
        : new VerifiedTokenCache(this.options);
    this.bySnapshot.set(snapshot, cache);
    this.latest = { keysHash: snapshot.keysHash, cache };
    return cache;
  }
}

function cacheKey(token: string): string {
  if (token.length <= LONG_TOKEN_CHARS) return token;
  return createHash('sha256').update(token).digest('base64url');
}
