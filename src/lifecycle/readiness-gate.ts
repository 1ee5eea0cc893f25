import type { Authorizer } from '../check/authorizer.js';

/**
 * Readiness during shutdown. Once draining starts, every readiness signal (HTTP /readyz, the
 * probe port, gRPC health) says no while checks are still answered: the orchestrator and
 * Envoy's health checks take the instance out of rotation before its listeners close.
 */
export class ReadinessGate {
  private drainingSince: number | undefined;

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  startDraining(): void {
    this.drainingSince ??= Date.now();
  }

  /** The same authorizer, not ready once draining started. */
  gate(inner: Authorizer): Authorizer {
    return {
      check: (input) => inner.check(input),
      isReady: () => !this.draining && inner.isReady(),
    };
  }
}
