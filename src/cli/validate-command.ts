import type { IssuerKeys } from '../auth/issuer-keys.js';
import { buildIssuerKeys } from '../auth/issuer-keys.js';
import { ConfigError, loadConfig } from '../config/load-config.js';
import type { GatehouseConfig } from '../config/schema.js';
import { findOpa } from '../policy/opa-binary.js';
import { buildSnapshot } from '../snapshot/build-snapshot.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import { readPolicyFolder } from '../sync/folder/read-policy-folder.js';
import { loadKeySet, selectKeyOrigin } from '../sync/oidc/key-origin.js';
import { missingConfiguredPaths } from './preflight.js';

export interface ValidateReport {
  /** Every problem found, each naming the option or file; empty when all is well. */
  readonly problems: readonly string[];
  /** What was checked and found good, one line each. */
  readonly checked: readonly string[];
  /** The Rego each declarative policy (*.policy.yaml) compiles to, by its file. */
  readonly generatedRego: ReadonlyArray<{ readonly path: string; readonly rego: string }>;
}

/**
 * `gatehouse validate`: everything a start would refuse or fail to build, found without
 * opening a port: the config, the files it names, each local key set, and the policy
 * folder built into a whole snapshot (catalog, routes, every package compiled to WASM with
 * its entrypoint). Sources on the network (bundle server, discovery, JWKS URLs) are named
 * but not fetched: validation must not depend on the central server being up.
 */
export async function validateConfigFile(
  file: string,
  env: NodeJS.ProcessEnv,
): Promise<ValidateReport> {
  let config: GatehouseConfig;
  try {
    config = await loadConfig(file, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      const headline = error.message.split('\n')[0] ?? 'invalid config';
      return {
        problems: error.problems.map((problem) => `${headline}: ${problem}`),
        checked: [],
        generatedRego: [],
      };
    }
    throw error;
  }
  const { problems, checked, generatedRego } = await buildLocalSnapshot(config, env, file);
  return { problems, checked, generatedRego };
}

export interface LocalBuild extends ValidateReport {
  /** The snapshot a start would activate first; undefined when a problem stopped the build. */
  readonly snapshot: Snapshot | undefined;
}

/**
 * The snapshot `validate` builds (and `explain` decides over): local key files read, network
 * key origins and bundle servers named but not fetched, the policy folder compiled.
 */
export async function buildLocalSnapshot(
  config: GatehouseConfig,
  env: NodeJS.ProcessEnv,
  file: string,
): Promise<LocalBuild> {
  const checked = [`config ${file}`];
  const problems = [...(await missingConfiguredPaths(config))];
  const generatedRego: Array<{ path: string; rego: string }> = [];
  if (problems.length > 0) return { problems, checked, generatedRego, snapshot: undefined };

  const issuers: IssuerKeys[] = [];
  for (const [index, issuer] of config.issuers.entries()) {
    const hmacSecret = issuer.hmacSecretEnv === undefined ? undefined : env[issuer.hmacSecretEnv];
    try {
      const origin = hasPublicKeyOrigin(issuer) ? selectKeyOrigin(issuer) : undefined;
      if (origin === undefined || origin.kind === 'discovery' || origin.kind === 'jwksUrl') {
        issuers.push(buildIssuerKeys(issuer, undefined, hmacSecret));
        checked.push(
          origin === undefined
            ? `issuer ${issuer.issuer}: no public key origin`
            : `issuer ${issuer.issuer}: keys from ${origin.kind} (not fetched by validate)`,
        );
        continue;
      }
      const loaded = await loadKeySet(origin, {
        config: issuer,
        timeoutMs: 5000,
        maxBytes: 1024 * 1024,
        metadata: undefined,
      });
      const keys = buildIssuerKeys(issuer, loaded.jwks, hmacSecret);
      if (keys.keySet?.keys.length === 0) {
        problems.push(`issuers[${index}] (${issuer.issuer}): ${loaded.jwksUri} holds no keys`);
      }
      issuers.push(keys);
      checked.push(`issuer ${issuer.issuer}: ${keys.keySet?.keys.length ?? 0} key(s)`);
    } catch (error) {
      problems.push(`issuers[${index}] (${issuer.issuer}): ${messageOf(error)}`);
    }
  }

  if (config.bundle !== undefined) {
    checked.push(`policies from the bundle ${config.bundle.url} (not fetched by validate)`);
    return { problems, checked, generatedRego, snapshot: undefined };
  }
  let built: Snapshot | undefined;
  try {
    const { inputs } = await readPolicyFolder(
      config.policies.dir,
      config.policies.catalogFile,
      config.opaEnvoy !== undefined,
    );
    for (const file of inputs.regoFiles) {
      if (file.path.endsWith('.policy.yaml.rego') || file.path.endsWith('.policy.yml.rego')) {
        generatedRego.push({ path: file.path.replace(/\.rego$/, ''), rego: file.content });
      }
    }
    const opa = await findOpa(config.opa.binary);
    const { snapshot } = await buildSnapshot(
      inputs,
      issuers,
      {
        opa,
        cacheDir: config.policies.compileCacheDir,
        timeoutMs: config.opa.buildTimeoutMs,
      },
      undefined,
      config.routing.identityHeaders,
      config.opaEnvoy?.path,
    );
    checked.push(
      `policies ${config.policies.dir}: ${snapshot.catalog.apis.length} API(s), ` +
        `${snapshot.catalog.packages.length} policy package(s), revision ${snapshot.revision}`,
    );
    built = snapshot;
  } catch (error) {
    problems.push(`policies.dir ${config.policies.dir}: ${messageOf(error)}`);
  }
  return { problems, checked, generatedRego, snapshot: built };
}

function hasPublicKeyOrigin(issuer: GatehouseConfig['issuers'][number]): boolean {
  return (
    issuer.discovery ||
    issuer.jwksUrl !== undefined ||
    issuer.jwksFile !== undefined ||
    issuer.signerCertificateFile !== undefined
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
