import type { ErrorCode } from './error-codes.js';

/**
 * The base of every error Gatehouse throws: a `code` from the one registry
 * (`error-codes.ts`), a message for people (never a secret), and the underlying error as
 * the standard `cause` (ES2022). Catch sites can read `code` without knowing the subclass:
 * it is what goes into a log field, a metric label and a source's `lastError`.
 */
export class GatehouseError<Code extends ErrorCode = ErrorCode> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    // Subclasses that set their own name keep it; the others get their class name.
    this.name = new.target.name;
  }
}
