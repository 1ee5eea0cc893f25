import type { Snapshot } from './snapshot.js';

/**
 * Holds the active snapshot. Swapping is one reference assignment, so readers never see a
 * half-built state. Builds are numbered when they start: a build that started earlier can
 * never replace the snapshot of one that started later, however the two finish.
 */
export class SnapshotStore {
  private active: Snapshot | undefined;
  private activeSequence = -1;
  private nextSequence = 0;
  private readonly listeners = new Set<(snapshot: Snapshot) => void>();

  current(): Snapshot | undefined {
    return this.active;
  }

  /** Call when a build starts; pass the number to activate() when it is done. */
  beginBuild(): number {
    return this.nextSequence++;
  }

  /** Activates `snapshot` unless a newer build was already activated. Returns whether it was. */
  activate(snapshot: Snapshot, sequence: number): boolean {
    if (sequence <= this.activeSequence) return false;
    this.active = snapshot;
    this.activeSequence = sequence;
    for (const listener of this.listeners) listener(snapshot);
    return true;
  }

  onActivate(listener: (snapshot: Snapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
