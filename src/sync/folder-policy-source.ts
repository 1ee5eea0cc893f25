import type { Logger } from '../observability/logger.js';
import { LOG } from '../observability/log-messages.js';
import type { PolicyInputs } from '../snapshot/build-snapshot.js';
import { readPolicyFolder, watchPolicyFolder } from './local-folder-source.js';
import type { PolicySource } from './sources.js';

export interface FolderPolicySourceOptions {
  readonly dir: string;
  readonly catalogFile: string;
  readonly watch: boolean;
  readonly watchDebounceMs: number;
  readonly logger: Logger;
}

/** Policies from a local folder (development, tests, or a mounted volume), re-read on change. */
export class FolderPolicySource implements PolicySource {
  readonly kind = 'folder';
  private stopWatching: (() => void) | undefined;
  private deliver: ((inputs: PolicyInputs) => Promise<boolean>) | undefined;
  private lastReadAt: number | undefined;
  private lastError: string | undefined;

  constructor(private readonly options: FolderPolicySourceOptions) {}

  async start(deliver: (inputs: PolicyInputs) => Promise<boolean>): Promise<void> {
    this.deliver = deliver;
    await this.readAndDeliver();
    if (this.options.watch) {
      this.stopWatching = watchPolicyFolder(this.options.dir, this.options.watchDebounceMs, () => {
        void this.readAndDeliver();
      });
    }
  }

  stop(): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
  }

  refreshNow(): Promise<boolean> {
    return this.readAndDeliver();
  }

  private async readAndDeliver(): Promise<boolean> {
    let inputs: PolicyInputs;
    try {
      inputs = await readPolicyFolder(this.options.dir, this.options.catalogFile);
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      this.options.logger.error({ err: error, dir: this.options.dir }, LOG.snapshotRejected);
      return false;
    }
    this.lastReadAt = Date.now();
    this.lastError = undefined;
    return (await this.deliver?.(inputs)) ?? false;
  }

  status(): unknown {
    return {
      kind: this.kind,
      dir: this.options.dir,
      watching: this.stopWatching !== undefined,
      lastReadAt: this.lastReadAt,
      lastError: this.lastError,
    };
  }
}
