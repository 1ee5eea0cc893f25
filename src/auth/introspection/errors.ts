import { INTROSPECTION_ERRORS } from '../../errors/error-codes.js';
import { GatehouseError } from '../../errors/gatehouse-error.js';

/**
 * Why an introspection answered `unavailable`: a closed set, each with what it means (the
 * meanings live in the one registry, src/errors/error-codes.ts). The code is the `detail`
 * of the deny it leads to; the `reason` next to it is for people.
 */
export type IntrospectionFailureCode = Exclude<
  keyof typeof INTROSPECTION_ERRORS,
  'GH_INTROSPECTION_CONFIG_INVALID'
>;

export const INTROSPECTION_FAILURES: Readonly<Record<IntrospectionFailureCode, string>> = (() => {
  const { GH_INTROSPECTION_CONFIG_INVALID: _notAFailure, ...failures } = INTROSPECTION_ERRORS;
  return failures;
})();

/** A start-up error: the options are unusable. The message names the option. */
export class IntrospectionConfigError extends GatehouseError<'GH_INTROSPECTION_CONFIG_INVALID'> {
  constructor(option: string, problem: string, options?: ErrorOptions) {
    super('GH_INTROSPECTION_CONFIG_INVALID', `${option}: ${problem}`, options);
    this.name = 'IntrospectionConfigError';
  }
}
