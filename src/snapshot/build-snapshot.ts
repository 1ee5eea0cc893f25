import { createHash } from 'node:crypto';
import type { IssuerKeys } from '../auth/issuer-keys.js';
import {
  compileWasm,
  contentHash,
  type CompileOptions,
  type RegoFile,
} from '../policy/compile-wasm.js';
import { identityHeaderSet } from '../config/identity-headers.js';
import { OpaNotFoundError, PROJECT_OPA, type OpaBinary } from '../policy/opa-binary.js';
import { WasmPolicy } from '../policy/wasm-policy.js';
import {
  entrypointFor,
  parseCatalog,
  type ApiDefinition,
  type Catalog,
} from '../routes/catalog.js';
import { RouteTable } from '../routes/route-table.js';
import { compilePathParamCheck, type PathParamCheck } from '../routes/path-param-types.js';
import type { Snapshot } from './snapshot.js';

/** How to compile: like CompileOptions, but opa may be missing (bundles with policy.wasm). */
export interface SnapshotCompileOptions extends Omit<CompileOptions, 'opa'> {
  readonly opa: OpaBinary | undefined;
}

/** The raw inputs of a snapshot, as a source delivers them. */
export interface PolicyInputs {
  readonly catalogText: string;
  readonly regoFiles: readonly RegoFile[];
  /** The `data` document policies see (data.json), or {}. */
  readonly data: unknown;
  /** A precompiled policy.wasm (from a bundle); when set, regoFiles are not compiled. */
  readonly wasm?: Buffer | undefined;
  /** The source's own revision (a bundle manifest's), for logs and status. */
  readonly sourceRevision?: string | undefined;
  /**
   * The policy hash of the build that compiled `wasm` (src/workers: a worker builds from the
   * primary's module), so both snapshots carry the same revision. Unset: hashed here.
   */
  readonly policyHash?: string | undefined;
}

export interface BuildResult {
  readonly snapshot: Snapshot;
  /** Where the WebAssembly came from: compiled now, the on-disk cache, the previous snapshot, or the bundle. */
  readonly compiled: 'compiled' | 'cache' | 'reused' | 'bundle';
}

/**
 * Builds a whole snapshot from its inputs and validates it: the catalog parses, every
 * route is well-formed and unique, every policy package compiles and has its entrypoint.
 * Throws on any problem; the caller keeps the previous snapshot. When the policies and
 * data are unchanged, the previous snapshot's loaded policy is reused (no compile, no load).
 */
export async function buildSnapshot(
  inputs: PolicyInputs,
  issuers: readonly IssuerKeys[],
  compile: SnapshotCompileOptions,
  previous: Snapshot | undefined,
  /** `routing.identityHeaders`: removed from every allowed request, with every claim header. */
  identityHeaders: readonly string[] = [],
  /**
   * `opaEnvoy.path` in OPA-Envoy compatibility mode: compiled as an entrypoint of its own
   * (keyed by the path), and the catalog may be absent (empty catalogText).
   */
  opaEnvoyPath?: string,
): Promise<BuildResult> {
  // Keys rotate far more often than the catalog: reuse the parsed catalog and its route
  // table when the catalog text is unchanged.
  const reuseRoutes = previous !== undefined && previous.catalogText === inputs.catalogText;
  const catalog = reuseRoutes ? previous.catalog : catalogOf(inputs.catalogText, opaEnvoyPath);
  const routes = reuseRoutes
    ? previous.routes
    : RouteTable.build<ApiDefinition>(
        catalog.apis.map((api) => ({
          methods: api.methods,
          template: api.pathTemplate,
          hosts: api.hosts,
          value: api,
          paramChecks: paramChecksOf(api),
          label: api.origin === undefined ? `API ${api.id}` : `API ${api.id} in ${api.origin}`,
        })),
      );
  const entrypoints = new Map(catalog.packages.map((pkg) => [pkg, entrypointFor(pkg)]));
  // A rule path has "/" where package names have ".": the two keys never collide.
  if (opaEnvoyPath !== undefined) entrypoints.set(opaEnvoyPath, opaEnvoyPath);
  const dataText = JSON.stringify(inputs.data ?? {});

  // A bundle may carry its own policy.wasm: then nothing is compiled (and no opa needed).
  if (inputs.wasm === undefined && compile.opa === undefined) {
    throw new OpaNotFoundError(
      [PROJECT_OPA, 'PATH'],
      'these policies need compiling (the source carries no policy.wasm) but the opa CLI was not found',
    );
  }
  const wasmHash =
    inputs.wasm === undefined
      ? contentHash(inputs.regoFiles, [...entrypoints.values()], compile.opa?.version ?? '')
      : sha256(inputs.wasm);
  const policyHash = inputs.policyHash ?? sha256(`${wasmHash}\0${dataText}`);

  let policy: WasmPolicy;
  let compiled: BuildResult['compiled'];
  if (previous !== undefined && previous.policy.hash === policyHash) {
    policy = previous.policy;
    compiled = 'reused';
  } else if (inputs.wasm !== undefined) {
    policy = await WasmPolicy.load(inputs.wasm, JSON.parse(dataText), policyHash);
    compiled = 'bundle';
  } else {
    const wasm = await compileWasm(inputs.regoFiles, [...entrypoints.values()], {
      ...compile,
      opa: compile.opa as OpaBinary,
    });
    policy = await WasmPolicy.load(wasm.wasm, JSON.parse(dataText), policyHash);
    compiled = wasm.fromCache ? 'cache' : 'compiled';
  }
  for (const [pkg, entrypoint] of entrypoints) {
    if (!policy.hasEntrypoint(entrypoint)) {
      throw new Error(
        `policy package ${pkg} has no entrypoint ${entrypoint} in the compiled module`,
      );
    }
  }

  const issuerMap = new Map(issuers.map((keys) => [keys.config.issuer, keys]));
  // A typo in an API's issuer list would silently reject every token for that API.
  for (const api of catalog.apis) {
    for (const issuer of api.auth.issuers ?? []) {
      if (!issuerMap.has(issuer)) {
        throw new Error(
          `API ${api.id} accepts issuer "${issuer}", which is not configured in issuers`,
        );
      }
    }
  }
  // The key material itself, not only the kids: a re-keyed kid is a new snapshot.
  const keysHash = sha256(
    issuers
      .map((keys) => `${keys.config.issuer}:${JSON.stringify(keys.keySet ?? null)}`)
      .join('\0'),
  );
  const revision = sha256([policyHash, inputs.catalogText, keysHash].join('\0')).slice(0, 16);
  return {
    snapshot: Object.freeze({
      revision,
      sourceRevision: inputs.sourceRevision,
      createdAt: new Date(),
      catalogText: inputs.catalogText,
      catalog,
      routes,
      issuers: issuerMap,
      keysHash,
      policy,
      entrypoints,
      // Once per build, not per request: any API's claim headers are every API's to strip.
      identityHeaders: identityHeaderSet(
        catalog.apis.flatMap((api) => api.claimsToHeaders.map(([header]) => header)),
        identityHeaders,
      ),
    }),
    compiled,
  };
}

function paramChecksOf(api: ApiDefinition): Record<string, PathParamCheck> | undefined {
  if (api.pathParams === undefined) return undefined;
  const checks: Record<string, PathParamCheck> = {};
  for (const [name, type] of Object.entries(api.pathParams)) {
    let check: PathParamCheck | undefined;
    try {
      check = compilePathParamCheck(type);
    } catch (error) {
      throw new Error(
        `API ${api.id}${api.origin === undefined ? '' : ` in ${api.origin}`}: parameter ${name}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (check !== undefined) checks[name] = check;
  }
  return checks;
}

/** No catalog at all is only valid in OPA-Envoy mode, where the decision rule decides. */
const NO_CATALOG: Catalog = Object.freeze({ apis: [], globalPolicy: undefined, packages: [] });

function catalogOf(text: string, opaEnvoyPath: string | undefined): Catalog {
  if (text.trim() === '' && opaEnvoyPath !== undefined) return NO_CATALOG;
  return parseCatalog(text);
}

function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}
