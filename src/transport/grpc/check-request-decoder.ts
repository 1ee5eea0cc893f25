import type { CheckInput, EnvoyAttributes, PeerInfo } from '../../check/check-input.js';
import {
  enter,
  int64,
  leave,
  readStringEntry,
  skipString,
  wireReader,
  type WireReader,
} from './wire-reader.js';
import { POISON, define, readMetadata, type Metadata } from './wire-struct.js';

/**
 * Envoy ext_authz v3 CheckRequest wire bytes -> CheckInput, in one pass.
 *
 * It reads only what CheckInput carries, by field number (envoy/service/auth/v3/
 * attribute_context.proto, external_auth.proto, envoy/config/core/v3/{address,base}.proto,
 * google/protobuf/{struct,timestamp,any}.proto), straight into the values the pipeline reads,
 * instead of protobufjs building message objects, `toObject` copying them with defaults and a
 * mapper walking the copy (a quarter of a bare gRPC call's CPU: bench/results/README.md).
 *
 * It accepts and refuses exactly the bytes protobufjs's generated decoder + toObject (the
 * proto-loader options in load-protos.ts) accept and refuse, and maps them as the old
 * mapper did (check-request-decoder.property.test.ts in test/transport/grpc/ compares the two on
 * generated and mutated messages). So it reads through protobufjs's own Reader, calls the
 * same read method for each field's declared type whatever its wire type (as protobufjs
 * does: a known field is never skipped by its wire type), skips unknown fields with
 * `skipType`, bounds each sub-message and map entry as protobufjs does (a length past its
 * parent, or a last field running past it, is refused), keeps protobufjs's nesting limit,
 * and lets a repeated singular field replace the earlier one (protobufjs replaces rather than
 * merges sub-messages).
 *
 * Throws on malformed bytes; the service wrapper turns that into the explicit GH_ERR_INTERNAL
 * deny.
 */
export function decodeCheckRequest(bytes: Uint8Array): CheckInput {
  const r = wireReader(bytes);
  let attributes: Attributes | undefined;
  // The top-level message runs to the end of the buffer (no length prefix, no end check).
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) attributes = readAttributes(r, 1);
    else r.skipType(tag & 7, 0);
  }
  // toObject of a map entry that carried no message value throws (it converts null); it runs
  // on the final message only, so a poisoned part that a later field replaced does not count.
  if (attributes?.poisoned === true) {
    throw new TypeError('a map entry of a message type has no value');
  }
  return toCheckInput(attributes);
}

// ---- what is kept of each message --------------------------------------------------------

interface Peer {
  address?: string | undefined;
  port?: number | undefined;
  service: string;
  labels: Map<string, string> | undefined;
  principal: string;
  certificate: string;
}

interface HeaderEntry {
  key: string;
  value: string;
  rawValue: Uint8Array | undefined;
}

interface Http {
  id: string;
  method: string;
  headers: Map<string, string> | undefined;
  headerMap: HeaderEntry[] | undefined;
  path: string;
  host: string;
  scheme: string;
  size: number;
  protocol: string;
  body: string;
  rawBody: Uint8Array | undefined;
}

interface Attributes {
  source: Peer | undefined;
  destination: Peer | undefined;
  time: { seconds: number; nanos: number } | undefined;
  http: Http | undefined;
  contextExtensions: Map<string, string> | undefined;
  metadataContext: Metadata | undefined;
  routeMetadataContext: Metadata | undefined;
  sni: string;
  poisoned: boolean;
}

// ---- envoy.service.auth.v3.AttributeContext ----------------------------------------------

function readAttributes(r: WireReader, depth: number): Attributes {
  const parentEnd = enter(r, depth);
  const read: Attributes = {
    source: undefined,
    destination: undefined,
    time: undefined,
    http: undefined,
    contextExtensions: undefined,
    metadataContext: undefined,
    routeMetadataContext: undefined,
    sni: '',
    poisoned: false,
  };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        read.source = readPeer(r, depth + 1);
        break;
      case 2:
        read.destination = readPeer(r, depth + 1);
        break;
      case 4:
        readRequest(r, depth + 1, read);
        break;
      case 10:
        readStringEntry(r, depth, (read.contextExtensions ??= new Map<string, string>()));
        break;
      case 11:
        read.metadataContext = readMetadata(r, depth + 1);
        break;
      case 12:
        read.sni = readTlsSession(r, depth + 1);
        break;
      case 13:
        read.routeMetadataContext = readMetadata(r, depth + 1);
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  read.poisoned = read.metadataContext === POISON || read.routeMetadataContext === POISON;
  return read;
}

/** AttributeContext.Request: a later Request replaces both of an earlier one's fields. */
function readRequest(r: WireReader, depth: number, into: Attributes): void {
  const parentEnd = enter(r, depth);
  let time: Attributes['time'];
  let http: Http | undefined;
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        time = readTimestamp(r, depth + 1);
        break;
      case 2:
        http = readHttp(r, depth + 1);
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  into.time = time;
  into.http = http;
}

function readTimestamp(r: WireReader, depth: number): { seconds: number; nanos: number } {
  const parentEnd = enter(r, depth);
  let seconds = 0;
  let nanos = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        seconds = int64(r);
        break;
      case 2:
        nanos = r.int32();
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  return { seconds, nanos };
}

function readTlsSession(r: WireReader, depth: number): string {
  const parentEnd = enter(r, depth);
  let sni = '';
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) sni = r.string();
    else r.skipType(tag & 7, depth);
  }
  leave(r, parentEnd);
  return sni;
}

function readHttp(r: WireReader, depth: number): Http {
  const parentEnd = enter(r, depth);
  const http: Http = {
    id: '',
    method: '',
    headers: undefined,
    headerMap: undefined,
    path: '',
    host: '',
    scheme: '',
    size: 0,
    protocol: '',
    body: '',
    rawBody: undefined,
  };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        http.id = r.string();
        break;
      case 2:
        http.method = r.string();
        break;
      case 3:
        readStringEntry(r, depth, (http.headers ??= new Map<string, string>()));
        break;
      case 4:
        http.path = r.string();
        break;
      case 5:
        http.host = r.string();
        break;
      case 6:
        http.scheme = r.string();
        break;
      case 7: // query: Envoy leaves it empty, the whole request-target is in `path`
      case 8: // fragment: likewise
        skipString(r);
        break;
      case 9:
        http.size = int64(r);
        break;
      case 10:
        http.protocol = r.string();
        break;
      case 11:
        http.body = r.string();
        break;
      case 12:
        http.rawBody = r.bytes();
        break;
      case 13:
        http.headerMap = readHeaderMap(r, depth + 1);
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  return http;
}

/** envoy.config.core.v3.HeaderMap (`encode_raw_headers: true`). */
function readHeaderMap(r: WireReader, depth: number): HeaderEntry[] {
  const parentEnd = enter(r, depth);
  const entries: HeaderEntry[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) entries.push(readHeaderValue(r, depth + 1));
    else r.skipType(tag & 7, depth);
  }
  leave(r, parentEnd);
  return entries;
}

function readHeaderValue(r: WireReader, depth: number): HeaderEntry {
  const parentEnd = enter(r, depth);
  const entry: HeaderEntry = { key: '', value: '', rawValue: undefined };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        entry.key = r.string();
        break;
      case 2:
        entry.value = r.string();
        break;
      case 3:
        entry.rawValue = r.bytes();
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  return entry;
}

// ---- AttributeContext.Peer and envoy.config.core.v3.Address -------------------------------

function readPeer(r: WireReader, depth: number): Peer {
  const parentEnd = enter(r, depth);
  const peer: Peer = {
    address: undefined,
    port: undefined,
    service: '',
    labels: undefined,
    principal: '',
    certificate: '',
  };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        readAddress(r, depth + 1, peer);
        break;
      case 2:
        peer.service = r.string();
        break;
      case 3:
        readStringEntry(r, depth, (peer.labels ??= new Map<string, string>()));
        break;
      case 4:
        peer.principal = r.string();
        break;
      case 5:
        peer.certificate = r.string();
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  return peer;
}

/**
 * Address: a socket address wins over a pipe. An envoy_internal_address names a listener,
 * not a network peer: it is read (and so checked) but left out rather than passed off as an
 * IP address a policy might match against. A later Address replaces an earlier one.
 */
function readAddress(r: WireReader, depth: number, into: Peer): void {
  const parentEnd = enter(r, depth);
  let socket: { address: string; port: number | undefined } | undefined;
  let pipe: string | undefined;
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        socket = readSocketAddress(r, depth + 1);
        break;
      case 2:
        pipe = readPipe(r, depth + 1);
        break;
      case 3:
        readInternalAddress(r, depth + 1);
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  if (socket !== undefined) {
    into.address = optional(socket.address);
    into.port = socket.port;
  } else {
    into.address = pipe === undefined ? undefined : optional(pipe);
    into.port = undefined;
  }
}

function readSocketAddress(
  r: WireReader,
  depth: number,
): { address: string; port: number | undefined } {
  const parentEnd = enter(r, depth);
  let address = '';
  let port: number | undefined;
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 2:
        address = r.string();
        break;
      case 3: {
        // uint32; 0 is no port.
        const value = r.uint32();
        port = value > 0 ? value : undefined;
        break;
      }
      case 1: // protocol (enum)
      case 6: // ipv4_compat (bool)
        r.uint32();
        break;
      case 4: // named_port
      case 5: // resolver_name
        skipString(r);
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  return { address, port };
}

function readPipe(r: WireReader, depth: number): string {
  const parentEnd = enter(r, depth);
  let path = '';
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        path = r.string();
        break;
      case 2: // mode (uint32)
        r.uint32();
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  return path;
}

function readInternalAddress(r: WireReader, depth: number): void {
  const parentEnd = enter(r, depth);
  while (r.pos < r.len) {
    const tag = r.uint32();
    const number = tag >>> 3;
    // server_listener_name, endpoint_id
    if (number === 1 || number === 2) skipString(r);
    else r.skipType(tag & 7, depth);
  }
  leave(r, parentEnd);
}

// ---- the mapping: what the pipeline reads ---------------------------------------------------

const EMPTY_PEER: Peer = {
  address: undefined,
  port: undefined,
  service: '',
  labels: undefined,
  principal: '',
  certificate: '',
};

/**
 * Field meanings: https://www.envoyproxy.io/docs/envoy/latest/api-v3/service/auth/v3/attribute_context.proto
 */
function toCheckInput(attributes: Attributes | undefined): CheckInput {
  const http = attributes?.http;
  const headers = toHeaders(http);
  const body = http === undefined ? '' : http.body;
  const rawBody = utf8(http?.rawBody);
  const envoyAttributes: EnvoyAttributes = {
    metadataContext: attributes?.metadataContext as Record<string, unknown> | undefined,
    routeMetadataContext: attributes?.routeMetadataContext as Record<string, unknown> | undefined,
    tlsSni: optional(attributes?.sni ?? ''),
    requestTime: toTimestamp(attributes?.time),
    size: http !== undefined && http.size !== 0 ? http.size : undefined,
    rawBody: body === '' && rawBody !== '' ? true : undefined,
  };
  const present =
    envoyAttributes.metadataContext !== undefined ||
    envoyAttributes.routeMetadataContext !== undefined ||
    envoyAttributes.tlsSni !== undefined ||
    envoyAttributes.requestTime !== undefined ||
    envoyAttributes.size !== undefined ||
    envoyAttributes.rawBody !== undefined;
  const authority = headers[':authority'];
  const hostHeader = headers.host;
  const otherHostValues: string[] = [];
  if (authority !== undefined) otherHostValues.push(authority);
  if (hostHeader !== undefined) otherHostValues.push(hostHeader);
  return {
    transport: 'grpc',
    // CheckInput promises an upper-case method; Envoy forwards it as the client sent it.
    method: ((http?.method ?? '') || (headers[':method'] ?? '')).toUpperCase(),
    // Envoy puts the whole request-target here, query included, undecoded; `query` and
    // `fragment` are always empty.
    path: (http?.path ?? '') || (headers[':path'] ?? ''),
    host: (http?.host ?? '') || (authority ?? hostHeader ?? ''),
    // Envoy copies `:authority` into `host`; a headers map that names another authority
    // (an HTTP/2 `host` header beside `:authority`, RFC 9113 8.3.1) makes the request
    // ambiguous, which the route step refuses.
    otherHostValues,
    scheme: http?.scheme ?? '',
    protocol: http?.protocol ?? '',
    headers,
    requestId: (http?.id ?? '') || (headers['x-request-id'] ?? ''),
    // `body`, or `raw_body` when the filter sets `pack_as_bytes: true`.
    body: body || rawBody,
    source: toPeerInfo(attributes?.source ?? EMPTY_PEER),
    destination: toPeerInfo(attributes?.destination ?? EMPTY_PEER),
    contextExtensions: toRecord(attributes?.contextExtensions) ?? {},
    ...(present ? { envoyAttributes } : {}),
  };
}

/**
 * Headers, names lower-cased, repeated names joined. Envoy sends either the `headers` map
 * (already lower-cased and merged) or, with `encode_raw_headers: true`, `header_map`: a list
 * of key/raw_value pairs that is neither merged nor guaranteed lower-case.
 */
function toHeaders(http: Http | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (http === undefined) return headers;
  if (http.headers !== undefined && http.headers.size > 0) {
    for (const [name, value] of http.headers) addHeader(headers, name, value);
  } else if (http.headerMap !== undefined) {
    for (const entry of http.headerMap) {
      if (entry.key !== '') addHeader(headers, entry.key, entry.value || utf8(entry.rawValue));
    }
  }
  return headers;
}

function addHeader(headers: Record<string, string>, name: string, value: string): void {
  const key = name.toLowerCase();
  const previous = Object.hasOwn(headers, key) ? headers[key] : undefined;
  const joined = previous === undefined ? value : `${previous}${separator(key)}${value}`;
  // A header named "__proto__" stays a header instead of touching the prototype of the
  // record the pipeline reads.
  if (key === '__proto__') define(headers, key, joined);
  else headers[key] = joined;
}

/**
 * RFC 9110 section 5.3: repeated fields combine with ",". Cookie is the exception: RFC 9113
 * section 8.2.3 and RFC 6265 section 5.4 join cookie pairs with "; ".
 */
function separator(name: string): string {
  return name === 'cookie' ? '; ' : ',';
}

function toPeerInfo(peer: Peer): PeerInfo {
  return {
    address: peer.address,
    port: peer.port,
    // Envoy sends "" when there is no (verified) peer certificate: absent, not empty.
    principal: optional(peer.principal),
    certificate: optional(peer.certificate),
    service: optional(peer.service),
    labels: toRecord(peer.labels),
  };
}

/** A proto map as a record; undefined when it has no entries. */
function toRecord(map: Map<string, string> | undefined): Record<string, string> | undefined {
  return map === undefined || map.size === 0 ? undefined : Object.fromEntries(map);
}

/**
 * google.protobuf.Timestamp as protojson writes it: RFC 3339 in UTC with "Z", and 0, 3, 6
 * or 9 fractional digits (https://protobuf.dev/programming-guides/json/).
 */
function toTimestamp(time: { seconds: number; nanos: number } | undefined): string | undefined {
  if (time === undefined) return undefined;
  const s = Number.isFinite(time.seconds) ? time.seconds : 0;
  const n = time.nanos > 0 ? time.nanos : 0;
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

function optional(value: string): string | undefined {
  return value === '' ? undefined : value;
}

const decoder = new TextDecoder('utf-8');

/**
 * Bytes fields as text. UTF-8, like the string fields protobuf decodes next to them, so a
 * value reads the same whether Envoy sent `value` or `raw_value`.
 */
function utf8(value: Uint8Array | undefined): string {
  return value === undefined ? '' : decoder.decode(value);
}
