import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ZodError } from 'zod';
import { configSchema, type GatehouseConfig } from './schema.js';
import { GatehouseError } from '../errors/gatehouse-error.js';

export class ConfigError extends GatehouseError<'GH_CONFIG_INVALID'> {
  constructor(
    message: string,
    /** One line per problem, each naming the option. */
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super('GH_CONFIG_INVALID', `${message}\n  - ${problems.join('\n  - ')}`, options);
    this.name = 'ConfigError';
  }
}

/** Environment variables that override single options, for containers. */
const ENV_OVERRIDES: ReadonlyArray<{
  readonly name: string;
  readonly path: readonly string[];
  readonly numeric?: boolean;
}> = [
  { name: 'GATEHOUSE_GRPC_PORT', path: ['grpc', 'port'], numeric: true },
  { name: 'GATEHOUSE_HTTP_PORT', path: ['http', 'port'], numeric: true },
  { name: 'GATEHOUSE_PROBES_PORT', path: ['probes', 'port'], numeric: true },
  { name: 'GATEHOUSE_LOG_LEVEL', path: ['log', 'level'] },
  { name: 'GATEHOUSE_POLICY_DIR', path: ['policies', 'dir'] },
  { name: 'OPA_BIN', path: ['opa', 'binary'] },
];

/**
 * Reads the config file (YAML or JSON), applies environment overrides, validates it once
 * and freezes it. Relative paths are resolved against the config file's folder.
 */
export async function loadConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<GatehouseConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}`, [String(error)], { cause: error });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid YAML/JSON`, [String(error)], {
      cause: error,
    });
  }
  return parseConfig(raw ?? {}, path.dirname(path.resolve(file)), env, file);
}

/** Validates an already-parsed config object. Exported for tests and embedding. */
export function parseConfig(
  raw: unknown,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
  source = 'config',
): GatehouseConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${source} must be an object`, ['(top level): expected an object']);
  }
  const withEnv = structuredClone(raw) as Record<string, unknown>;
  for (const override of ENV_OVERRIDES) {
    const value = env[override.name];
    if (value !== undefined && value !== '') {
      setPath(withEnv, override.path, override.numeric === true ? toInt(value) : value);
    }
  }
  let config: GatehouseConfig;
  try {
    config = configSchema.parse(withEnv);
  } catch (error) {
    if (error instanceof ZodError) {
      throw new ConfigError(
        `${source} is invalid`,
        error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`),
        { cause: error },
      );
    }
    throw error;
  }
  const problems = checkIssuerSecrets(config, env);
  if (problems.length > 0) throw new ConfigError(`${source} is invalid`, problems);
  return deepFreeze(resolvePaths(config, baseDir));
}

function checkIssuerSecrets(config: GatehouseConfig, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  config.issuers.forEach((issuer, index) => {
    if (seen.has(issuer.issuer)) {
      problems.push(`issuers.${index}.issuer: "${issuer.issuer}" is listed twice`);
    }
    seen.add(issuer.issuer);
    if (issuer.hmacSecretEnv !== undefined) {
      const secret = env[issuer.hmacSecretEnv];
      // RFC 7518 section 3.2: the key must be at least as long as the hash output.
      if (secret === undefined || Buffer.byteLength(secret) < 32) {
        problems.push(
          `issuers.${index}.hmacSecretEnv: environment variable ${issuer.hmacSecretEnv} must hold a secret of at least 32 bytes`,
        );
      }
    }
  });
  return problems;
}

type ListenerTls = GatehouseConfig['http']['tls'];

function resolveTls(
  tls: ListenerTls,
  resolve: (p: string) => string,
): { tls?: NonNullable<ListenerTls> } {
  if (tls === undefined) return {};
  return {
    tls: withDefined({
      ...tls,
      certFile: resolve(tls.certFile),
      keyFile: resolve(tls.keyFile),
      clientCaFile: tls.clientCaFile === undefined ? undefined : resolve(tls.clientCaFile),
    }),
  };
}

function resolvePaths(config: GatehouseConfig, baseDir: string): GatehouseConfig {
  const resolve = (p: string): string => path.resolve(baseDir, p);
  const maybe = (p: string | undefined): string | undefined =>
    p === undefined ? undefined : resolve(p);
  // Every file option, so none of them depends on the working directory.
  const central = config.centralServer;
  const signing = config.bundle?.signing;
  return {
    ...config,
    policies: {
      ...config.policies,
      dir: resolve(config.policies.dir),
      compileCacheDir: resolve(config.policies.compileCacheDir),
    },
    opa:
      config.opa.binary === undefined
        ? config.opa
        : {
            ...config.opa,
            // A bare name ("opa") is looked up on PATH, as a shell would.
            binary: config.opa.binary.includes('/')
              ? resolve(config.opa.binary)
              : config.opa.binary,
          },
    issuers: config.issuers.map((issuer) =>
      withDefined({
        ...issuer,
        jwksFile: maybe(issuer.jwksFile),
        signerCertificateFile: maybe(issuer.signerCertificateFile),
      }),
    ),
    persistence: { ...config.persistence, dir: resolve(config.persistence.dir) },
    grpc: { ...config.grpc, ...resolveTls(config.grpc.tls, resolve) },
    http: { ...config.http, ...resolveTls(config.http.tls, resolve) },
    ...(central === undefined
      ? {}
      : {
          centralServer: withDefined({
            ...central,
            privateKeyFile: maybe(central.privateKeyFile),
            certFile: maybe(central.certFile),
            keyFile: maybe(central.keyFile),
            caFile: maybe(central.caFile),
          }),
        }),
    ...(config.bundle === undefined
      ? {}
      : {
          bundle: {
            ...config.bundle,
            ...(signing === undefined
              ? {}
              : {
                  signing: withDefined({
                    ...signing,
                    publicKeyFile: maybe(signing.publicKeyFile),
                  }),
                }),
          },
        }),
  };
}

/** Drops keys whose value is undefined (exactOptionalPropertyTypes: absent, not undefined). */
function withDefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function formatPath(segments: readonly PropertyKey[]): string {
  return segments.length === 0 ? '(top level)' : segments.map(String).join('.');
}

function toInt(value: string): number | string {
  return /^\d+$/.test(value) ? Number(value) : value;
}

function setPath(target: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys.at(-1);
  if (last !== undefined) node[last] = value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
