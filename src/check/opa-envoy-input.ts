import type { JWTPayload } from 'jose';
import type { ApiDefinition } from '../routes/catalog.js';
import type { CheckInput, PeerInfo } from './check-input.js';
import { parsePathAndQuery, parseQuery } from './opa-envoy-url.js';

/**
 * The input document of OPA-Envoy compatibility mode (`opaEnvoy`), field for field as
 * opa-envoy-plugin builds it (https://www.openpolicyagent.org/docs/envoy/primer, "Input
 * Document"): the CheckRequest's `attributes` in protojson form (camelCase names, empty
 * values left out, int64 as strings), `parsed_path`, `parsed_query`, `parsed_body`,
 * `truncated_body` and `version`. Gatehouse adds `token` and `api`, names opa-envoy-plugin
 * does not use.
 */

export interface OpaEnvoyInputParts {
  readonly request: CheckInput;
  readonly api: ApiDefinition | undefined;
  readonly params: Readonly<Record<string, string>>;
  readonly claims: JWTPayload | undefined;
  /** `opaEnvoy.skipRequestBodyParse`: leave out parsed_body and truncated_body. */
  readonly skipRequestBodyParse: boolean;
}

export type OpaEnvoyInput =
  | { readonly ok: true; readonly document: Record<string, unknown> }
  | { readonly ok: false; readonly reason: string };

/** Envoy sets this on the check request when `allow_partial_message` cut the body. */
const PARTIAL_BODY_HEADER = 'x-envoy-auth-partial-body';

export function buildOpaEnvoyInput(parts: OpaEnvoyInputParts): OpaEnvoyInput {
  const { request } = parts;
  const url = parsePathAndQuery(request.path);
  // opa-envoy-plugin fails the check when the path does not parse; here that is a deny.
  if (!url.ok) return { ok: false, reason: `the path does not parse as a URL: ${url.reason}` };
  const document: Record<string, unknown> = {
    attributes: attributes(request),
    parsed_path: url.parsedPath,
    parsed_query: url.parsedQuery,
    version: { ext_authz: 'v3', encoding: 'protojson' },
  };
  if (!parts.skipRequestBodyParse) {
    const body = parseBody(request);
    if (!body.ok) return body;
    document.parsed_body = body.parsed;
    document.truncated_body = body.truncated;
  }
  document.token = parts.claims ?? null;
  document.api =
    parts.api === undefined
      ? null
      : {
          id: parts.api.id,
          service: parts.api.service,
          path_template: parts.api.pathTemplate,
          params: parts.params,
        };
  return { ok: true, document };
}

/** AttributeContext in protojson: only what is set, as protojson leaves defaults out. */
function attributes(request: CheckInput): Record<string, unknown> {
  const extra = request.envoyAttributes;
  const http: Record<string, unknown> = {};
  set(http, 'id', request.requestId);
  set(http, 'method', request.method);
  if (Object.keys(request.headers).length > 0) http.headers = request.headers;
  set(http, 'path', request.path);
  set(http, 'host', request.host);
  set(http, 'scheme', request.scheme);
  // int64 is a JSON string in protojson.
  if (extra?.size !== undefined && extra.size !== 0) http.size = String(extra.size);
  set(http, 'protocol', request.protocol);
  if (request.body !== '') {
    // bytes are base64 in protojson.
    if (extra?.rawBody === true) http.rawBody = Buffer.from(request.body).toString('base64');
    else http.body = request.body;
  }
  const requestContext: Record<string, unknown> = {};
  if (extra?.requestTime !== undefined) requestContext.time = extra.requestTime;
  requestContext.http = http;

  const result: Record<string, unknown> = {};
  const source = peer(request.source);
  if (source !== undefined) result.source = source;
  const destination = peer(request.destination);
  if (destination !== undefined) result.destination = destination;
  result.request = requestContext;
  if (Object.keys(request.contextExtensions).length > 0) {
    result.contextExtensions = request.contextExtensions;
  }
  if (extra?.metadataContext !== undefined) result.metadataContext = extra.metadataContext;
  if (extra?.routeMetadataContext !== undefined) {
    result.routeMetadataContext = extra.routeMetadataContext;
  }
  if (extra?.tlsSni !== undefined) result.tlsSession = { sni: extra.tlsSni };
  return result;
}

function peer(info: PeerInfo): Record<string, unknown> | undefined {
  const result: Record<string, unknown> = {};
  if (info.address !== undefined && info.address !== '') {
    const socketAddress: Record<string, unknown> = { address: info.address };
    if (info.port !== undefined && info.port !== 0) socketAddress.portValue = info.port;
    result.address = { socketAddress };
  }
  set(result, 'service', info.service);
  if (info.labels !== undefined && Object.keys(info.labels).length > 0) result.labels = info.labels;
  set(result, 'principal', info.principal);
  set(result, 'certificate', info.certificate);
  return Object.keys(result).length === 0 ? undefined : result;
}

function set(target: Record<string, unknown>, key: string, value: string | undefined): void {
  if (value !== undefined && value !== '') target[key] = value;
}

type ParsedBody =
  | { readonly ok: true; readonly parsed: unknown; readonly truncated: boolean }
  | { readonly ok: false; readonly reason: string };

/**
 * `parsed_body` and `truncated_body` as opa-envoy-plugin documents them: JSON bodies
 * (`application/json`) and form bodies (`application/x-www-form-urlencoded`, to arrays of
 * values) are parsed; other types are null. A body is truncated when Envoy says so
 * (`x-envoy-auth-partial-body: true`) or when it is shorter than its Content-Length; a
 * truncated body is never parsed (null). A body that does not parse fails the check, as in
 * opa-envoy-plugin. Multipart and gRPC bodies are not parsed (null).
 */
function parseBody(request: CheckInput): ParsedBody {
  const contentType = request.headers['content-type'];
  const partial = request.headers[PARTIAL_BODY_HEADER]?.trim().toLowerCase() === 'true';
  if (partial) return { ok: true, parsed: null, truncated: true };
  if (contentType === undefined) return { ok: true, parsed: null, truncated: false };
  const json = contentType.includes('application/json');
  const form = !json && contentType.includes('application/x-www-form-urlencoded');
  if ((!json && !form) || request.body === '') return { ok: true, parsed: null, truncated: false };

  const contentLength = request.headers['content-length'];
  if (contentLength !== undefined) {
    if (!/^[+-]?\d+$/.test(contentLength.trim())) {
      return { ok: false, reason: 'the Content-Length header is not a number' };
    }
    const declared = Number(contentLength.trim());
    if (declared !== -1 && declared > Buffer.byteLength(request.body)) {
      return { ok: true, parsed: null, truncated: true };
    }
  }
  if (json) {
    try {
      return { ok: true, parsed: JSON.parse(request.body) as unknown, truncated: false };
    } catch {
      return { ok: false, reason: 'the JSON request body does not parse' };
    }
  }
  const parsed = parseQuery(request.body);
  if (parsed.error !== undefined) {
    return { ok: false, reason: `the form request body does not parse: ${parsed.error}` };
  }
  return { ok: true, parsed: parsed.values, truncated: false };
}
