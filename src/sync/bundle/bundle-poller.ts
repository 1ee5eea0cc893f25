import { getGlobalDispatcher, type Dispatcher } from 'undici';
import { fetchBytes, type FetchResult } from '../../net/http-fetch.js';
import { BundleError } from './bundle-error.js';
import { DEFAULT_BUNDLE_LIMITS, validateBundleLimits, type BundleLimits } from './bundle-limits.js';
import { RequestCanceller } from './cancellable-dispatcher.js';
import { opaBackoffMs, pollDelayMs } from '../../net/backoff.js';
import { DEFAULT_CATALOG_FILE, readBundle, type Bundle } from './read-bundle.js';
import type { BundleVerification } from './verify-signature.js';

export interface BundlePollerOptions {
  /** The bundle's URL (http or https). Credentials go in `headers`, never in the URL. */
  readonly url: string;
  /** Seconds between polls: a random delay in [min, max]. Defaults 60 and 120, as OPA's. */
  readonly pollMinDelayS?: number;
  readonly pollMaxDelayS?: number;
  /**
   * Seconds a server may hold a request until the bundle changes (OPA long polling: sent as
   * `Prefer: wait=<s>`). Such a request may take this long plus `requestTimeoutMs`.
   */
  readonly longPollingTimeoutS?: number;
  /** Timeout for the response headers and for the body, each, in milliseconds. Default 30000. */
  readonly requestTimeoutMs?: number;
  /** First delay after a failure, in milliseconds; grows 1.6× per failure. Default 1000. */
  readonly backoffBaseMs?: number;
  /** Largest delay after failures, in milliseconds. Default pollMaxDelayS. */
  readonly backoffMaxMs?: number;
  readonly limits?: BundleLimits;
  /** The API catalog inside the bundle. Default 'catalog.yaml'. */
  readonly catalogFile?: string;
  /** When set, only bundles signed by this key are delivered. */
  readonly verification?: BundleVerification;
  /** Extra request headers, asked for before every request: e.g. a fresh OAuth bearer token. */
  readonly headers?: () => Promise<Record<string, string>>;
  /** An undici dispatcher, e.g. an Agent with a client certificate for mutual TLS. */
  readonly dispatcher?: Dispatcher;
  /**
   * Receives each new bundle with its ETag. Resolves with whether it was activated: only an
   * activated bundle's ETag is sent as If-None-Match, so a rejected one is downloaded again.
   */
  readonly onBundle: (bundle: Bundle, etag: string | undefined) => Promise<boolean>;
  /** Every failed attempt: download, HTTP status, bundle or signature error, onBundle throwing. */
  readonly onError: (error: Error) => void;
  /** Source of randomness for jitter, in [0, 1). Tests pin it. Default Math.random. */
  readonly random?: () => number;
}

export interface BundlePollerStatus {
  readonly url: string;
  /** ETag of the last activated bundle, sent as If-None-Match. */
  readonly etag: string | undefined;
  /** Manifest revision of the last activated bundle. */
  readonly revision: string | undefined;
  /** The last attempt that ended in an activated bundle or a 304. */
  readonly lastSuccessAt: Date | undefined;
  readonly lastErrorAt: Date | undefined;
  readonly lastError: string | undefined;
  /** When the next poll is due; undefined while one is in flight or when never scheduled. */
  readonly nextAttemptAt: Date | undefined;
  readonly consecutiveFailures: number;
  /** Whether the server has shown it holds requests (long polling is in effect). */
  readonly longPolling: boolean;
}

/**
 * OPA's long-polling handshake (download/download.go): the client says how long it will
 * wait, and a server that supports it answers 200s with this media type.
 */
const LONG_POLL_MEDIA_TYPE = 'application/vnd.openpolicyagent.bundles';
const STOPPED = 'bundle poller stopped';

/**
 * Polls one bundle URL, the way OPA's bundle downloader does: If-None-Match with the last
 * activated ETag (304: nothing new), a jittered delay between polls, long polling when the
 * server supports it, exponential backoff on failure, reset on success. Each new bundle is
 * read and verified in full before `onBundle` sees it. Nothing escapes the loop: every
 * failure goes to `onError` and the previous bundle keeps serving.
 */
export class BundlePoller {
  private readonly url: string;
  private readonly pollMinDelayS: number;
  private readonly pollMaxDelayS: number;
  private readonly longPollingTimeoutS: number | undefined;
  private readonly requestTimeoutMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly limits: BundleLimits;
  private readonly random: () => number;
  private readonly canceller = new RequestCanceller();
  private readonly dispatcher: Dispatcher;

  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  /** Attempts numbered up to this one were cancelled by stop(): their results are dropped. */
  private attempts = 0;
  private cancelledThrough = 0;
  /** Set after a 200 with OPA's long-poll media type; a plain 200 clears it. */
  private serverLongPolls = false;

  private etag: string | undefined;
  private revision: string | undefined;
  private lastSuccessAt: Date | undefined;
  private lastErrorAt: Date | undefined;
  private lastError: string | undefined;
  private nextAttemptAt: Date | undefined;
  private consecutiveFailures = 0;

  constructor(private readonly options: BundlePollerOptions) {
    this.url = validateUrl(options.url);
    this.pollMinDelayS = positive('pollMinDelayS', options.pollMinDelayS ?? 60);
    this.pollMaxDelayS = positive('pollMaxDelayS', options.pollMaxDelayS ?? 120);
    if (this.pollMaxDelayS < this.pollMinDelayS) {
      throw invalidOption(
        `pollMaxDelayS (${this.pollMaxDelayS}) must not be below pollMinDelayS (${this.pollMinDelayS})`,
      );
    }
    if (options.longPollingTimeoutS !== undefined) {
      // It goes into the Prefer header, which OPA defines in whole seconds.
      if (!Number.isSafeInteger(options.longPollingTimeoutS) || options.longPollingTimeoutS <= 0) {
        throw invalidOption(
          `longPollingTimeoutS must be a positive whole number of seconds, got ${options.longPollingTimeoutS}`,
        );
      }
    }
    this.longPollingTimeoutS = options.longPollingTimeoutS;
    this.requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs ?? 30_000);
    this.backoffBaseMs = positive('backoffBaseMs', options.backoffBaseMs ?? 1000);
    this.backoffMaxMs = positive('backoffMaxMs', options.backoffMaxMs ?? this.pollMaxDelayS * 1000);
    if (this.backoffMaxMs < this.backoffBaseMs) {
      throw invalidOption(
        `backoffMaxMs (${this.backoffMaxMs}) must not be below backoffBaseMs (${this.backoffBaseMs})`,
      );
    }
    this.limits = validateBundleLimits(options.limits ?? DEFAULT_BUNDLE_LIMITS);
    this.random = options.random ?? Math.random;
    this.dispatcher = this.canceller.wrap(options.dispatcher ?? getGlobalDispatcher());
  }

  /** Starts polling: at once if no poll has run yet, else when the next one is due. */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.inFlight !== undefined) return; // it schedules the next poll when it ends
    const dueInMs =
      this.nextAttemptAt === undefined ? 0 : Math.max(0, this.nextAttemptAt.getTime() - Date.now());
    this.schedule(dueInMs);
  }

  /** Stops polling: cancels the timer and aborts a request in flight. Never throws. */
  stop(): void {
    this.running = false;
    this.clearTimer();
    this.nextAttemptAt = undefined;
    this.cancelledThrough = this.attempts;
    this.canceller.cancelAll(new Error(STOPPED));
  }

  /**
   * Polls now (for the first load, and for tests); joins a poll already in flight. Resolves
   * when the attempt has ended, whatever its outcome; never rejects.
   */
  pollNow(): Promise<void> {
    if (this.inFlight !== undefined) return this.inFlight;
    this.clearTimer();
    this.nextAttemptAt = undefined;
    const attempt = ++this.attempts;
    this.inFlight = this.attempt(attempt)
      .then(
        (delayMs) => {
          if (delayMs !== undefined) this.nextAttemptAt = new Date(Date.now() + delayMs);
        },
        () => {
          // attempt() handles its own errors; this is only a guard for the loop's sake.
        },
      )
      .finally(() => {
        this.inFlight = undefined;
        // No due time means the attempt was cancelled by stop(); if start() came after,
        // the loop resumes at once.
        if (this.running) {
          const due = this.nextAttemptAt?.getTime() ?? Date.now();
          this.schedule(Math.max(0, due - Date.now()));
        }
      });
    return this.inFlight;
  }

  status(): BundlePollerStatus {
    return {
      url: this.url,
      etag: this.etag,
      revision: this.revision,
      lastSuccessAt: this.lastSuccessAt,
      lastErrorAt: this.lastErrorAt,
      lastError: this.lastError,
      nextAttemptAt: this.nextAttemptAt,
      consecutiveFailures: this.consecutiveFailures,
      longPolling: this.longPollingTimeoutS !== undefined && this.serverLongPolls,
    };
  }

  /** One poll. Resolves with the delay until the next, or undefined when it was cancelled. */
  private async attempt(attempt: number): Promise<number | undefined> {
    const cancelled = (): boolean => attempt <= this.cancelledThrough;
    try {
      const supplied = await this.supplyHeaders();
      if (cancelled()) return undefined;
      const started = Date.now();
      const response = await this.download(supplied);
      if (cancelled()) return undefined;

      if (response.status === 304) {
        return this.succeeded(this.afterNotModifiedMs(Date.now() - started));
      }
      if (response.status !== 200) {
        throw new BundleError(
          'GH_BUNDLE_DOWNLOAD_FAILED',
          `${this.url}: the server answered HTTP ${response.status}, expected 200 or 304`,
        );
      }
      const bundle = await readBundle(response.body, {
        limits: this.limits,
        catalogFile: this.options.catalogFile ?? DEFAULT_CATALOG_FILE,
        source: this.url,
        ...(this.options.verification === undefined
          ? {}
          : { verification: this.options.verification }),
      });
      if (cancelled()) return undefined;
      const mediaType = header(response, 'content-type')?.split(';')[0]?.trim().toLowerCase();
      this.serverLongPolls = mediaType === LONG_POLL_MEDIA_TYPE;
      const etag = header(response, 'etag');
      if (!(await this.options.onBundle(bundle, etag))) {
        // The consumer said why (it logs its own build failure); back off as for any failure,
        // and keep the previous ETag so the next poll downloads this bundle again.
        return this.failed(
          new Error(`${this.url}: bundle revision "${bundle.revision}" was not activated`),
          false,
        );
      }
      this.etag = etag;
      this.revision = bundle.revision;
      return this.succeeded(this.afterBundleMs());
    } catch (error) {
      if (cancelled()) return undefined;
      return this.failed(error instanceof Error ? error : new Error(String(error)), true);
    }
  }

  private async supplyHeaders(): Promise<Record<string, string>> {
    const supply = this.options.headers;
    if (supply === undefined) return {};
    try {
      return await supply();
    } catch (error) {
      throw new BundleError(
        'GH_BUNDLE_DOWNLOAD_FAILED',
        `${this.url}: the request headers supplier failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  private async download(supplied: Record<string, string>): Promise<FetchResult> {
    const headers: Record<string, string> = {};
    // Ours win over supplied ones of the same name, whatever their case.
    for (const [name, value] of Object.entries(supplied)) headers[name.toLowerCase()] = value;
    if (this.etag !== undefined) headers['if-none-match'] = this.etag;
    // OPA sends its preferences in one Prefer header: the bundle modes it reads (Gatehouse
    // reads snapshots, not deltas) and, for long polling, how long the server may wait.
    const wait = this.longPollingTimeoutS;
    headers.prefer = wait === undefined ? 'modes=snapshot' : `modes=snapshot;wait=${wait}`;
    const timeoutMs = this.requestTimeoutMs + (wait === undefined ? 0 : wait * 1000);
    try {
      return await fetchBytes(this.url, {
        headers,
        timeoutMs,
        maxBytes: this.limits.maxCompressedBytes,
        dispatcher: this.dispatcher,
      });
    } catch (error) {
      throw new BundleError('GH_BUNDLE_DOWNLOAD_FAILED', (error as Error).message, {
        cause: error,
      });
    }
  }

  /**
   * After a 304 in long-poll mode the next request goes out at once: the server held this
   * one until it had news or its wait ran out. A 304 that came back sooner than the wait
   * means the server did not hold it, and polling again at once would spin.
   */
  private afterNotModifiedMs(elapsedMs: number): number {
    const wait = this.longPollingTimeoutS;
    if (wait !== undefined && this.serverLongPolls && elapsedMs >= wait * 1000) return 0;
    return pollDelayMs(this.pollMinDelayS, this.pollMaxDelayS, this.random);
  }

  /** After a new bundle, a long-polling server is asked again at once (OPA does the same). */
  private afterBundleMs(): number {
    if (this.longPollingTimeoutS !== undefined && this.serverLongPolls) return 0;
    return pollDelayMs(this.pollMinDelayS, this.pollMaxDelayS, this.random);
  }

  private succeeded(delayMs: number): number {
    this.consecutiveFailures = 0;
    this.lastSuccessAt = new Date();
    return delayMs;
  }

  private failed(error: Error, report: boolean): number {
    this.consecutiveFailures++;
    this.lastErrorAt = new Date();
    this.lastError = error.message;
    if (report) {
      try {
        this.options.onError(error);
      } catch {
        // A throwing error handler must not end the loop.
      }
    }
    return opaBackoffMs(
      this.consecutiveFailures,
      this.backoffBaseMs,
      this.backoffMaxMs,
      this.random,
    );
  }

  private schedule(delayMs: number): void {
    this.clearTimer();
    this.nextAttemptAt = new Date(Date.now() + delayMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.pollNow();
    }, delayMs);
    // The servers keep the process alive; a pending poll alone should not.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function header(response: FetchResult, name: string): string | undefined {
  const value = response.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function validateUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidOption(`url ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalidOption(`url must be http or https, got ${parsed.protocol}`);
  }
  // The URL appears in every error message and log line; a password in it would too.
  if (parsed.username !== '' || parsed.password !== '') {
    throw invalidOption('url must not carry credentials: supply them through headers()');
  }
  return url;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw invalidOption(`${name} must be a positive number, got ${value}`);
  }
  return value;
}

function invalidOption(message: string): BundleError {
  return new BundleError('GH_BUNDLE_OPTIONS_INVALID', `bundle poller: ${message}`);
}
