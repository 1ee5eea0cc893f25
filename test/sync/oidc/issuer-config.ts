import type { IssuerKeys } from '../../../src/auth/issuer-keys.js';
import { verifyJwt, type VerifyResult } from '../../../src/auth/jwt-verifier.js';
import { configSchema, type IssuerConfig } from '../../../src/config/schema.js';
import { ORDERS_AUDIENCE } from '../../helpers/authorization-server.js';

/**
 * An issuer config as Gatehouse would load it: through the real schema, so the defaults
 * (refresh interval, cooldown, ...) are the shipped ones and a schema change shows here.
 */
export function parseIssuerConfig(fields: Record<string, unknown>): IssuerConfig {
  const [issuer] = configSchema.parse({
    issuers: [{ audiences: ['orders-api'], algorithms: ['RS256'], ...fields }],
  }).issuers;
  if (issuer === undefined) throw new Error('the schema dropped the issuer');
  return issuer;
}

/** The Gatehouse issuer config for the authorization server's orders tokens, found by discovery. */
export function issuerConfig(issuer: string): IssuerConfig {
  return parseIssuerConfig({ issuer, audiences: [ORDERS_AUDIENCE], discovery: true });
}

/** Verifies `token` the way the check path does, with one issuer's current keys. */
export function verifyWith(token: string, keys: IssuerKeys | undefined): Promise<VerifyResult> {
  if (keys === undefined) throw new Error('the source has no keys yet');
  return verifyJwt(token, new Map([[keys.config.issuer, keys]]), {
    issuers: undefined,
    audiences: undefined,
    maxTokenBytes: 8192,
    defaultClockSkewS: 30,
  });
}
