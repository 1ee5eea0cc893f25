import { configSchema, type IssuerConfig } from '../../../src/config/schema.js';

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
