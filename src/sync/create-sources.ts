import { readFile } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { ConfigError } from '../config/load-config.js';
import type { CentralServerConfig, GatehouseConfig, IssuerConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { LOG } from '../observability/log-messages.js';
import type { Metrics } from '../observability/metrics.js';
import { DEFAULT_BUNDLE_LIMITS } from './bundle/bundle-limits.js';
import type { BundleVerification } from './bundle/verify-signature.js';
import { BundlePolicySource } from './bundle-policy-source.js';
import { FolderPolicySource } from './folder-policy-source.js';
import { LastKnownGoodStore } from './last-known-good.js';
import type { ClientCredentialsTokenSource } from '../net/oauth/client-credentials.js';
import {
  clientCredentialsOptionsFromConfig,
  createClientCredentialsTokenSource,
} from '../net/oauth/read-client-config.js';
import { OAuthClientAuthenticator } from '../net/oauth/client-authentication.js';
import { IssuerIntrospector } from '../auth/introspection/issuer-introspector.js';
import type { IntrospectionOutcome } from '../auth/introspection/options.js';
import { issuerHmacSecrets } from './issuer-secrets.js';
import { IssuerKeySource } from './oidc/issuer-key-source.js';
import type { KeySource, PolicySource } from './sources.js';

/**
 * What requests to the central server carry when `useClientAuth` is on: the OAuth access
 * token, and the client certificate (mutual TLS) when one is configured.
 */
interface ClientAuth {
  readonly headers: () => Promise<Record<string, string>>;
  readonly dispatcher: Dispatcher | undefined;
}

export interface Sources {
  readonly policySource: PolicySource;
  /** Introspection per issuer that has it configured (opaque tokens). */
  readonly introspectors: ReadonlyMap<string, IssuerIntrospector>;
  readonly keySources: Map<string, KeySource>;
  readonly lastKnownGood: LastKnownGoodStore | undefined;
  /** The `centralServer` OAuth client, for other requests to that server (decision logs). */
  readonly centralServerClient: ClientCredentialsTokenSource | undefined;
  /** Closes the OAuth client (its TLS agent), if any. */
  close(): Promise<void>;
}

/** The config sections the sources are built from. */
export type SourcesConfig = Pick<
  GatehouseConfig,
  'issuers' | 'centralServer' | 'bundle' | 'policies' | 'opaEnvoy' | 'persistence'
>;

/**
 * Builds every source the config names. Throws ConfigError on unreadable key files.
 * `metrics`, when given, counts the introspection requests.
 */
export async function createSources(
  config: SourcesConfig,
  logger: Logger,
  env: NodeJS.ProcessEnv,
  metrics?: Metrics,
): Promise<Sources> {
  const client =
    config.centralServer === undefined
      ? undefined
      : await createClientCredentialsTokenSource(config.centralServer, { env });
  const clientAuth = client === undefined ? undefined : toClientAuth(client);
  const introspection = await createIntrospectors(
    config.issuers,
    config.centralServer,
    env,
    logger,
    metrics,
  );
  return {
    policySource: await createPolicySource(config, logger, env, clientAuth),
    introspectors: introspection.introspectors,
    keySources: createKeySources(
      config.issuers,
      issuerHmacSecrets(config.issuers, env),
      logger,
      clientAuth,
      metrics,
    ),
    lastKnownGood: createLastKnownGood(config.persistence, env),
    centralServerClient: client,
    close: async () => {
      await client?.close();
      await introspection.close();
    },
  };
}

/**
 * RFC 7662 introspection for the issuers that configure it, authenticated as the
 * centralServer client (the schema requires one).
 */
async function createIntrospectors(
  issuers: readonly IssuerConfig[],
  central: CentralServerConfig | undefined,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  metrics: Metrics | undefined,
): Promise<{ introspectors: Map<string, IssuerIntrospector>; close(): Promise<void> }> {
  const introspectors = new Map<string, IssuerIntrospector>();
  const withIntrospection = issuers.filter((issuer) => issuer.introspection !== undefined);
  if (withIntrospection.length === 0 || central === undefined) {
    return { introspectors, close: () => Promise.resolve() };
  }
  // The same client, the same credentials: only the token endpoint's assertion audience
  // setting does not carry over (an introspection assertion names the introspection URL).
  const { assertionAudience: _unused, ...options } = await clientCredentialsOptionsFromConfig(
    central,
    { env },
  );
  const clientAuth = new OAuthClientAuthenticator(options);
  for (const issuer of withIntrospection) {
    const settings = issuer.introspection;
    if (settings === undefined) continue;
    introspectors.set(
      issuer.issuer,
      new IssuerIntrospector({
        issuer: issuer.issuer,
        endpoint: settings.endpoint,
        clientAuth,
        timeoutMs: settings.timeoutMs,
        cache: { maxTtlS: settings.cacheMaxTtlS, inactiveTtlS: settings.inactiveCacheTtlS },
        rateLimit: { maxCallsPerS: settings.maxCallsPerS, burst: settings.maxCallsBurst },
        onOutcome: introspectionOutcomeRecorder(
          issuer.issuer,
          settings.maxCallsPerS,
          logger,
          metrics,
        ),
      }),
    );
  }
  return {
    introspectors,
    close: async () => {
      for (const introspector of introspectors.values()) introspector.close();
      await clientAuth.close();
    },
  };
}

/**
 * Counts every outcome, and says once per spell when the limit starts refusing (each refused
 * request is also logged as a deny by the pipeline, with its code).
 */
function introspectionOutcomeRecorder(
  issuer: string,
  maxCallsPerS: number,
  logger: Logger,
  metrics: Metrics | undefined,
): (outcome: IntrospectionOutcome) => void {
  let limiting = false;
  return (outcome) => {
    metrics?.introspectionRequests.inc({ issuer, outcome });
    const limited = outcome === 'rate_limited';
    if (limited && !limiting) logger.warn({ issuer, maxCallsPerS }, LOG.introspectionRateLimited);
    limiting = limited;
  };
}

function toClientAuth(client: ClientCredentialsTokenSource): ClientAuth {
  return { headers: () => client.authorizationHeader(), dispatcher: client.dispatcher() };
}

/** The bundle server when one is configured, else the local policy folder. */
async function createPolicySource(
  config: Pick<GatehouseConfig, 'bundle' | 'policies' | 'opaEnvoy'>,
  logger: Logger,
  env: NodeJS.ProcessEnv,
  clientAuth: ClientAuth | undefined,
): Promise<PolicySource> {
  const bundle = config.bundle;
  if (bundle === undefined) {
    return new FolderPolicySource({
      dir: config.policies.dir,
      catalogFile: config.policies.catalogFile,
      catalogOptional: config.opaEnvoy !== undefined,
      watch: config.policies.watch,
      watchDebounceMs: config.policies.watchDebounceMs,
      rescanIntervalS: config.policies.rescanIntervalS,
      logger,
    });
  }
  const auth = bundle.useClientAuth
    ? requireClientAuth(clientAuth, 'bundle.useClientAuth')
    : undefined;
  const verification = await bundleVerification(bundle.signing, env);
  return new BundlePolicySource({
    url: bundle.url,
    pollMinDelayS: bundle.pollMinDelayS,
    pollMaxDelayS: bundle.pollMaxDelayS,
    requestTimeoutMs: bundle.requestTimeoutMs,
    catalogFile: bundle.catalogFile,
    catalogOptional: config.opaEnvoy !== undefined,
    limits: { ...DEFAULT_BUNDLE_LIMITS, maxCompressedBytes: bundle.maxBundleBytes },
    logger,
    ...(bundle.longPollingTimeoutS === undefined
      ? {}
      : { longPollingTimeoutS: bundle.longPollingTimeoutS }),
    ...(verification === undefined ? {} : { verification }),
    ...(auth === undefined ? {} : { headers: auth.headers }),
    ...(auth?.dispatcher === undefined ? {} : { dispatcher: auth.dispatcher }),
  });
}

async function bundleVerification(
  signing: NonNullable<GatehouseConfig['bundle']>['signing'],
  env: NodeJS.ProcessEnv,
): Promise<BundleVerification | undefined> {
  if (signing === undefined) return undefined;
  let key: string;
  if (signing.publicKeyFile !== undefined) {
    try {
      key = await readFile(signing.publicKeyFile, 'utf8');
    } catch (error) {
      throw new ConfigError('bundle signing key is unreadable', [
        `bundle.signing.publicKeyFile: cannot read ${signing.publicKeyFile}: ${String(error)}`,
      ]);
    }
  } else {
    const secret = signing.secretEnv === undefined ? undefined : env[signing.secretEnv];
    if (secret === undefined || secret === '') {
      throw new ConfigError('bundle signing secret is missing', [
        `bundle.signing.secretEnv: environment variable ${String(signing.secretEnv)} is not set`,
      ]);
    }
    key = secret;
  }
  return {
    key,
    algorithm: signing.algorithm,
    ...(signing.keyId === undefined ? {} : { keyId: signing.keyId }),
    ...(signing.scope === undefined ? {} : { scope: signing.scope }),
  };
}

/** A key source per issuer that has public keys; HS*-only issuers need none. */
function createKeySources(
  issuers: readonly IssuerConfig[],
  hmacSecrets: ReadonlyMap<string, string>,
  logger: Logger,
  clientAuth: ClientAuth | undefined,
  metrics: Metrics | undefined,
): Map<string, KeySource> {
  const sources = new Map<string, KeySource>();
  issuers.forEach((issuer, index) => {
    const hasPublicKeys =
      issuer.discovery ||
      issuer.jwksUrl !== undefined ||
      issuer.jwksFile !== undefined ||
      issuer.signerCertificateFile !== undefined;
    if (!hasPublicKeys) return;
    const secret = hmacSecrets.get(issuer.issuer);
    const auth = issuer.useClientAuth
      ? requireClientAuth(clientAuth, `issuers.${index}.useClientAuth`)
      : undefined;
    sources.set(
      issuer.issuer,
      new IssuerKeySource({
        config: issuer,
        logger,
        ...(metrics === undefined ? {} : { metrics }),
        ...(secret === undefined ? {} : { hmacSecret: secret }),
        ...(auth === undefined ? {} : { headers: auth.headers }),
        ...(auth?.dispatcher === undefined ? {} : { dispatcher: auth.dispatcher }),
      }),
    );
  });
  return sources;
}

function requireClientAuth(clientAuth: ClientAuth | undefined, option: string): ClientAuth {
  if (clientAuth === undefined) {
    throw new ConfigError('client authentication is not configured', [
      `${option}: is true but centralServer (the OAuth client) is not configured`,
    ]);
  }
  return clientAuth;
}

function createLastKnownGood(
  persistence: GatehouseConfig['persistence'],
  env: NodeJS.ProcessEnv,
): LastKnownGoodStore | undefined {
  if (!persistence.enabled) return undefined;
  const keyEnv = persistence.hmacKeyEnv;
  if (keyEnv === undefined) return new LastKnownGoodStore(persistence.dir, undefined);
  const key = env[keyEnv];
  if (key === undefined || Buffer.byteLength(key) < 32) {
    throw new ConfigError('persistence key is missing', [
      `persistence.hmacKeyEnv: environment variable ${keyEnv} must hold at least 32 bytes`,
    ]);
  }
  return new LastKnownGoodStore(persistence.dir, Buffer.from(key, 'utf8'));
}
