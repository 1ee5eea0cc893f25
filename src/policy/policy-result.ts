import type { HeaderList } from '../decision/decision.js';

/**
 * Strict parsing of what a policy's `allow` rule returned. A boolean, or an object with a
 * boolean `allowed` and only the documented fields, each of the documented type. Anything
 * else is an invalid result, and the caller denies (as opa-envoy-plugin does).
 */

export interface PolicyVerdict {
  readonly allowed: boolean;
  /** Upstream request headers (allow) or response headers to the client (deny). */
  readonly headers: HeaderList;
  readonly responseHeadersToAdd: HeaderList;
  readonly requestHeadersToRemove: readonly string[];
  readonly httpStatus: number | undefined;
  readonly body: string | undefined;
  /** Query parameters to set on the upstream request (allow), in order; a key may repeat. */
  readonly queryParametersToSet: ReadonlyArray<readonly [key: string, value: string]>;
  /** Query parameter names to remove from the upstream request (allow). */
  readonly queryParametersToRemove: readonly string[];
  /** Envoy's CheckResponse.dynamic_metadata (a JSON object), allow or deny. */
  readonly dynamicMetadata: Readonly<Record<string, unknown>> | undefined;
}

export type ParsedResult =
  | { readonly ok: true; readonly verdict: PolicyVerdict }
  | { readonly ok: false; readonly reason: string };

const KNOWN_FIELDS = new Set([
  'allowed',
  'headers',
  'response_headers_to_add',
  'request_headers_to_remove',
  'http_status',
  'body',
  'query_parameters_to_set',
  'query_parameters_to_remove',
  'dynamic_metadata',
]);

// RFC 9110 section 5.1 (token) and 5.5 (field-value: visible chars, SP and HTAB, no CR/LF).
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\uffff]*$/;

/** `resultSet` is what WasmPolicy.evaluate() returned: `[]` or `[{ result }]`. */
export function parsePolicyResult(resultSet: unknown): ParsedResult {
  if (!Array.isArray(resultSet)) return invalid('the result set is not an array');
  if (resultSet.length === 0) {
    // The rule is undefined for this input: the policy did not allow.
    return { ok: true, verdict: verdict(false) };
  }
  if (resultSet.length > 1) return invalid('the result set has more than one result');
  const first: unknown = resultSet[0];
  if (!isRecord(first) || !('result' in first))
    return invalid('the result set entry has no result');
  const result = first.result;
  if (typeof result === 'boolean') return { ok: true, verdict: verdict(result) };
  if (!isRecord(result))
    return invalid(`the result is a ${describe(result)}, not a boolean or object`);

  for (const key of Object.keys(result)) {
    if (!KNOWN_FIELDS.has(key)) return invalid(`the result has an unknown field "${key}"`);
  }
  if (typeof result.allowed !== 'boolean')
    return invalid('the result field "allowed" is not a boolean');

  const headers = parseHeaders(result.headers, 'headers');
  if (typeof headers === 'string') return invalid(headers);
  const responseHeaders = parseHeaders(result.response_headers_to_add, 'response_headers_to_add');
  if (typeof responseHeaders === 'string') return invalid(responseHeaders);

  const toRemove = result.request_headers_to_remove;
  if (
    toRemove !== undefined &&
    !(
      Array.isArray(toRemove) && toRemove.every((n) => typeof n === 'string' && HEADER_NAME.test(n))
    )
  ) {
    return invalid('"request_headers_to_remove" must be an array of header names');
  }

  const status = result.http_status;
  // Only 4xx: a 2xx would read as "allowed" to an HTTP-mode proxy, and a 5xx as a failure
  // that failure_mode_allow turns into an allow.
  if (
    status !== undefined &&
    !(Number.isInteger(status) && Number(status) >= 400 && Number(status) <= 499)
  ) {
    return invalid('"http_status" must be an integer from 400 to 499');
  }
  if (result.body !== undefined && typeof result.body !== 'string') {
    return invalid('"body" must be a string');
  }
  const querySet = parseQueryParameters(result.query_parameters_to_set);
  if (typeof querySet === 'string') return invalid(querySet);
  const queryRemove = result.query_parameters_to_remove;
  if (
    queryRemove !== undefined &&
    !(Array.isArray(queryRemove) && queryRemove.every((n) => typeof n === 'string' && n !== ''))
  ) {
    return invalid('"query_parameters_to_remove" must be an array of parameter names');
  }
  const metadata = result.dynamic_metadata;
  if (metadata !== undefined && !isRecord(metadata)) {
    return invalid('"dynamic_metadata" must be an object');
  }
  return {
    ok: true,
    verdict: {
      allowed: result.allowed,
      headers,
      responseHeadersToAdd: responseHeaders,
      requestHeadersToRemove: (toRemove as string[] | undefined)?.map((n) => n.toLowerCase()) ?? [],
      httpStatus: status as number | undefined,
      body: result.body,
      queryParametersToSet: querySet,
      queryParametersToRemove: (queryRemove as string[] | undefined) ?? [],
      dynamicMetadata: metadata,
    },
  };
}

/**
 * Headers as an object of string or string[] values, or (as opa-envoy-plugin also takes
 * them) an array of such objects. Returns an error string when wrong.
 */
function parseHeaders(value: unknown, field: string): HeaderList | string {
  if (value === undefined) return [];
  const objects: unknown[] = Array.isArray(value) ? value : [value];
  const list: Array<readonly [string, string]> = [];
  for (const object of objects) {
    if (!isRecord(object)) return `"${field}" must be an object of header names to values`;
    const error = collectHeaders(object, field, list);
    if (error !== undefined) return error;
  }
  return list;
}

function collectHeaders(
  value: Record<string, unknown>,
  field: string,
  list: Array<readonly [string, string]>,
): string | undefined {
  for (const [name, raw] of Object.entries(value)) {
    if (!HEADER_NAME.test(name)) return `"${field}" has an invalid header name`;
    const values = Array.isArray(raw) ? (raw as unknown[]) : [raw];
    for (const item of values) {
      if (typeof item !== 'string') return `"${field}.${name}" must be a string or string array`;
      if (!HEADER_VALUE.test(item)) return `"${field}.${name}" contains a control character`;
      list.push([name.toLowerCase(), item]);
    }
  }
  return undefined;
}

/**
 * `query_parameters_to_set`: an object of names to a string or string array (each value
 * one parameter, in order), as opa-envoy-plugin reads it. Envoy encodes what it sets.
 */
function parseQueryParameters(value: unknown): ReadonlyArray<readonly [string, string]> | string {
  if (value === undefined) return [];
  const problem = '"query_parameters_to_set" must be an object of names to strings';
  if (!isRecord(value)) return problem;
  const list: Array<readonly [string, string]> = [];
  for (const [key, raw] of Object.entries(value)) {
    if (key === '') return problem;
    const values = Array.isArray(raw) ? (raw as unknown[]) : [raw];
    for (const item of values) {
      if (typeof item !== 'string') return problem;
      list.push([key, item]);
    }
  }
  return list;
}

function verdict(allowed: boolean): PolicyVerdict {
  return {
    allowed,
    headers: [],
    responseHeadersToAdd: [],
    requestHeadersToRemove: [],
    httpStatus: undefined,
    body: undefined,
    queryParametersToSet: [],
    queryParametersToRemove: [],
    dynamicMetadata: undefined,
  };
}

function invalid(reason: string): ParsedResult {
  return { ok: false, reason };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
