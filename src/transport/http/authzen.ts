import type { IncomingMessage } from 'node:http';
import type { CheckInput } from '../../check/check-input.js';
import type { Decision } from '../../decision/decision.js';

/**
 * The OpenID AuthZEN Authorization API 1.0 (https://openid.net/specs/authorization-api-1_0.html)
 * on top of the same pipeline: an access evaluation (subject, action, resource, context) is
 * turned into the request it is about, decided like any other check, and answered in the
 * spec's shape (`{"decision": true|false, "context": {...}}`).
 *
 * The mapping (docs/authzen.md):
 * - resource: `properties.path` is the request-target; without it, `/<type>/<id>` (each
 *   percent-encoded). `properties.host` is the host (default `http.authzen.defaultHost`).
 * - action: `properties.method` if present, else `name` upper-cased; it must be an HTTP
 *   method token (RFC 9110 section 9.1).
 * - subject: Gatehouse trusts only what it verifies. `properties.token` is the subject's
 *   access token, checked as a `Bearer` token would be; `type` and `id` alone authenticate
 *   nobody, so an API that needs a token answers `decision: false`.
 * - context: `headers` (strings) are added to the request (e.g. a `dpop` proof); the rest is
 *   not read.
 */

export interface EvaluationRequest {
  readonly subject: Readonly<Record<string, unknown>> | undefined;
  readonly action: Readonly<Record<string, unknown>> | undefined;
  readonly resource: Readonly<Record<string, unknown>> | undefined;
  readonly context: Readonly<Record<string, unknown>> | undefined;
}

/** Section 7.1.2.2: how a batch stops. */
export type EvaluationsSemantic = 'execute_all' | 'deny_on_first_deny' | 'permit_on_first_permit';

export type ParsedBatch =
  | {
      readonly ok: true;
      readonly evaluations: readonly EvaluationRequest[];
      readonly semantic: EvaluationsSemantic;
      /** No `evaluations` array: answered as a single evaluation (section 7.1). */
      readonly single: boolean;
    }
  | { readonly ok: false; readonly reason: string };

const SEMANTICS: readonly EvaluationsSemantic[] = [
  'execute_all',
  'deny_on_first_deny',
  'permit_on_first_permit',
];
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_EVALUATIONS = 64;

/** POST /access/v1/evaluation: one evaluation. */
export function parseEvaluation(body: string): ParsedBatch {
  const parsed = parseObject(body);
  if (!parsed.ok) return parsed;
  return { ok: true, evaluations: [entities(parsed.value)], semantic: 'execute_all', single: true };
}

/**
 * POST /access/v1/evaluations: top-level subject, action, resource and context are defaults
 * that each entry of `evaluations` may replace (section 7.1.1).
 */
export function parseEvaluations(body: string): ParsedBatch {
  const parsed = parseObject(body);
  if (!parsed.ok) return parsed;
  const defaults = entities(parsed.value);
  const list = parsed.value.evaluations;
  if (list === undefined)
    return { ok: true, evaluations: [defaults], semantic: 'execute_all', single: true };
  if (!Array.isArray(list)) return { ok: false, reason: '"evaluations" must be an array' };
  if (list.length > MAX_EVALUATIONS) {
    return { ok: false, reason: `at most ${MAX_EVALUATIONS} evaluations per request` };
  }
  const evaluations: EvaluationRequest[] = [];
  for (const [index, entry] of list.entries()) {
    if (!isRecord(entry)) return { ok: false, reason: `evaluations[${index}] must be an object` };
    const own = entities(entry);
    evaluations.push({
      subject: own.subject ?? defaults.subject,
      action: own.action ?? defaults.action,
      resource: own.resource ?? defaults.resource,
      context: own.context ?? defaults.context,
    });
  }
  const options = parsed.value.options;
  const semantic = isRecord(options) ? options.evaluations_semantic : undefined;
  if (semantic !== undefined && !SEMANTICS.includes(semantic as EvaluationsSemantic)) {
    return {
      ok: false,
      reason: `options.evaluations_semantic must be one of ${SEMANTICS.join(', ')}`,
    };
  }
  return {
    ok: true,
    evaluations,
    semantic: (semantic as EvaluationsSemantic | undefined) ?? 'execute_all',
    single: false,
  };
}

/** The request an evaluation is about, or why it names none. */
export function evaluationToInput(
  evaluation: EvaluationRequest,
  req: IncomingMessage,
  defaultHost: string,
):
  | { readonly ok: true; readonly input: CheckInput }
  | { readonly ok: false; readonly reason: string } {
  const { subject, action, resource, context } = evaluation;
  if (subject === undefined || action === undefined || resource === undefined) {
    return { ok: false, reason: 'subject, action and resource are required' };
  }
  const actionProperties = record(action.properties);
  const method = text(actionProperties?.method) ?? text(action.name);
  if (method === undefined || !METHOD.test(method)) {
    return {
      ok: false,
      reason: 'action.name (or action.properties.method) must be an HTTP method',
    };
  }
  const resourceProperties = record(resource.properties);
  let path = text(resourceProperties?.path);
  if (path === undefined) {
    const type = text(resource.type);
    const id = text(resource.id);
    if (type === undefined || id === undefined) {
      return { ok: false, reason: 'resource needs properties.path, or a type and an id' };
    }
    path = `/${encodeURIComponent(type)}/${encodeURIComponent(id)}`;
  }
  const headers: Record<string, string> = {};
  const contextHeaders = record(context?.headers);
  if (contextHeaders !== undefined) {
    for (const [name, value] of Object.entries(contextHeaders)) {
      if (typeof value !== 'string')
        return { ok: false, reason: `context.headers.${name} must be a string` };
      headers[name.toLowerCase()] = value;
    }
  }
  const token = text(record(subject.properties)?.token);
  if (token !== undefined) {
    if (headers.authorization !== undefined) {
      return {
        ok: false,
        reason: 'subject.properties.token and context.headers.authorization both set',
      };
    }
    headers.authorization = `Bearer ${token}`;
  }
  const host = text(resourceProperties?.host) ?? defaultHost;
  return {
    ok: true,
    input: {
      transport: 'authzen',
      method: method.toUpperCase(),
      path,
      host,
      scheme: 'https',
      protocol: `HTTP/${req.httpVersion}`,
      headers,
      requestId: typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : '',
      body: '',
      source: { address: req.socket.remoteAddress },
      destination: { address: req.socket.localAddress, port: req.socket.localPort },
      contextExtensions: {},
      peerTrusted: false,
    },
  };
}

/** Section 6.2: the decision, with a context saying why when it is false. */
export function evaluationAnswer(decision: Decision): Record<string, unknown> {
  if (decision.allowed) return { decision: true };
  return {
    decision: false,
    context: {
      // The deny code is stable and safe to show; the reason stays in Gatehouse's logs.
      code: decision.code,
      status: decision.status,
    },
  };
}

/** An evaluation that names no request: false, saying so, as the spec's examples do. */
export function invalidEvaluationAnswer(reason: string): Record<string, unknown> {
  return { decision: false, context: { code: 'GH_ERR_INVALID_REQUEST', status: 400, reason } };
}

/** Whether a batch stops after this answer (section 7.1.2.2). */
export function stopsBatch(semantic: EvaluationsSemantic, allowed: boolean): boolean {
  if (semantic === 'deny_on_first_deny') return !allowed;
  if (semantic === 'permit_on_first_permit') return allowed;
  return false;
}

/** GET /.well-known/authzen-configuration (section 9): where the endpoints are. */
export function pdpMetadata(baseUrl: string): Record<string, string> {
  return {
    policy_decision_point: baseUrl,
    access_evaluation_endpoint: `${baseUrl}/access/v1/evaluation`,
    access_evaluations_endpoint: `${baseUrl}/access/v1/evaluations`,
  };
}

function entities(value: Readonly<Record<string, unknown>>): EvaluationRequest {
  return {
    subject: record(value.subject),
    action: record(value.action),
    resource: record(value.resource),
    context: record(value.context),
  };
}

function parseObject(
  body: string,
):
  | { readonly ok: true; readonly value: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'the request body is not valid JSON' };
  }
  return isRecord(value)
    ? { ok: true, value }
    : { ok: false, reason: 'the request body must be a JSON object' };
}

function record(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return isRecord(value) ? value : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
