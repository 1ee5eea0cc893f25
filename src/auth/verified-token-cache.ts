import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';

/**
 * Tokens that verified, so a repeated token costs a hash instead of a signature check.
 *
 * - Keyed by SHA-256 of the token and what was required of it (issuers, audiences): the raw
 *   token is never a key, and a token verified for one API is not taken as verified for
 *   another with other requirements.
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
}

export interface VerifiedTokenCacheOptions {
  readonly maxEntries: number;
  readonly maxTtlS: number;
  /** Told of every lookup (hit or miss), for the token cache metrics. */
  readonly onLookup?: ((hit: boolean) => void) | undefined;
}

export class VerifiedTokenCache {
  private readonly cache: LRUCache<string, Entry> | undefined;
  private hitCount = 0;

  constructor(private readonly options: VerifiedTokenCacheOptions) {
    this.cache =
      options.maxEntries > 0 ? new LRUCache<string, Entry>({ max: options.maxEntries }) : undefined;
  }

  get hits(): number {
    return this.hitCount;
  }

  get(
    token: string,
    requirements: string,
    nowS = Date.now() / 1000,
  ): CachedVerification | undefined {
    if (this.cache === undefined) return undefined;
    const key = cacheKey(token, requirements);
    const entry = this.cache.get(key);
    if (entry === undefined) {
      this.options.onLookup?.(false);
      return undefined;
    }
    if (
      nowS > entry.untilS + entry.skewS ||
      (entry.nbfS !== undefined && nowS < entry.nbfS - entry.skewS)
    ) {
      this.cache.delete(key);
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
    this.cache.set(
      cacheKey(token, requirements),
      { ...verified, untilS, nbfS: typeof nbf === 'number' ? nbf : undefined, skewS },
      { ttl: Math.ceil(ttlS * 1000) },
    );
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

function cacheKey(token: string, requirements: string): string {
  return createHash('sha256').update(requirements).update('\0').update(token).digest('base64url');
}
