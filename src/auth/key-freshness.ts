import type { IssuerConfig } from '../config/schema.js';

/**
 * When an issuer's keys were last loaded successfully, in epoch milliseconds, whether the
 * load changed them or not; undefined when that is not known (never loaded, or restored
 * from a last-known-good file that does not say). Read live on every check, not from the
 * snapshot: a refresh that finds the same keys builds no new snapshot, yet counts as fresh.
 * The control loop implements it (src/sync); the check path only calls it.
 */
export type KeysRefreshedAt = (issuer: string) => number | undefined;

/**
 * The issuer's `maxKeyStalenessS` applied: undefined while the keys are fresh enough (or
 * no limit is set), else why they are not. An unknown age counts as too old: without a
 * time, the authorizer cannot vouch for the keys.
 */
export function staleKeysReason(
  config: IssuerConfig,
  refreshedAt: number | undefined,
  nowMs: number,
): string | undefined {
  const limitS = config.maxKeyStalenessS;
  if (limitS === undefined) return undefined;
  if (refreshedAt === undefined) {
    return `the keys of ${config.issuer} have no known refresh time (maxKeyStalenessS ${limitS})`;
  }
  const ageS = (nowMs - refreshedAt) / 1000;
  if (ageS <= limitS) return undefined;
  return `the keys of ${config.issuer} were last refreshed ${Math.floor(ageS)} s ago, over maxKeyStalenessS ${limitS}`;
}
