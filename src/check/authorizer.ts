import type { CheckInput } from './check-input.js';
import type { Decision } from '../decision/decision.js';

/**
 * What a transport needs from the core: a decision for a request, and whether a policy
 * snapshot is active. Transports depend on this contract only, never on the pipeline's
 * internals, so tests can drive them with the real pipeline or any other implementation.
 */
export interface Authorizer {
  /** Never rejects: every failure becomes an explicit deny decision. */
  check(input: CheckInput): Promise<Decision>;
  /** True once a first snapshot is active (readiness, gRPC health). */
  isReady(): boolean;
}
