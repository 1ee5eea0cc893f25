import type { ShadowRun } from '../decision/shadow-verdict.js';

/**
 * When each phase of one check ended, on the monotonic clock, so metrics, decision logs and
 * traces read the same numbers. The pipeline marks a phase as it finishes; a phase a check
 * never reached (a deny in routing has no auth phase) has no mark.
 */
export type CheckPhase = 'route' | 'auth' | 'evaluate';

export const CHECK_PHASES: readonly CheckPhase[] = ['route', 'auth', 'evaluate'];

export class PhaseClock {
  /** process.hrtime.bigint() at the check's start. */
  readonly startedNs = process.hrtime.bigint();
  /** Date.now() at the check's start, to place spans and log records in wall time. */
  readonly startedAtMs = Date.now();
  readonly ends: Partial<Record<CheckPhase, bigint>> = {};
  endedNs: bigint | undefined;
  /**
   * What this check's shadow policies said (docs/shadow.md), set by the evaluate phase only
   * on an API with shadows; the pipeline reports it against the final decision.
   */
  shadows: ShadowRun | undefined = undefined;

  mark(phase: CheckPhase): void {
    this.ends[phase] = process.hrtime.bigint();
  }

  /** Marks the whole check as decided (the pipeline calls it once). */
  finish(): void {
    this.endedNs ??= process.hrtime.bigint();
  }

  /**
   * Each reached phase's [start, end] in nanoseconds since the check's start: a phase starts
   * where the one before it ended (or at the start).
   */
  spans(): Array<{ readonly phase: CheckPhase; readonly startNs: bigint; readonly endNs: bigint }> {
    const result: Array<{ phase: CheckPhase; startNs: bigint; endNs: bigint }> = [];
    let previous = 0n;
    for (const phase of CHECK_PHASES) {
      const end = this.ends[phase];
      if (end === undefined) break;
      const endNs = end - this.startedNs;
      result.push({ phase, startNs: previous, endNs });
      previous = endNs;
    }
    return result;
  }

  /** The whole check in nanoseconds (up to now if not finished). */
  totalNs(): bigint {
    return (this.endedNs ?? process.hrtime.bigint()) - this.startedNs;
  }
}
