import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { fetchBytes, type FetchResult } from '../../net/http-fetch.js';
import { describeFailure, redact } from '../../net/oauth/errors.js';
import type { ClientAuthentication } from '../../net/oauth/client-authentication.js';
import type { IntrospectionFailureCode } from './errors.js';
import { parseIntrospectionBody, type IntrospectionClaims } from './introspection-response.js';
import {
  NO_EXP_TTL_S,
  resolveIntrospectionOptions,
  type IntrospectionClientOptions,
  type ResolvedIntrospectionOptions,
} from './options.js';

export type { IntrospectionClaims } from './introspection-response.js';
export type {
  IntrospectionClientOptions,
  IntrospectionCacheOptions,
  IntrospectionOutcome,
} from './options.js';
export { INTROSPECTION_DEFAULTS, NO_EXP_TTL_S } from './options.js';
export {
  INTROSPECTION_FAILURES,
  IntrospectionConfigError,
  type IntrospectionFailureCode,
} from './errors.js';
export {
  OAuthClientAuthenticator,
  type ClientAuthenticator,
  type ClientAuthOptions,
  type ClientAuthentication,
} from '../../net/oauth/client-authentication.js';

/**
 * What the authorization server says of a token (RFC 7662 section 2.2):
 * - `active`: it may be used; `claims` is the response (sub, scope, client_id, exp, ...);
 * - `inactive`: it may not (unknown, expired, revoked, not yet valid, or not for us: the
 *   server need not say which, section 2.2);
 * - `unavailable`: nothing is known (timeout, network, HTTP error, malformed answer).
 *   Never cached, never to be read as active. `code` becomes the deny's `detail` (the
 *   log line and gatehouse_check_deny_details_total).
 */
export type IntrospectionResult =
  | { readonly kind: 'active'; readonly claims: IntrospectionClaims }
  | { readonly kind: 'inactive' }
  | {
      readonly kind: 'unavailable';
      readonly code: IntrospectionFailureCode;
      /** For logs: names the endpoint and the problem, never the token. */
      readonly reason: string;
    };

type CachedResult = Extract<IntrospectionResult, { kind: 'active' | 'inactive' }>;

interface CacheEntry {
  readonly result: CachedResult;
  /** When the entry stops being served, in epoch milliseconds (the `now` clock). */
  readonly staleAtMs: number;
  /** An active answer's `exp`, in epoch milliseconds; checked again on every read. */
  readonly expMs: number | undefined;
}

export interface IntrospectionStats {
  /** Introspection requests sent (each one, whatever came of it). */
  readonly requests: number;
  /** Answers served from the cache. */
  readonly cacheHits: number;
  /** Callers who joined a request already in flight for the same token. */
  readonly sharedRequests: number;
  /** Introspections refused without a request because the call budget was spent. */
  readonly rateLimited: number;
  /** Answers in the cache now (some may be stale, dropped when next read). */
  readonly cachedEntries: number;
}

const INACTIVE: CachedResult = Object.freeze({ kind: 'inactive' });

/**
 * RFC 7662 token introspection for opaque access tokens, on the request path.
 *
 * - One POST per token (section 2.1), authenticated by `clientAuth` as the OAuth client
 *   authenticates at the token endpoint (basic, post, client_secret_jwt, private_key_jwt,
 *   mutual TLS).
 * - Strict parsing (introspection-response.ts); a non-200, a timeout or anything
 *   malformed is `unavailable`, never `active` and never cached.
 * - Answers cached by SHA-256 of endpoint and token (the token itself is never kept as
 *   a key): active ones until the token's `exp` but at most `cache.maxTtlS`, inactive
 *   ones for `cache.inactiveTtlS`. Section 4: a cached answer opens "a window during
 *   which a revoked token could be used", so the window is bounded; and an answer with
 *   `exp` "MUST NOT be cached beyond the time indicated therein", so an active entry is
 *   never served at or after `exp`, whatever the cache's own TTL says.
 * - Concurrent introspections of one token share one request (single flight, as jose's
 *   remote JWKS does for key fetches): a burst of requests with a new token costs the
 *   authorization server one call.
 *
 * The token is never logged, never put in a `reason`, and anything the server sends back
 * is redacted before it is quoted.
 */
export class IntrospectionClient {
  readonly #options: ResolvedIntrospectionOptions;
  readonly #cache: LRUCache<string, CacheEntry>;
  readonly #inFlight = new Map<string, Promise<IntrospectionResult>>();
  #requests = 0;
  #cacheHits = 0;
  #sharedRequests = 0;
  #rateLimited = 0;
  #closed = false;

  /** Validates the options; throws IntrospectionConfigError naming the option. */
  constructor(options: IntrospectionClientOptions) {
    this.#options = resolveIntrospectionOptions(options);
    const { now } = this.#options;
    this.#cache = new LRUCache<string, CacheEntry>({
      max: this.#options.maxEntries,
      // lru-cache's TTLs on the same clock as ours, read on every check (no 1 ms reuse of
      // a cached "now"), so a test's clock and the cache agree.
      perf: { now: () => now() },
      ttlResolution: 0,
    });
  }

  /** The endpoint, for logs and status pages. */
  get endpoint(): string {
    return this.#options.endpoint;
  }

  /** Counters for tests and the status page. */
  stats(): IntrospectionStats {
    return {
      requests: this.#requests,
      cacheHits: this.#cacheHits,
      sharedRequests: this.#sharedRequests,
      rateLimited: this.#rateLimited,
      cachedEntries: this.#cache.size,
    };
  }

  /** What the authorization server says of `token`; never rejects. */
  async introspect(token: string): Promise<IntrospectionResult> {
    if (this.#closed) return unavailable('GH_INTROSPECTION_CLOSED', 'the client is closed');
    // RFC 7662 section 2.1: `token` is REQUIRED; an empty one names no token at all.
    if (token === '') return INACTIVE;

    const key = cacheKey(this.#options.endpoint, token);
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      const nowMs = this.#options.now();
      if (cached.expMs !== undefined && nowMs >= cached.expMs) {
        // RFC 7662 section 4: a response with `exp` "MUST NOT be cached beyond the time
        // indicated therein". The token has ended: inactive, with no need to ask again.
        this.#cache.delete(key);
        return INACTIVE;
      }
      if (nowMs < cached.staleAtMs) {
        this.#cacheHits++;
        return cached.result;
      }
      this.#cache.delete(key);
    }

    const pending = this.#inFlight.get(key);
    if (pending !== undefined) {
      this.#sharedRequests++;
      return pending;
    }
    // Only a request about to be sent takes from the budget: a flood of random tokens
    // costs the authorization server at most the budget, and tokens already answered
    // (cached) keep working while it is spent.
    const { budget, onOutcome } = this.#options;
    if (budget !== undefined && !budget.tryTake()) {
      this.#rateLimited++;
      onOutcome?.('rate_limited');
      return unavailable(
        'GH_INTROSPECTION_RATE_LIMITED',
        `not sent to ${this.#options.endpoint}: over ${budget.ratePerS} introspection requests per second (burst ${budget.burst})`,
      );
    }
    const started = this.#introspectAndCache(key, token).finally(() => {
      this.#inFlight.delete(key);
    });
    this.#inFlight.set(key, started);
    return started;
  }

  /** Drops every cached answer; later calls answer `unavailable`. */
  close(): void {
    this.#closed = true;
    this.#cache.clear();
  }

  async #introspectAndCache(key: string, token: string): Promise<IntrospectionResult> {
    // Cache lifetimes count from before the request: the server answered no earlier.
    const startedAtMs = this.#options.now();
    const result = await this.#request(token, startedAtMs);
    this.#options.onOutcome?.(result.kind);
    if (this.#closed || result.kind === 'unavailable') return result;

    const { maxTtlS, inactiveTtlS } = this.#options;
    if (result.kind === 'inactive') {
      this.#store(key, result, startedAtMs, inactiveTtlS * 1000, undefined);
      return result;
    }

    const nowMs = this.#options.now();
    const { exp, nbf } = result.claims;
    const expMs = exp === undefined ? undefined : exp * 1000;
    // RFC 7662 section 4: the server MUST check that the token has not expired and that its
    // valid period has started. One that answers active anyway is overruled, by our clock.
    if (expMs !== undefined && nowMs >= expMs) {
      this.#store(key, INACTIVE, startedAtMs, inactiveTtlS * 1000, undefined);
      return INACTIVE;
    }
    if (nbf !== undefined && nowMs < nbf * 1000) {
      // Inactive only until nbf: never cached past it.
      const ttlMs = Math.min(inactiveTtlS * 1000, nbf * 1000 - startedAtMs);
      this.#store(key, INACTIVE, startedAtMs, ttlMs, undefined);
      return INACTIVE;
    }
    const ttlMs =
      expMs === undefined
        ? Math.min(maxTtlS, NO_EXP_TTL_S) * 1000
        : Math.min(maxTtlS * 1000, expMs - startedAtMs);
    this.#store(key, result, startedAtMs, ttlMs, expMs);
    return result;
  }

  #store(
    key: string,
    result: CachedResult,
    startedAtMs: number,
    ttlMs: number,
    expMs: number | undefined,
  ): void {
    // A TTL of 0 is "do not cache" here, but "never expires" to lru-cache.
    if (!(ttlMs > 0)) return;
    const staleAtMs = startedAtMs + ttlMs;
    // lru-cache counts the TTL from the set, which is later than startedAtMs.
    const remainingMs = staleAtMs - this.#options.now();
    if (!(remainingMs > 0)) return;
    this.#cache.set(key, { result, staleAtMs, expMs }, { ttl: Math.ceil(remainingMs) });
  }

  async #request(token: string, startedAtMs: number): Promise<IntrospectionResult> {
    const { endpoint, clientAuth, timeoutMs, maxResponseBytes } = this.#options;
    let auth: ClientAuthentication;
    try {
      auth = await clientAuth.authenticate(endpoint, startedAtMs);
    } catch (error) {
      return unavailable(
        'GH_INTROSPECTION_CLIENT_AUTH',
        `cannot authenticate to ${endpoint}: ${redact(describeFailure(error, endpoint), [token])}`,
      );
    }
    const secrets = [token, ...auth.secrets];

    // RFC 7662 section 2.1: a form-encoded POST with `token` and the optional
    // `token_type_hint`; Gatehouse only ever introspects what it was sent as a bearer
    // access token. Client authentication fields follow (RFC 6749 section 2.3.1).
    const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
    for (const [name, value] of Object.entries(auth.form)) form.set(name, value);
    const dispatcher = clientAuth.dispatcher();

    this.#requests++;
    const fetching = fetchBytes(endpoint, {
      method: 'POST',
      headers: {
        ...auth.headers,
        'content-type': 'application/x-www-form-urlencoded',
        // RFC 7662 section 2.2: the answer is "application/json".
        accept: 'application/json',
      },
      body: form.toString(),
      timeoutMs,
      maxBytes: maxResponseBytes,
      ...(dispatcher === undefined ? {} : { dispatcher }),
    });
    // fetchBytes times the headers and the body separately (and undici's timers are
    // coarse); this deadline bounds the whole exchange. A request it abandons still ends
    // at fetchBytes' own timeouts; Promise.race has already handled its rejection.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        resolve('timeout');
      }, timeoutMs);
    });
    let response: FetchResult | 'timeout';
    try {
      response = await Promise.race([fetching, deadline]);
    } catch (error) {
      const reason = redact(describeFailure(error, endpoint), secrets);
      return unavailable(
        isTimeout(error) ? 'GH_INTROSPECTION_TIMEOUT' : 'GH_INTROSPECTION_NETWORK',
        `introspection request to ${endpoint} failed: ${reason}`,
      );
    } finally {
      clearTimeout(timer);
    }
    if (response === 'timeout') {
      return unavailable(
        'GH_INTROSPECTION_TIMEOUT',
        `${endpoint} did not answer within ${timeoutMs} ms`,
      );
    }
    return interpret(response, endpoint, secrets);
  }
}

/** A 200 application/json answer, parsed strictly; anything else is unavailable. */
function interpret(
  response: FetchResult,
  endpoint: string,
  secrets: readonly string[],
): IntrospectionResult {
  if (response.status !== 200) {
    // RFC 7662 section 2.3: errors are RFC 6749 section 5.2 responses (401 invalid_client
    // when the resource server's own credentials are refused). Only the `error` code is
    // quoted: a description is free text and could carry anything.
    const error = oauthErrorCode(response.body);
    const said = error === undefined ? '' : ` ${redact(error, secrets)}`;
    return unavailable(
      'GH_INTROSPECTION_HTTP_STATUS',
      `${endpoint} answered HTTP ${response.status}${said}`,
    );
  }
  // RFC 7662 section 2.2: 'a JSON object [RFC7159] in "application/json" format'. A JWT
  // answer (RFC 9701) or an HTML page from a proxy is not that.
  const type = response.headers['content-type'];
  const mediaType = typeof type === 'string' ? type.split(';')[0]?.trim().toLowerCase() : undefined;
  if (mediaType !== 'application/json') {
    return unavailable(
      'GH_INTROSPECTION_MALFORMED',
      `${endpoint} answered 200 with content-type ${mediaType === undefined ? '(none)' : JSON.stringify(redact(mediaType, secrets))}, not application/json`,
    );
  }
  const parsed = parseIntrospectionBody(response.body.toString('utf8'));
  switch (parsed.kind) {
    case 'malformed':
      return unavailable(
        'GH_INTROSPECTION_MALFORMED',
        `${endpoint} answered a malformed introspection response: ${parsed.reason}`,
      );
    case 'inactive':
      return INACTIVE;
    case 'active':
      return { kind: 'active', claims: parsed.claims };
  }
}

/**
 * The cache key: SHA-256 over the endpoint, a NUL and the token. Hashed so that a heap
 * dump or a debugger shows no usable token; with the endpoint, so that two clients (two
 * authorization servers) sharing a process can never answer for each other.
 */
function cacheKey(endpoint: string, token: string): string {
  return createHash('sha256').update(endpoint).update('\0').update(token).digest('base64url');
}

/** RFC 6749 section 5.2 `error`: NQSCHAR only. Anything else is not quoted at all. */
function oauthErrorCode(body: Buffer): string | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    const error =
      typeof value === 'object' && value !== null
        ? (value as { error?: unknown }).error
        : undefined;
    return typeof error === 'string' && /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(error)
      ? error
      : undefined;
  } catch {
    return undefined;
  }
}

function isTimeout(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  const code =
    typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  );
}

function unavailable(code: IntrospectionFailureCode, reason: string): IntrospectionResult {
  return { kind: 'unavailable', code, reason };
}
