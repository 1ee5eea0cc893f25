/**
 * What one shadow (dry-run) policy said about a check (docs/shadow.md). A shadow is never
 * enforced: its verdict is only logged, counted and written to the decision log, beside the
 * decision the proxy received.
 */

/** `error`: the shadow could not answer (evaluation error, bad result, missing entrypoint). */
export type ShadowOutcome = 'allow' | 'deny' | 'error';

export interface ShadowVerdict {
  /** The catalog level the shadow is declared at. */
  readonly level: 'global' | 'service' | 'api';
  /** The shadow's Rego (or declarative) package. */
  readonly package: string;
  readonly outcome: ShadowOutcome;
  /** Why it denied or failed, for the log line and the decision log; unset on an allow. */
  readonly reason?: string | undefined;
}

/** Every shadow verdict of one check, and where the enforced levels stopped. */
export interface ShadowRun {
  readonly verdicts: readonly ShadowVerdict[];
  /** The enforced level that did not allow, if a policy level denied; unset otherwise. */
  readonly enforcedDeniedAt?: string | undefined;
}
