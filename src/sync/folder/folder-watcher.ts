import { watch, type FSWatcher } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';

interface Watched {
  readonly watcher: FSWatcher;
  /** The directory's inode when the watch began: a folder removed and created again is new. */
  readonly ino: number;
}

/**
 * Calls `onChange` (debounced) when an entry of one of the watched directories changes.
 *
 * It watches directories, never files: inotify follows the inode it was given, so a watch
 * on a file goes deaf once an editor, `kubectl cp` or a config-management tool writes a
 * temporary file and renames it over the original, and once a ConfigMap swaps `..data`. A
 * directory watch sees every entry written, created, deleted or renamed over (inotify(7):
 * IN_MODIFY, IN_CREATE, IN_DELETE, IN_MOVED_TO on the directory's children). Bursts (write
 * temp, rename) end in one call.
 */
export class FolderWatcher {
  private readonly watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | undefined;
  private root: string | undefined;
  private closed = false;

  constructor(
    private readonly debounceMs: number,
    private readonly onChange: () => void,
  ) {}

  /**
   * Watches exactly `directories` (any path; they are resolved), plus `root`: new ones are
   * added, gone or replaced ones are dropped. A path that does not exist is not watched.
   */
  async track(rootDir: string, directories: readonly string[]): Promise<void> {
    const wanted = new Map<string, number>();
    // Resolved into a local and assigned once the awaits are over: /status asks watching()
    // at any moment, and a re-read in progress must not report the folder unwatched.
    let root: string | undefined;
    for (const dir of [rootDir, ...directories]) {
      try {
        const real = await realpath(dir);
        const info = await stat(real);
        if (!info.isDirectory()) continue;
        wanted.set(real, info.ino);
        if (dir === rootDir) root = real;
      } catch {
        // Missing or unreadable: the source's retries notice when it is back.
      }
    }
    this.root = root;
    if (this.closed) return;
    for (const [dir, entry] of this.watched) {
      if (wanted.get(dir) !== entry.ino) this.unwatch(dir);
    }
    for (const [dir, ino] of wanted) {
      if (!this.watched.has(dir)) this.add(dir, ino);
    }
  }

  /** Whether the folder itself is watched. */
  watching(): boolean {
    return this.root !== undefined && this.watched.has(this.root);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const dir of [...this.watched.keys()]) this.unwatch(dir);
  }

  private add(dir: string, ino: number): void {
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, () => {
        this.changed();
      });
    } catch {
      return; // gone between stat and watch: the next track() tries again
    }
    watcher.on('error', () => {
      // The directory went away (or the watch broke): stop watching it and let the source
      // read again, fail and retry until it is back.
      this.unwatch(dir);
      this.changed();
    });
    this.watched.set(dir, { watcher, ino });
  }

  private unwatch(dir: string): void {
    this.watched.get(dir)?.watcher.close();
    this.watched.delete(dir);
  }

  private changed(): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onChange();
    }, this.debounceMs);
    this.timer.unref();
  }
}
