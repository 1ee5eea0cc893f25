/**
 * Where the jti of each accepted DPoP proof is remembered (RFC 9449 section 11.1). The
 * in-process `DpopReplayCache` answers synchronously; a store shared by worker processes
 * (over IPC to the primary) or by replicas (Redis) answers with a promise. A store that
 * cannot answer rejects: the proof is then refused (never accepted unchecked).
 */
export interface DpopReplayStore {
  /** How long, in seconds either side of now, a proof is accepted; jtis are kept twice that. */
  readonly iatWindowS: number;
  /**
   * Records the proof `jti` of key `jkt` and reports whether it was already recorded within
   * its lifetime (a replay). A rejected promise means the store could not tell.
   */
  seen(jti: string, jkt: string): boolean | Promise<boolean>;
}
