import type { Logger } from '../observability/logger.js';
import { LOG } from '../observability/log-messages.js';
import type { PolicyInputs } from '../snapshot/build-snapshot.js';
import { opaBackoffMs } from '../net/backoff.js';
import { FolderWatcher } from './folder/folder-watcher.js';
import { readPolicyFolder } from './folder/read-policy-folder.js';
import type { PolicySource } from './sources.js';

export interface FolderPolicySourceOptions {
  readonly dir: string;
  readonly catalogFile: string;
  /** OPA-Envoy mode: the folder may have no catalog. */
  readonly catalogOptional?: boolean;
  /** Read again (debounced) when an entry of the folder or of a folder below it changes. */
  readonly watch: boolean;
  readonly watchDebounceMs: number;
  /** Read again this often, whatever the watcher saw; 0: never. */
  readonly rescanIntervalS: number;
  readonly logger: Logger;
  /** The first retry after a failure, in milliseconds; x1.6 per failure. Default 1000. */
  readonly retryBaseMs?: number;
  /** Source of randomness for the retry jitter, in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

export interface FolderPolicySourceStatus {
  readonly kind: 'folder';
  readonly dir: string;
  /** Whether the folder itself is watched right now (false while it is missing). */
  readonly watching: boolean;
  readonly rescanIntervalS: number;
  /** Content hash of what the last successful read found (the snapshot's `sourceRevision` once activated). */
  readonly revision: string | undefined;
  /** The last read that found a complete, valid folder. */
  readonly lastReadAt: Date | undefined;
  /** The last attempt whose content is active (built now, or unchanged since). */
  readonly lastSuccessAt: Date | undefined;
  readonly lastErrorAt: Date | undefined;
  readonly lastError: string | undefined;
  /** When the next read is due (a retry or the rescan); undefined when none is scheduled. */
  readonly nextAttemptAt: Date | undefined;
  readonly consecutiveFailures: number;
}

/**
 * Without a rescan, failing must still not leave the folder unread for long. With one, a
 * retry never waits longer than the rescan would (as the key sources cap their backoff at
 * the refresh interval).
 */
const RETRY_MAX_WITHOUT_RESCAN_MS = 30_000;

/**
 * Policies from a local folder (development, tests, or a mounted volume such as a
 * ConfigMap). The folder is read whole and its content hashed: at start, when the watcher
 * sees an entry change, every `rescanIntervalS` as a safety net for changes the watcher
 * cannot see (network filesystems, a missed event), and after a failure on a backoff. Only
 * content with a new hash is delivered, so a rescan or a `touch` rebuilds nothing.
 *
 * A failed attempt (the folder is missing or unreadable, a file is broken, the snapshot
 * does not build) keeps the previous snapshot and is retried with the bundle poller's
 * backoff (1 s, x1.6 per failure, ±20 %): the folder is a policy source like the bundle,
 * and its failures are the same kind (content that does not build, a volume not mounted
 * yet), so both retry on the same schedule and docs/sync.md's failure table has one row shape.
 */
export class FolderPolicySource implements PolicySource {
  readonly kind = 'folder';
  private deliver: ((inputs: PolicyInputs) => Promise<boolean>) | undefined;
  private running = false;
  private watcher: FolderWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Reads run one at a time; `pending` is the next one, not started yet, that callers join. */
  private queue: Promise<unknown> = Promise.resolve();
  private pending: Promise<boolean> | undefined;
  /** The directories the last successful read entered (what the watcher watches). */
  private directories: readonly string[] = [];
  /** The content hash last delivered and activated: the same content is not delivered again. */
  private activatedRevision: string | undefined;

  private revision: string | undefined;
  private lastReadAt: Date | undefined;
  private lastSuccessAt: Date | undefined;
  private lastErrorAt: Date | undefined;
  private lastError: string | undefined;
  private nextAttemptAt: Date | undefined;
  private consecutiveFailures = 0;

  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly random: () => number;

  constructor(private readonly options: FolderPolicySourceOptions) {
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    const rescanMs = options.rescanIntervalS * 1000;
    this.retryMaxMs = Math.max(
      this.retryBaseMs,
      rescanMs > 0 ? rescanMs : RETRY_MAX_WITHOUT_RESCAN_MS,
    );
    this.random = options.random ?? Math.random;
  }

  async start(deliver: (inputs: PolicyInputs) => Promise<boolean>): Promise<void> {
    this.deliver = deliver;
    this.running = true;
    if (this.options.watch) {
      this.watcher = new FolderWatcher(this.options.watchDebounceMs, () => {
        void this.requestRead();
      });
    }
    await this.requestRead();
  }

  stop(): void {
    this.running = false;
    this.clearTimer();
    this.watcher?.close();
    this.watcher = undefined;
  }

  refreshNow(): Promise<boolean> {
    return this.requestRead();
  }

  status(): FolderPolicySourceStatus {
    return {
      kind: this.kind,
      dir: this.options.dir,
      watching: this.watcher?.watching() ?? false,
      rescanIntervalS: this.options.rescanIntervalS,
      revision: this.revision,
      lastReadAt: this.lastReadAt,
      lastSuccessAt: this.lastSuccessAt,
      lastErrorAt: this.lastErrorAt,
      lastError: this.lastError,
      nextAttemptAt: this.nextAttemptAt,
      consecutiveFailures: this.consecutiveFailures,
    };
  }

  /** A read that starts after this call: joins the one queued, else queues one. */
  private requestRead(): Promise<boolean> {
    if (this.pending !== undefined) return this.pending;
    const read = this.queue.then(() => {
      this.pending = undefined;
      return this.attempt();
    });
    this.pending = read;
    this.queue = read.catch(() => undefined);
    return read;
  }

  /** One read (and delivery, if the content is new). Never rejects. */
  private async attempt(): Promise<boolean> {
    this.clearTimer();
    let ok = false;
    let failure: unknown;
    let readDirectories: readonly string[] | undefined;
    try {
      const read = await readPolicyFolder(
        this.options.dir,
        this.options.catalogFile,
        this.options.catalogOptional ?? false,
      );
      readDirectories = read.directories;
      this.revision = read.revision;
      this.lastReadAt = new Date();
      if (read.revision === this.activatedRevision) {
        ok = true;
      } else if (!this.running) {
        return false; // stopped while reading: deliver nothing
      } else if ((await this.deliver?.(read.inputs)) === true) {
        this.activatedRevision = read.revision;
        ok = true;
      } else {
        failure = new Error(
          `policy folder ${this.options.dir}: revision ${read.revision} was read but not activated (see lastBuild)`,
        );
      }
    } catch (error) {
      failure = error;
    }
    if (readDirectories !== undefined) this.directories = readDirectories;
    if (ok) {
      this.consecutiveFailures = 0;
      this.lastSuccessAt = new Date();
    } else {
      this.recordFailure(failure, readDirectories === undefined);
    }
    // The folder may have appeared, gone, or gained a subfolder: watch what is there now.
    await this.watcher?.track(this.options.dir, this.directories);
    this.schedule(ok);
    return ok;
  }

  private recordFailure(error: unknown, readFailed: boolean): void {
    this.consecutiveFailures += 1;
    this.lastErrorAt = new Date();
    this.lastError = error instanceof Error ? error.message : String(error);
    // A build failure is logged by the control loop; a read failure only here.
    if (readFailed) {
      this.options.logger.error(
        { err: error, dir: this.options.dir, failures: this.consecutiveFailures },
        LOG.policyFolderReadFailed,
      );
    }
  }

  private schedule(ok: boolean): void {
    this.clearTimer();
    if (!this.running) return;
    const rescanMs = this.options.rescanIntervalS * 1000;
    const delayMs = ok
      ? rescanMs
      : opaBackoffMs(this.consecutiveFailures, this.retryBaseMs, this.retryMaxMs, this.random);
    if (delayMs <= 0) return;
    this.nextAttemptAt = new Date(Date.now() + delayMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.requestRead();
    }, delayMs);
    // The servers keep the process alive; a pending read alone should not.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAttemptAt = undefined;
  }
}
