import type { Logger } from '../logger.js';
import { LOG } from '../log-messages.js';
import type { Metrics } from '../metrics.js';
import type { DecisionLogSink } from './sink.js';

export interface BatchingOptions {
  /** A batch is sent once it has this many records... */
  readonly maxBatchRecords: number;
  /** ...or this many bytes of JSON (one record larger than this goes alone)... */
  readonly maxBatchBytes: number;
  /** ...or this long after its first record arrived, whichever comes first. */
  readonly flushIntervalMs: number;
  /** Records waiting at most; beyond it the oldest is dropped (counted, logged). */
  readonly maxBufferedRecords: number;
  /** Retry delays: doubling from min to max, each ±20 % (jitter, so replicas spread out). */
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
}

export interface ShipperOptions<T> extends BatchingOptions {
  readonly sink: DecisionLogSink;
  /** Turns a queued entry into its JSON record (masking happens here, off the check path). */
  readonly encode: (entry: T) => string;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** For tests of the jitter; default Math.random. */
  readonly random?: () => number;
}

/** How long drop counts are gathered into one log line. */
const DROP_LOG_INTERVAL_MS = 1000;

/**
 * The decision log's queue for one sink. `enqueue` is all the check path does: a push
 * onto a bounded array and, when a batch is full, a wake-up; it never waits and never
 * throws. A loop of its own takes batches and sends them, retrying a failed batch with
 * backoff until it is delivered. Every record ends up counted exactly once: sent, or
 * dropped with a reason (buffer_full, rejected, shutdown, encode_failed).
 */
export class DecisionLogShipper<T> {
  private buffer: T[] = [];
  /** The batch being sent or waiting to be retried, already encoded. */
  private inFlight: string[] | undefined;
  private failures = 0;
  private closing = false;
  private wakeUp: (() => void) | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private readonly pendingDrops = new Map<string, number>();
  private dropLogTimer: NodeJS.Timeout | undefined;
  private readonly loop: Promise<void>;

  constructor(private readonly options: ShipperOptions<T>) {
    this.updateGauge();
    this.loop = this.run();
  }

  get sink(): string {
    return this.options.sink.name;
  }

  /** The check path's one call. */
  enqueue(entry: T): void {
    if (this.closing) {
      this.drop('shutdown', 1);
      return;
    }
    if (this.buffer.length >= this.options.maxBufferedRecords) {
      // OPA's choice too: under pressure the oldest records go, the newest are kept.
      this.buffer.shift();
      this.drop('buffer_full', 1);
    }
    this.buffer.push(entry);
    this.updateGauge();
    if (this.buffer.length >= this.options.maxBatchRecords) this.wake();
    else if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.wake();
      }, this.options.flushIntervalMs);
      this.flushTimer.unref();
    }
  }

  /** Records waiting, including a batch being sent or retried. */
  buffered(): number {
    return this.buffer.length + (this.inFlight?.length ?? 0);
  }

  /**
   * Sends what is queued (no retry once closing: a batch that fails is dropped as
   * `shutdown`), and gives up after `deadlineMs`: whatever is left is counted as dropped.
   */
  async close(deadlineMs: number): Promise<void> {
    this.closing = true;
    this.wake();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.abort.abort();
        resolve();
      }, deadlineMs);
    });
    await Promise.race([this.loop, deadline]);
    clearTimeout(timer);
    this.abort.abort();
    await this.loop;
    this.flushDropLog();
    await this.options.sink.close?.();
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.inFlight === undefined) {
        if (this.buffer.length === 0 || (!this.closing && !this.batchDue())) {
          if (this.closing) return;
          await this.sleepUntilWoken();
          continue;
        }
        this.inFlight = this.takeBatch();
        this.updateGauge();
        if (this.inFlight.length === 0) {
          this.inFlight = undefined;
          continue;
        }
      }
      const batch = this.inFlight;
      if (this.abort.signal.aborted) {
        this.settle(() => {
          this.drop('shutdown', batch.length);
        });
        continue;
      }
      let outcome;
      try {
        outcome = await this.options.sink.send(batch, this.abort.signal);
      } catch (error) {
        outcome = { kind: 'retry' as const, reason: String(error) };
      }
      if (outcome.kind === 'sent') {
        this.settle(() => {
          this.options.metrics.decisionLogSent.inc({ sink: this.sink }, batch.length);
          this.failures = 0;
        });
      } else if (outcome.kind === 'rejected') {
        this.options.logger.error(
          { sink: this.sink, reason: outcome.reason, records: batch.length },
          LOG.decisionLogRejected,
        );
        this.settle(() => {
          this.drop('rejected', batch.length);
        });
      } else {
        this.failures += 1;
        this.options.metrics.decisionLogUploadFailures.inc({
          sink: this.sink,
          reason: reasonLabel(outcome.reason),
        });
        if (this.failures === 1 || this.failures % 10 === 0) {
          this.options.logger.warn(
            {
              sink: this.sink,
              reason: outcome.reason,
              consecutiveFailures: this.failures,
              buffered: this.buffered(),
            },
            LOG.decisionLogUploadFailed,
          );
        }
        if (this.closing) {
          this.settle(() => {
            this.drop('shutdown', batch.length);
          });
          continue;
        }
        await this.sleep(this.backoffMs());
      }
    }
  }

  /** Ends the in-flight batch's life: it was counted once, by `count`. */
  private settle(count: () => void): void {
    count();
    this.inFlight = undefined;
    this.updateGauge();
  }

  private batchDue(): boolean {
    return this.buffer.length >= this.options.maxBatchRecords || this.flushTimer === undefined;
  }

  private takeBatch(): string[] {
    const batch: string[] = [];
    let bytes = 2;
    while (this.buffer.length > 0 && batch.length < this.options.maxBatchRecords) {
      const entry = this.buffer[0] as T;
      let encoded: string;
      try {
        encoded = this.options.encode(entry);
      } catch (error) {
        this.buffer.shift();
        this.options.logger.error({ err: error, sink: this.sink }, LOG.decisionLogEncodeFailed);
        this.drop('encode_failed', 1);
        continue;
      }
      const size = Buffer.byteLength(encoded) + 1;
      if (batch.length > 0 && bytes + size > this.options.maxBatchBytes) break;
      this.buffer.shift();
      batch.push(encoded);
      bytes += size;
    }
    return batch;
  }

  private backoffMs(): number {
    const { backoffMinMs, backoffMaxMs } = this.options;
    const base = Math.min(backoffMaxMs, backoffMinMs * 2 ** Math.min(this.failures - 1, 30));
    const jitter = 0.8 + 0.4 * (this.options.random ?? Math.random)();
    return Math.round(base * jitter);
  }

  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = undefined;
    wake?.();
  }

  private sleepUntilWoken(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
    });
  }

  /** A backoff pause that close() cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.wakeUp = () => {
        if (!this.closing) return;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private drop(reason: string, count: number): void {
    if (count <= 0) return;
    this.options.metrics.decisionLogDropped.inc({ sink: this.sink, reason }, count);
    this.pendingDrops.set(reason, (this.pendingDrops.get(reason) ?? 0) + count);
    if (this.dropLogTimer === undefined) {
      // One line per second at most, with the counts: a flood of drops is not a flood of logs.
      this.dropLogTimer = setTimeout(() => {
        this.flushDropLog();
      }, DROP_LOG_INTERVAL_MS);
      this.dropLogTimer.unref();
    }
  }

  private flushDropLog(): void {
    clearTimeout(this.dropLogTimer);
    this.dropLogTimer = undefined;
    if (this.pendingDrops.size === 0) return;
    this.options.logger.warn(
      { sink: this.sink, dropped: Object.fromEntries(this.pendingDrops) },
      LOG.decisionLogDropped,
    );
    this.pendingDrops.clear();
  }

  private updateGauge(): void {
    this.options.metrics.decisionLogBuffered.set({ sink: this.sink }, this.buffered());
  }
}

/** A bounded label: `http 503` and error codes stay; free text becomes `error`. */
function reasonLabel(reason: string): string {
  if (/^http \d{3}$/.test(reason) || /^[A-Z_]+$/.test(reason)) return reason;
  if (reason.startsWith('token:')) return 'token';
  return 'error';
}
