import type { IssuerConfig } from '../config/schema.js';

/**
 * The shared secret of each issuer with `hmacSecretEnv` (HS* tokens), by issuer, read from
 * the environment once: the key sources and the control loop both verify with it. An unset
 * variable is left out (load-config has already refused a short secret).
 */
export function issuerHmacSecrets(
  issuers: readonly IssuerConfig[],
  env: NodeJS.ProcessEnv,
): ReadonlyMap<string, string> {
  const secrets = new Map<string, string>();
  for (const issuer of issuers) {
    const secret = issuer.hmacSecretEnv === undefined ? undefined : env[issuer.hmacSecretEnv];
    if (secret !== undefined) secrets.set(issuer.issuer, secret);
  }
  return secrets;
}
