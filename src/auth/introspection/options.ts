import { checkEndpointUrl } from '../../net/oauth/endpoint-url.js';
import type { CallBudget } from './call-budget.js';
import type { ClientAuthenticator } from '../../net/oauth/client-authentication.js';
import { IntrospectionConfigError } from './errors.js';
import { INTROSPECTION_CONFIG_DEFAULTS } from '../../config/schema.js';

export interface IntrospectionCacheOptions {
  /** The most answers kept; the least recently used goes first. Default 10000. */
  readonly maxEntries?: number | undefined;
  /**
   * The longest an `active` answer is reused, in seconds, and never past the token's
   * `exp`. This bounds how long a revoked token keeps working. Default 300; 0 = never.
   * An active answer without `exp` is reused for min(maxTtlS, 60) seconds (see
   * NO_EXP_TTL_S).
   */
  readonly maxTtlS?: number | undefined;
  /** How long an `inactive` answer is reused, in seconds. Default 10; 0 = never. */
  readonly inactiveTtlS?: number | undefined;
}

export interface IntrospectionClientOptions {
  /** The introspection endpoint URL (RFC 7662 section 2): https, or http to loopback only. */
  readonly endpoint: string;
  /**
   * Authenticates each request as the token endpoint methods do (RFC 7662 section 2.1);
   * usually an OAuthClientAuthenticator. Not owned: `close()` leaves it open.
   */
  readonly clientAuth: ClientAuthenticator;
  /**
   * The whole request, from sending to the last byte of the answer, in milliseconds;
   * default 2000. Introspection sits on the request path: a slow server must not hold
   * requests for long.
   */
  readonly timeoutMs?: number | undefined;
  /** The largest answer accepted, in bytes; default 65536. */
  readonly maxResponseBytes?: number | undefined;
  readonly cache?: IntrospectionCacheOptions | undefined;
  /**
   * Bounds the requests sent (cache hits and callers joining a request in flight take
   * nothing). When it is spent, introspect() answers `unavailable` with
   * GH_INTROSPECTION_RATE_LIMITED without asking. Shared with whatever else calls the
   * same authorization server (IssuerIntrospector's discovery). Default: unbounded.
   */
  readonly budget?: CallBudget | undefined;
  /** Told the outcome of every introspection that missed the cache (for metrics). */
  readonly onOutcome?: ((outcome: IntrospectionOutcome) => void) | undefined;
  /** The clock, in milliseconds since the epoch; default Date.now. For tests. */
  readonly now?: (() => number) | undefined;
}

/**
 * What came of an introspection the cache could not answer: a request was sent and the
 * answer was `active`, `inactive` or `unavailable`; or none was sent (`rate_limited`).
 * Callers who joined a request in flight are not counted again.
 */
export type IntrospectionOutcome = 'active' | 'inactive' | 'unavailable' | 'rate_limited';

/** The schema's `introspection` defaults, and two the config does not expose. */
export const INTROSPECTION_DEFAULTS = {
  timeoutMs: INTROSPECTION_CONFIG_DEFAULTS.timeoutMs,
  maxResponseBytes: 64 * 1024,
  maxEntries: 10_000,
  maxTtlS: INTROSPECTION_CONFIG_DEFAULTS.cacheMaxTtlS,
  inactiveTtlS: INTROSPECTION_CONFIG_DEFAULTS.inactiveCacheTtlS,
} as const;

/**
 * How long an active answer without `exp` is reused, at most, in seconds. `exp` is
 * OPTIONAL in RFC 7662 section 2.2, and without it nothing says when the token stops
 * working: such an answer is still cached (the authorization server would otherwise be
 * asked on every request), but for a minute rather than the full maxTtlS, since
 * revocation is then the only way the token ends and the cache delays seeing it.
 */
export const NO_EXP_TTL_S = 60;

export interface ResolvedIntrospectionOptions {
  readonly endpoint: string;
  readonly clientAuth: ClientAuthenticator;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly maxEntries: number;
  readonly maxTtlS: number;
  readonly inactiveTtlS: number;
  readonly budget: CallBudget | undefined;
  readonly onOutcome: ((outcome: IntrospectionOutcome) => void) | undefined;
  readonly now: () => number;
}

/**
 * Validates the options once, at construction, naming the option in every message
 * (IntrospectionConfigError GH_INTROSPECTION_CONFIG_INVALID), and freezes the result.
 * Checked at run time too: options may come from untyped config.
 */
export function resolveIntrospectionOptions(
  options: IntrospectionClientOptions,
): ResolvedIntrospectionOptions {
  const checked = checkEndpointUrl(typeof options.endpoint === 'string' ? options.endpoint : '');
  if ('reason' in checked) throw new IntrospectionConfigError('endpoint', checked.reason);
  const { clientAuth } = options;
  if (
    typeof clientAuth !== 'object' ||
    (clientAuth as unknown) === null ||
    typeof clientAuth.authenticate !== 'function' ||
    typeof clientAuth.dispatcher !== 'function'
  ) {
    throw new IntrospectionConfigError(
      'clientAuth',
      'must be a ClientAuthenticator (e.g. new OAuthClientAuthenticator({ clientId, method, ... }))',
    );
  }
  // Read at call time, so a test faking Date after construction is seen.
  const now = options.now ?? (() => Date.now());
  if (typeof now !== 'function') throw new IntrospectionConfigError('now', 'must be a function');
  const cache = options.cache ?? {};
  return Object.freeze({
    endpoint: checked.url,
    clientAuth,
    timeoutMs: positiveInteger('timeoutMs', options.timeoutMs, INTROSPECTION_DEFAULTS.timeoutMs),
    maxResponseBytes: positiveInteger(
      'maxResponseBytes',
      options.maxResponseBytes,
      INTROSPECTION_DEFAULTS.maxResponseBytes,
    ),
    maxEntries: positiveInteger(
      'cache.maxEntries',
      cache.maxEntries,
      INTROSPECTION_DEFAULTS.maxEntries,
    ),
    maxTtlS: nonNegative('cache.maxTtlS', cache.maxTtlS, INTROSPECTION_DEFAULTS.maxTtlS),
    inactiveTtlS: nonNegative(
      'cache.inactiveTtlS',
      cache.inactiveTtlS,
      INTROSPECTION_DEFAULTS.inactiveTtlS,
    ),
    budget: options.budget,
    onOutcome: options.onOutcome,
    now,
  });
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isSafeInteger(result) || result <= 0) {
    throw new IntrospectionConfigError(name, 'must be a positive integer');
  }
  return result;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (typeof result !== 'number' || !Number.isFinite(result) || result < 0) {
    throw new IntrospectionConfigError(name, 'must be a non-negative number of seconds');
  }
  return result;
}
