import type { CheckInput, PeerInfo } from '../../check/check-input.js';
import type { Decision } from '../../decision/decision.js';
import type { ShadowRun } from '../../decision/shadow-verdict.js';
import type { CheckPhase } from '../check-phases.js';
import { applyMasks, type MaskRule } from './mask.js';

/** What the check path hands to the decision log: references only, copied and masked later. */
export interface DecisionEntry {
  readonly decisionId: string;
  readonly timestampMs: number;
  readonly input: CheckInput;
  readonly decision: Decision;
  /** Nanoseconds per reached phase, and the whole check. */
  readonly phaseNs: Partial<Record<CheckPhase, bigint>>;
  readonly totalNs: bigint;
  readonly traceId: string | undefined;
  /** What the API's shadow policies said (docs/shadow.md); unset when it has none. */
  readonly shadows?: ShadowRun | undefined;
}

export interface RecordContext {
  /** OPA's `labels`: `id` (this process), `version`, and the configured labels. */
  readonly labels: Readonly<Record<string, string>>;
  readonly masks: readonly MaskRule[];
}

/**
 * Credentials that are never logged, whatever the mask rules say: the headers a token or
 * session travels in (RFC 6750 section 2.1, RFC 9449 section 4, cookies). They are erased
 * from the copy, and listed in `erased` like any other rule.
 */
export const ALWAYS_ERASED_HEADERS = [
  'authorization',
  'proxy-authorization',
  'dpop',
  'cookie',
  'x-amzn-oidc-accesstoken',
] as const;

const HEADERS_POINTER = '/input/attributes/request/http/headers';

export const ALWAYS_MASKS: readonly MaskRule[] = ALWAYS_ERASED_HEADERS.map((name) => ({
  op: 'remove' as const,
  path: `${HEADERS_POINTER}/${name}`,
}));

/** The RFC 6750 section 2.3 query parameter and 2.2 form field: its value is replaced. */
const ACCESS_TOKEN_PARAM = /(^|[?&])(access_token=)[^&#]*/g;

function scrubAccessToken(text: string): string {
  return text.replace(ACCESS_TOKEN_PARAM, '$1$2[redacted]');
}

/**
 * One decision in OPA's decision-log event shape (OPA docs, "Decision Logs": decision_id,
 * labels, bundles, path, input, result, timestamp, metrics, erased, masked), so consumers of
 * OPA's logs read it, plus Gatehouse's fields: `api`, `service`, `code`, `reason`,
 * `request_id`, `trace_id`, `transport`.
 */
export function buildDecisionRecord(
  entry: DecisionEntry,
  context: RecordContext,
): Record<string, unknown> {
  const { input, decision } = entry;
  const event: Record<string, unknown> = {
    labels: { ...context.labels },
    decision_id: entry.decisionId,
    ...(decision.revision === undefined
      ? {}
      : { bundles: { gatehouse: { revision: decision.revision } } }),
    path: 'gatehouse/check',
    input: logInput(input),
    result: result(decision),
    requested_by: input.source.address ?? '',
    timestamp: new Date(entry.timestampMs).toISOString(),
    metrics: timers(entry),
    transport: input.transport,
    request_id: input.requestId,
    trace_id: entry.traceId ?? null,
    api: decision.api?.id ?? null,
    service: decision.api?.service ?? null,
    code: decision.code,
    ...(decision.allowed ? {} : { reason: decision.reason }),
    ...(entry.shadows === undefined ? {} : { shadows: shadowDiffs(entry.shadows, decision) }),
  };
  const always = applyMasks(event, ALWAYS_MASKS);
  const configured = applyMasks(event, context.masks);
  const erased = [...always.erased, ...configured.erased];
  const masked = [...configured.masked];
  if (erased.length > 0) event.erased = erased;
  if (masked.length > 0) event.masked = masked;
  return event;
}

/**
 * The request in OPA-Envoy's input shape (what policies see under `input.attributes`): a
 * copy, so masking never touches the check's own objects. The verified claims are not
 * logged (they are the token's content); the matched API is in `api`.
 */
function logInput(input: CheckInput): Record<string, unknown> {
  return {
    attributes: {
      source: peer(input.source),
      destination: peer(input.destination),
      request: {
        http: {
          id: input.requestId,
          method: input.method,
          path: scrubAccessToken(input.path),
          host: input.host,
          scheme: input.scheme,
          protocol: input.protocol,
          // Every header value: `:path`, X-Original-URI and X-Forwarded-Uri repeat the query.
          headers: Object.fromEntries(
            Object.entries(input.headers).map(([name, value]) => [name, scrubAccessToken(value)]),
          ),
          ...(input.body === '' ? {} : { body: scrubAccessToken(input.body) }),
        },
      },
      contextExtensions: { ...input.contextExtensions },
    },
  };
}

function peer(info: PeerInfo): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  if (info.address !== undefined && info.address !== '') {
    result.address = { socketAddress: { address: info.address, portValue: info.port ?? 0 } };
  }
  if (info.principal !== undefined && info.principal !== '') result.principal = info.principal;
  return result;
}

/** OPA-Envoy's object result: allowed, http_status, headers (the allow's upstream headers). */
function result(decision: Decision): Record<string, unknown> {
  if (decision.allowed) {
    return {
      allowed: true,
      headers: Object.fromEntries(decision.upstreamHeaders),
      request_headers_to_remove: [...decision.upstreamHeadersToRemove],
    };
  }
  return { allowed: false, http_status: decision.status };
}

/**
 * Each shadow verdict beside the enforced outcome (docs/shadow.md): `enforced` is what the
 * proxy received (allow|deny with its code, and the enforced level that denied), `result`
 * what the shadow would have said (allow|deny|error).
 */
function shadowDiffs(run: ShadowRun, decision: Decision): Array<Record<string, unknown>> {
  const enforced = decision.allowed ? 'allow' : 'deny';
  return run.verdicts.map((verdict) => ({
    level: verdict.level,
    policy: verdict.package,
    result: verdict.outcome,
    ...(verdict.reason === undefined ? {} : { reason: verdict.reason }),
    enforced,
    enforced_code: decision.code,
    ...(run.enforcedDeniedAt === undefined ? {} : { enforced_level: run.enforcedDeniedAt }),
    agrees: verdict.outcome === enforced,
  }));
}

/** OPA's `timer_*_ns` metrics; `timer_rego_query_eval_ns` is the policy evaluation. */
function timers(entry: DecisionEntry): Record<string, number> {
  const metrics: Record<string, number> = { timer_server_handler_ns: Number(entry.totalNs) };
  const { route, auth, evaluate } = entry.phaseNs;
  if (route !== undefined) metrics.timer_gatehouse_route_ns = Number(route);
  if (auth !== undefined) metrics.timer_gatehouse_authenticate_ns = Number(auth);
  if (evaluate !== undefined) metrics.timer_rego_query_eval_ns = Number(evaluate);
  return metrics;
}
