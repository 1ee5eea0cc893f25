import { GatehouseError } from '../errors/gatehouse-error.js';
import { DpopNonces } from '../auth/dpop/nonce.js';
import { DpopReplayCache } from '../auth/dpop/replay-cache.js';
import type { AuthOutcome } from '../check/authenticate.js';
import type { CheckInput } from '../check/check-input.js';
import type { Decision } from '../decision/decision.js';
import type { LevelsOutcome } from '../check/evaluate-policies.js';
import { CheckPipeline } from '../check/pipeline.js';
import { ConfigError, loadConfig } from '../config/load-config.js';
import { silentLogger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import type { ApiDefinition, PolicyLevel } from '../routes/catalog.js';
import { SnapshotStore } from '../snapshot/snapshot-store.js';
import { buildLocalSnapshot } from './validate-command.js';

/** One request to explain: the fields of a POST /v1/check body. */
export interface ExplainRequest {
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly scheme: string;
  readonly sourceAddress: string | undefined;
}

export type LevelAnswer = 'allow' | 'deny' | 'error' | 'not evaluated';

/** What `gatehouse explain` prints (as text, or as this object with --json). */
export interface Explanation {
  readonly request: { method: string; path: string; host: string };
  readonly api: { id: string; service: string; params: Record<string, string> } | null;
  readonly token:
    | { readonly verdict: 'not required' | 'absent' }
    | { readonly verdict: 'valid'; readonly claims: Record<string, unknown> }
    | { readonly verdict: 'rejected'; readonly code: string; readonly reason: string }
    | { readonly verdict: 'not reached' };
  readonly policies: ReadonlyArray<{
    readonly level: PolicyLevel['level'];
    readonly package: string;
    readonly answer: LevelAnswer;
    readonly headers?: Record<string, string>;
  }>;
  readonly decision: {
    readonly allowed: boolean;
    readonly code: string;
    readonly status: number;
    readonly reason?: string;
    readonly revision: string | null;
  };
  /** Allow: what goes upstream and back to the client; deny: the client's response headers. */
  readonly headers: {
    readonly upstream: Record<string, string>;
    readonly removeUpstream: readonly string[];
    readonly response: Record<string, string>;
  };
}

/**
 * `gatehouse explain`: one request decided by the real pipeline over the snapshot
 * `validate` builds (no port opened, nothing fetched), with each step's answer recorded
 * through the pipeline's observer. Opaque tokens are not introspected (no network): they
 * are rejected as a running server without introspection would.
 */
export async function explainRequest(
  file: string,
  env: NodeJS.ProcessEnv,
  request: ExplainRequest,
): Promise<Explanation> {
  const config = await loadConfig(file, env);
  const built = await buildLocalSnapshot(config, env, file);
  if (built.snapshot === undefined) {
    throw new ConfigError(`${file}: no snapshot to explain with`, [...built.problems]);
  }
  const store = new SnapshotStore();
  store.activate(built.snapshot, store.beginBuild());
  const loadedAt = Date.now();

  let routed: { api: ApiDefinition | undefined; params: Record<string, string> } | undefined;
  let authenticated: AuthOutcome | undefined;
  let evaluated: { levels: readonly PolicyLevel[]; outcome: LevelsOutcome } | undefined;
  const dpop = config.tokens.dpop;
  const pipeline = new CheckPipeline(store, {
    realm: config.realm,
    allowUnknownApis: config.routing.allowUnknownApis,
    maxTokenBytes: config.tokens.maxTokenBytes,
    clockSkewS: config.tokens.clockSkewS,
    logger: silentLogger(),
    metrics: new Metrics({ processMetrics: false }),
    // The keys were read just now.
    keysRefreshedAt: () => loadedAt,
    methodOverride: config.routing.methodOverride,
    tokenCache: { maxEntries: config.tokens.cacheMaxEntries, maxTtlS: config.tokens.cacheMaxTtlS },
    dpop: {
      algorithms: dpop.algorithms,
      iatWindowS: dpop.iatWindowS,
      replay: new DpopReplayCache({ iatWindowS: dpop.iatWindowS }),
      nonces: new DpopNonces({ lifetimeS: dpop.nonce.lifetimeS }),
    },
    stepObserver: {
      routed: (api, params) => {
        routed = { api, params: { ...params } };
      },
      authenticated: (outcome) => {
        authenticated = outcome;
      },
      evaluated: (levels, outcome) => {
        evaluated = { levels, outcome };
      },
    },
  });
  const decision = await pipeline.check(toCheckInput(request));
  return describe(request, decision, routed, authenticated, evaluated);
}

function toCheckInput(request: ExplainRequest): CheckInput {
  return {
    transport: 'json',
    method: request.method.toUpperCase(),
    path: request.path,
    host: request.host,
    scheme: request.scheme,
    protocol: 'HTTP/1.1',
    headers: request.headers,
    requestId: request.headers['x-request-id'] ?? '',
    body: request.body,
    source: { address: request.sourceAddress },
    destination: {},
    contextExtensions: {},
    peerTrusted: false,
    otherHostValues: request.headers.host === undefined ? [] : [request.headers.host],
  };
}

function describe(
  request: ExplainRequest,
  decision: Decision,
  routed: { api: ApiDefinition | undefined; params: Record<string, string> } | undefined,
  authenticated: AuthOutcome | undefined,
  evaluated: { levels: readonly PolicyLevel[]; outcome: LevelsOutcome } | undefined,
): Explanation {
  const api = routed?.api;
  return {
    request: { method: request.method.toUpperCase(), path: request.path, host: request.host },
    api:
      api === undefined ? null : { id: api.id, service: api.service, params: routed?.params ?? {} },
    token: tokenVerdict(api, request, authenticated),
    policies: evaluated === undefined ? [] : levelAnswers(evaluated.levels, evaluated.outcome),
    decision: decision.allowed
      ? { allowed: true, code: decision.code, status: 200, revision: decision.revision }
      : {
          allowed: false,
          code: decision.code,
          status: decision.status,
          reason: decision.reason,
          revision: decision.revision ?? null,
        },
    headers: decision.allowed
      ? {
          upstream: Object.fromEntries(decision.upstreamHeaders),
          removeUpstream: decision.upstreamHeadersToRemove,
          response: Object.fromEntries(decision.responseHeaders),
        }
      : { upstream: {}, removeUpstream: [], response: Object.fromEntries(decision.headers) },
  };
}

function tokenVerdict(
  api: ApiDefinition | undefined,
  request: ExplainRequest,
  outcome: AuthOutcome | undefined,
): Explanation['token'] {
  if (outcome === undefined) return { verdict: 'not reached' };
  if (!outcome.ok) return { verdict: 'rejected', code: outcome.code, reason: outcome.reason };
  if (outcome.claims !== undefined) return { verdict: 'valid', claims: { ...outcome.claims } };
  if (api?.auth.mode === 'none') return { verdict: 'not required' };
  return { verdict: request.headers.authorization === undefined ? 'absent' : 'not required' };
}

function levelAnswers(
  levels: readonly PolicyLevel[],
  outcome: LevelsOutcome,
): Explanation['policies'] {
  return levels.map((level, index) => {
    const asked = { level: level.level, package: level.package };
    if (outcome.ok) {
      const verdict = outcome.verdicts[index];
      return { ...asked, answer: 'allow', headers: Object.fromEntries(verdict?.headers ?? []) };
    }
    // Levels run outermost first and stop at the first that does not allow.
    if (index < outcome.levelIndex) return { ...asked, answer: 'allow' };
    if (index > outcome.levelIndex) return { ...asked, answer: 'not evaluated' };
    return { ...asked, answer: outcome.code === 'GH_ERR_POLICY_DENIED' ? 'deny' : 'error' };
  });
}

/** The explanation in lines a person reads. */
export function formatExplanation(explanation: Explanation): string {
  const lines: string[] = [];
  const { request, api, token, policies, decision, headers } = explanation;
  lines.push(`request:  ${request.method} ${request.path} (host ${request.host})`);
  lines.push(
    api === null
      ? 'api:      none matched'
      : `api:      ${api.id} (service ${api.service})${paramsText(api.params)}`,
  );
  lines.push(`token:    ${tokenText(token)}`);
  lines.push('policies:');
  if (policies.length === 0) lines.push('  (none evaluated)');
  for (const policy of policies) {
    lines.push(`  ${policy.level.padEnd(8)}${policy.package.padEnd(32)}${policy.answer}`);
  }
  lines.push(
    `decision: ${decision.allowed ? 'ALLOW' : 'DENY'} ${decision.status} ${decision.code}` +
      (decision.reason === undefined ? '' : ` (${decision.reason})`),
  );
  const headerLines = [
    ...Object.entries(headers.upstream).map(([name, value]) => `  upstream  ${name}: ${value}`),
    ...headers.removeUpstream.map((name) => `  remove    ${name}`),
    ...Object.entries(headers.response).map(([name, value]) => `  response  ${name}: ${value}`),
  ];
  lines.push(headerLines.length === 0 ? 'headers:  none' : 'headers:');
  lines.push(...headerLines);
  return `${lines.join('\n')}\n`;
}

function paramsText(params: Record<string, string>): string {
  const entries = Object.entries(params);
  return entries.length === 0
    ? ''
    : `, ${entries.map(([name, value]) => `${name}=${value}`).join(' ')}`;
}

function tokenText(token: Explanation['token']): string {
  switch (token.verdict) {
    case 'valid': {
      const { sub, iss } = token.claims;
      return `valid (sub ${String(sub)}, iss ${String(iss)})`;
    }
    case 'rejected':
      return `rejected ${token.code} (${token.reason})`;
    default:
      return token.verdict;
  }
}

/** A JSON request (the POST /v1/check body), read from a file or stdin. */
export function parseExplainJson(text: string): ExplainRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ExplainInputError('the request is not valid JSON');
  }
  if (!isRecord(parsed)) throw new ExplainInputError('the request must be a JSON object');
  const { method, path, host } = parsed;
  if (typeof method !== 'string' || typeof path !== 'string' || typeof host !== 'string') {
    throw new ExplainInputError('"method", "path" and "host" are required strings');
  }
  const headers: Record<string, string> = {};
  if (parsed.headers !== undefined) {
    if (!isRecord(parsed.headers)) throw new ExplainInputError('"headers" must be an object');
    for (const [name, value] of Object.entries(parsed.headers)) {
      if (typeof value !== 'string')
        throw new ExplainInputError(`header "${name}" must be a string`);
      addHeader(headers, name, value);
    }
  }
  const source = isRecord(parsed.source) ? parsed.source : {};
  return {
    method,
    path,
    host,
    headers,
    body: typeof parsed.body === 'string' ? parsed.body : '',
    scheme: typeof parsed.scheme === 'string' ? parsed.scheme : 'http',
    sourceAddress: typeof source.address === 'string' ? source.address : undefined,
  };
}

/** Repeated names are joined with "," as Envoy and the HTTP doors do (RFC 9110 section 5.3). */
export function addHeader(headers: Record<string, string>, name: string, value: string): void {
  const key = name.toLowerCase();
  headers[key] = headers[key] === undefined ? value : `${headers[key]},${value}`;
}

/** A request that cannot be read: a usage mistake (exit 2). */
/** A request `explain` cannot read: a usage mistake (exit 2), never a stack trace. */
export class ExplainInputError extends GatehouseError<'GH_CLI_INPUT_INVALID'> {
  constructor(message: string) {
    super('GH_CLI_INPUT_INVALID', message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
