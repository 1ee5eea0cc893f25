import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { FolderPolicySource } from './folder-policy-source.js';
import { LastKnownGoodStore } from './last-known-good.js';
import { IssuerKeySource } from './oidc/issuer-key-source.js';
import type { KeySource, PolicySource } from './sources.js';

/** The policy source the config names: the local folder (an OPA bundle server comes next). */
export function createPolicySource(config: GatehouseConfig, logger: Logger): PolicySource {
  return new FolderPolicySource({
    dir: config.policies.dir,
    catalogFile: config.policies.catalogFile,
    watch: config.policies.watch,
    watchDebounceMs: config.policies.watchDebounceMs,
    logger,
  });
}

/** A key source per issuer that has public keys; HS*-only issuers need none. */
export function createKeySources(
  config: GatehouseConfig,
  logger: Logger,
  env: NodeJS.ProcessEnv,
): Map<string, KeySource> {
  const sources = new Map<string, KeySource>();
  for (const issuer of config.issuers) {
    const hasPublicKeys =
      issuer.discovery ||
      issuer.jwksUrl !== undefined ||
      issuer.jwksFile !== undefined ||
      issuer.signerCertificateFile !== undefined;
    if (!hasPublicKeys) continue;
    const secret = issuer.hmacSecretEnv === undefined ? undefined : env[issuer.hmacSecretEnv];
    sources.set(
      issuer.issuer,
      new IssuerKeySource({
        config: issuer,
        logger,
        ...(secret === undefined ? {} : { hmacSecret: secret }),
      }),
    );
  }
  return sources;
}

export function createLastKnownGood(
  config: GatehouseConfig,
  env: NodeJS.ProcessEnv,
): LastKnownGoodStore | undefined {
  if (!config.persistence.enabled) return undefined;
  const keyEnv = config.persistence.hmacKeyEnv;
  const key = keyEnv === undefined ? undefined : env[keyEnv];
  return new LastKnownGoodStore(
    config.persistence.dir,
    key === undefined ? undefined : Buffer.from(key, 'utf8'),
  );
}
