import type { CheckInput, EnvoyAttributes, PeerInfo } from '../../../src/check/check-input.js';
import { loadProtos } from '../../../src/transport/grpc/load-protos.js';
import { structToJson } from '../../../src/transport/grpc/struct-json.js';

/**
 * The old CheckRequest path, kept only as the oracle the direct decoder
 * (src/transport/grpc/check-request-decoder.ts) is tested against: proto-loader decodes the
 * bytes (protobufjs decode + toObject with the load-protos.ts options) and checkRequestToInput
 * maps the object. Gatehouse served Check with exactly this until the direct decoder replaced
 * it (issue 10).
 */
const check = loadProtos().authorization.Check;

/** The old path end to end: wire bytes -> CheckInput, throwing where it refused the bytes. */
export function protoLoaderCheckInput(bytes: Buffer): CheckInput {
  return checkRequestToInput(check.requestDeserialize(bytes));
}

/**
 * Envoy ext_authz v3 CheckRequest (as proto-loader decodes it) -> CheckInput.
 *
 * Pure and total: the argument is `unknown` and every field is narrowed where it is read, so
 * a missing or mistyped field becomes an empty value and never an exception. The pipeline
 * then denies what it cannot route or authenticate.
 *
 * Field meanings: https://www.envoyproxy.io/docs/envoy/latest/api-v3/service/auth/v3/attribute_context.proto
 */
export function checkRequestToInput(request: unknown): CheckInput {
  const attributes = field(request, 'attributes');
  const http = field(field(attributes, 'request'), 'http');
  const headers = readHeaders(http);

  return {
    transport: 'grpc',
    // CheckInput promises an upper-case method; Envoy forwards it as the client sent it.
    method: (text(http, 'method') || (headers[':method'] ?? '')).toUpperCase(),
    // Envoy puts the whole request-target here, query included, undecoded; `query` and
    // `fragment` are always empty.
    path: text(http, 'path') || (headers[':path'] ?? ''),
    host: text(http, 'host') || (headers[':authority'] ?? headers.host ?? ''),
    // Envoy copies `:authority` into `host`; a headers map that names another authority
    // (an HTTP/2 `host` header beside `:authority`, RFC 9113 8.3.1) makes the request
    // ambiguous, which the route step refuses.
    otherHostValues: [headers[':authority'], headers.host].filter(
      (value): value is string => value !== undefined,
    ),
    scheme: text(http, 'scheme'),
    protocol: text(http, 'protocol'),
    headers,
    requestId: text(http, 'id') || (headers['x-request-id'] ?? ''),
    body: readBody(http),
    source: readPeer(field(attributes, 'source')),
    destination: readPeer(field(attributes, 'destination')),
    contextExtensions: Object.fromEntries(stringEntries(field(attributes, 'context_extensions'))),
    ...envoyAttributesOf(attributes, http),
  };
}

/** `envoyAttributes` only when Envoy sent any of them. */
function envoyAttributesOf(
  attributes: unknown,
  http: unknown,
): { envoyAttributes?: EnvoyAttributes } {
  const read = readEnvoyAttributes(attributes, http);
  const present = Object.values(read).some((value) => value !== undefined);
  return present ? { envoyAttributes: read } : {};
}

/** The AttributeContext fields OPA-Envoy's input carries beyond the request (protojson). */
function readEnvoyAttributes(attributes: unknown, http: unknown): EnvoyAttributes {
  const size = field(http, 'size');
  const sni = text(field(attributes, 'tls_session'), 'sni');
  return {
    metadataContext: readMetadata(field(attributes, 'metadata_context')),
    routeMetadataContext: readMetadata(field(attributes, 'route_metadata_context')),
    tlsSni: optional(sni),
    requestTime: readTimestamp(field(field(attributes, 'request'), 'time')),
    size: typeof size === 'number' && Number.isInteger(size) && size !== 0 ? size : undefined,
    rawBody: text(http, 'body') === '' && utf8(field(http, 'raw_body')) !== '' ? true : undefined,
  };
}

/**
 * envoy.config.core.v3.Metadata as protojson: `filterMetadata` holds each namespace's
 * Struct as the JSON object it stands for. `typed_filter_metadata` (google.protobuf.Any)
 * is left out: its JSON form needs the packed type's descriptor, which Gatehouse lacks.
 */
function readMetadata(metadata: unknown): Record<string, unknown> | undefined {
  // Unset (null): left out; set but empty: {}, as protojson writes a present message.
  if (!isObject(metadata)) return undefined;
  const filters = field(metadata, 'filter_metadata');
  const entries = isPlainObject(filters) ? Object.entries(filters) : [];
  if (entries.length === 0) return {};
  const filterMetadata: Record<string, unknown> = {};
  for (const [namespace, struct] of entries) {
    Object.defineProperty(filterMetadata, namespace, {
      value: structToJson(struct),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { filterMetadata };
}

/**
 * google.protobuf.Timestamp as protojson writes it: RFC 3339 in UTC with "Z", and 0, 3, 6
 * or 9 fractional digits (https://protobuf.dev/programming-guides/json/).
 */
function readTimestamp(timestamp: unknown): string | undefined {
  const seconds = field(timestamp, 'seconds');
  const nanos = field(timestamp, 'nanos');
  const s = typeof seconds === 'number' && Number.isFinite(seconds) ? seconds : 0;
  const n = typeof nanos === 'number' && Number.isInteger(nanos) && nanos > 0 ? nanos : 0;
  if (s === 0 && n === 0) return undefined;
  const date = new Date(s * 1000);
  if (Number.isNaN(date.getTime())) return undefined;
  const base = date.toISOString().slice(0, 19);
  let fraction = '';
  if (n !== 0) {
    const digits = String(n).padStart(9, '0');
    fraction = `.${digits.endsWith('000000') ? digits.slice(0, 3) : digits.endsWith('000') ? digits.slice(0, 6) : digits}`;
  }
  return `${base}${fraction}Z`;
}

/**
 * Headers, names lower-cased, repeated names joined. Envoy sends either the `headers` map
 * (already lower-cased and merged) or, with `encode_raw_headers: true`, `header_map`: a list
 * of key/raw_value pairs that is neither merged nor guaranteed lower-case.
 */
function readHeaders(http: unknown): Record<string, string> {
  const merged = new Map<string, string>();
  const add = (name: string, value: string): void => {
    const key = name.toLowerCase();
    const previous = merged.get(key);
    merged.set(key, previous === undefined ? value : `${previous}${separator(key)}${value}`);
  };

  for (const [name, value] of stringEntries(field(http, 'headers'))) add(name, value);

  if (merged.size === 0) {
    for (const entry of list(field(field(http, 'header_map'), 'headers'))) {
      const name = text(entry, 'key');
      if (name === '') continue;
      add(name, text(entry, 'value') || utf8(field(entry, 'raw_value')));
    }
  }
  // Object.fromEntries defines own properties, so a header named "__proto__" stays a header
  // instead of touching the prototype of the record the pipeline reads.
  return Object.fromEntries(merged);
}

/**
 * RFC 9110 section 5.3: repeated fields combine with ",". Cookie is the exception: RFC 9113
 * section 8.2.3 and RFC 6265 section 5.4 join cookie pairs with "; ".
 */
function separator(name: string): string {
  return name === 'cookie' ? '; ' : ',';
}

/** `body`, or `raw_body` when the filter sets `pack_as_bytes: true`. */
function readBody(http: unknown): string {
  return text(http, 'body') || utf8(field(http, 'raw_body'));
}

function readPeer(peer: unknown): PeerInfo {
  const address = field(peer, 'address');
  const socket = field(address, 'socket_address');
  const pipe = field(address, 'pipe');
  // An envoy_internal_address names a listener, not a network peer: it is left out rather
  // than passed off as an IP address a policy might match against.
  let host: string | undefined;
  let port: number | undefined;
  if (isObject(socket)) {
    host = optional(text(socket, 'address'));
    const value = field(socket, 'port_value');
    port = typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
  } else if (isObject(pipe)) {
    host = optional(text(pipe, 'path'));
  }
  return {
    address: host,
    port,
    // Envoy sends "" when there is no (verified) peer certificate: absent, not empty.
    principal: optional(text(peer, 'principal')),
    certificate: optional(text(peer, 'certificate')),
    service: optional(text(peer, 'service')),
    labels: readLabels(field(peer, 'labels')),
  };
}

function readLabels(value: unknown): Record<string, string> | undefined {
  const entries = stringEntries(value);
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

// ---- narrowing helpers -------------------------------------------------------------------

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function isPlainObject(value: unknown): value is object {
  if (!isObject(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function field(value: unknown, key: string): unknown {
  if (!isObject(value) || !Object.hasOwn(value, key)) return undefined;
  return (value as Record<string, unknown>)[key];
}

function text(value: unknown, key: string): string {
  const found = field(value, key);
  return typeof found === 'string' ? found : '';
}

function optional(value: string): string | undefined {
  return value === '' ? undefined : value;
}

function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

/**
 * The string-valued own entries of a proto map (map<string, string>). proto-loader decodes
 * maps to plain objects; an array or a Buffer in their place is not a map.
 */
function stringEntries(value: unknown): Array<[string, string]> {
  if (!isPlainObject(value)) return [];
  return Object.entries(value).filter(
    (entry): entry is [string, string] => typeof entry[1] === 'string',
  );
}

const decoder = new TextDecoder('utf-8');

/**
 * Bytes fields as text. UTF-8, like the string fields protobuf decodes next to them, so a
 * value reads the same whether Envoy sent `value` or `raw_value`.
 */
function utf8(value: unknown): string {
  return value instanceof Uint8Array ? decoder.decode(value) : '';
}
