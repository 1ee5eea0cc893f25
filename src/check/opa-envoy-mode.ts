import type { PolicyVerdict } from '../policy/policy-result.js';
import type { ApiAuth, PolicyLevel } from '../routes/catalog.js';
import { METHOD_OVERRIDE_HEADERS } from './method-override.js';
import type { TransportName } from './check-input.js';
import type { AllowDecision, Decision, DenyDecision, HeaderList } from '../decision/decision.js';

/**
 * OPA-Envoy compatibility mode (config `opaEnvoy`, docs/opa-envoy.md): the pieces the
 * check pipeline takes from here, kept in one place.
 *
 * - The rule at `opaEnvoy.path` is the first policy level of every check (before a
 *   catalog's global, service and API levels); a check that matches no API is decided by
 *   it alone, without reading a token (the policy verifies its own, as OPA-Envoy policies
 *   do with io.jwt.decode_verify).
 * - `dryRun`: the decision is computed, counted and logged, and an allow is sent, as
 *   opa-envoy-plugin's `dry-run` does.
 */
export interface OpaEnvoyOptions {
  /** opa-envoy-plugin's `path`: `envoy/authz/allow` is the rule data.envoy.authz.allow. */
  readonly path: string;
  readonly dryRun: boolean;
  readonly skipRequestBodyParse: boolean;
  /** `routing.identityHeaders`, stripped from a dry-run allow when there is no snapshot. */
  readonly identityHeaders: readonly string[];
}

/** The decision rule as a policy level; snapshot.entrypoints maps the path to itself. */
export function decisionLevel(options: OpaEnvoyOptions): PolicyLevel {
  return { level: 'opa-envoy', package: options.path };
}

/** Auth for checks that match no API in compatibility mode: no token is read. */
export const NO_TOKEN_AUTH: ApiAuth = {
  mode: 'none',
  issuers: undefined,
  audiences: undefined,
  scopes: [],
  scopesMatch: 'all',
};

/** What the allowing levels ask of the upstream request besides headers. */
export function queryAndMetadata(
  verdicts: readonly PolicyVerdict[],
): Pick<AllowDecision, 'queryParametersToSet' | 'queryParametersToRemove' | 'dynamicMetadata'> {
  // The common allow asks for none of these: no arrays, sets or objects built per check.
  return verdicts.every(asksNothingElse) ? NOTHING_ELSE : mergedQueryAndMetadata(verdicts);
}

/** `queryAndMetadata` for any verdicts (exported for the test that compares the two). */
export function mergedQueryAndMetadata(
  verdicts: readonly PolicyVerdict[],
): Pick<AllowDecision, 'queryParametersToSet' | 'queryParametersToRemove' | 'dynamicMetadata'> {
  const set = verdicts.flatMap((verdict) => verdict.queryParametersToSet);
  const remove = [...new Set(verdicts.flatMap((verdict) => verdict.queryParametersToRemove))];
  const metadata = mergeMetadata(verdicts.map((verdict) => verdict.dynamicMetadata));
  return {
    ...(set.length === 0 ? {} : { queryParametersToSet: set }),
    ...(remove.length === 0 ? {} : { queryParametersToRemove: remove }),
    ...(metadata === undefined ? {} : { dynamicMetadata: metadata }),
  };
}

const NOTHING_ELSE = Object.freeze({});

function asksNothingElse(verdict: PolicyVerdict): boolean {
  return (
    verdict.queryParametersToSet.length === 0 &&
    verdict.queryParametersToRemove.length === 0 &&
    verdict.dynamicMetadata === undefined
  );
}

/** Later (inner) levels' keys replace earlier ones'; undefined when no level sent any. */
function mergeMetadata(
  all: ReadonlyArray<Readonly<Record<string, unknown>> | undefined>,
): Record<string, unknown> | undefined {
  let merged: Record<string, unknown> | undefined;
  for (const metadata of all) {
    if (metadata === undefined) continue;
    merged = { ...merged, ...metadata };
  }
  return merged;
}

/**
 * Only Envoy's gRPC CheckResponse (and /v1/check, which reports them) can carry query
 * parameter changes: Envoy's HTTP mode, NGINX auth_request and Traefik forwardAuth have no
 * way to change the upstream query. An allow that needs one cannot be applied there, so it
 * is not sent as an allow (the policy relied on the change: fail closed).
 */
export function transportCannotApply(
  decision: AllowDecision,
  transport: TransportName,
): string | undefined {
  if (transport === 'grpc' || transport === 'json') return undefined;
  const changes =
    (decision.queryParametersToSet?.length ?? 0) + (decision.queryParametersToRemove?.length ?? 0);
  if (changes === 0) return undefined;
  return `the policy changes query parameters, which the ${transport} transport cannot apply`;
}

/**
 * The allow a dry run sends in place of a deny: nothing set, and every identity header
 * (and method override header) stripped, so a dry run never lets a client choose its own
 * identity upstream.
 */
export function dryRunAllow(
  decision: DenyDecision,
  identityHeaders: readonly string[],
): AllowDecision {
  const none: HeaderList = [];
  return {
    allowed: true,
    code: 'GH_OK',
    api: decision.api,
    upstreamHeaders: none,
    upstreamHeadersToRemove: [...new Set([...identityHeaders, ...METHOD_OVERRIDE_HEADERS])],
    responseHeaders: none,
    revision: decision.revision ?? '',
  };
}

/** A decision is sent as is, or (dry run) a deny becomes dryRunAllow. */
export function isDryRunDeny(
  options: OpaEnvoyOptions | undefined,
  decision: Decision,
): decision is DenyDecision {
  return options?.dryRun === true && !decision.allowed;
}
