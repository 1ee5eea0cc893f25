import type { IssuerKeys } from '../auth/issuer-keys.js';
import type { PolicyInputs } from '../snapshot/build-snapshot.js';

/**
 * What the control loop needs from a source of policies, data and the API catalog (a local
 * folder, an OPA bundle server). The source calls `deliver` with whole inputs; the control
 * loop answers whether it built and activated a snapshot from them.
 */
export interface PolicySource {
  readonly kind: string;
  /** Resolves after the first delivery attempt (successful or not). */
  start(deliver: (inputs: PolicyInputs) => Promise<boolean>): Promise<void>;
  stop(): void;
  /** Fetches or re-reads now and delivers; resolves with whether a snapshot was activated. */
  refreshNow(): Promise<boolean>;
  status(): unknown;
}

/** One issuer's verification keys, kept current by the source (see oidc/issuer-key-source.ts). */
export interface KeySource {
  /** Resolves with whether keys were loaded; never rejects. */
  start(): Promise<boolean>;
  stop(): void;
  current(): IssuerKeys | undefined;
  /** Epoch milliseconds of the last load that produced usable keys, changed or not. */
  lastSuccessAt(): number | undefined;
  onChange(listener: (keys: IssuerKeys) => void): () => void;
  /** Refreshes (within a cooldown) because a token named `kid`; resolves with whether it is now known. */
  refreshForUnknownKid(kid: string): Promise<boolean>;
  status(): unknown;
}
