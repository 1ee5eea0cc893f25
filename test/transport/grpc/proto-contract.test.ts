import { describe, expect, it } from 'vitest';
import { loadPackageDefinition } from '../../../src/transport/grpc/load-protos.js';

/**
 * The .proto files are written by hand, so a typo in a field number would pass every
 * round-trip test (client and server share the files) and fail only against a real Envoy.
 * This table restates Envoy's numbers and types independently, from the API reference:
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/service/auth/v3/external_auth.proto
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/service/auth/v3/attribute_context.proto
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/base.proto
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/address.proto
 * Each field: [number, type], the type written as "string", "repeated X" or "map<K, V>" with
 * the last segment of message and enum names.
 */
const ENVOY_FIELDS: Record<string, Record<string, readonly [number, string]>> = {
  'envoy.service.auth.v3.CheckRequest': { attributes: [1, 'AttributeContext'] },
  'envoy.service.auth.v3.CheckResponse': {
    status: [1, 'Status'],
    denied_response: [2, 'DeniedHttpResponse'],
    ok_response: [3, 'OkHttpResponse'],
    dynamic_metadata: [4, 'Struct'],
  },
  'envoy.service.auth.v3.DeniedHttpResponse': {
    status: [1, 'HttpStatus'],
    headers: [2, 'repeated HeaderValueOption'],
    body: [3, 'string'],
  },
  'envoy.service.auth.v3.OkHttpResponse': {
    headers: [2, 'repeated HeaderValueOption'],
    dynamic_metadata: [3, 'Struct'],
    headers_to_remove: [5, 'repeated string'],
    response_headers_to_add: [6, 'repeated HeaderValueOption'],
    query_parameters_to_set: [7, 'repeated QueryParameter'],
    query_parameters_to_remove: [8, 'repeated string'],
  },
  'envoy.service.auth.v3.AttributeContext': {
    source: [1, 'Peer'],
    destination: [2, 'Peer'],
    request: [4, 'Request'],
    context_extensions: [10, 'map<string, string>'],
    metadata_context: [11, 'Metadata'],
    tls_session: [12, 'TLSSession'],
    route_metadata_context: [13, 'Metadata'],
  },
  'envoy.service.auth.v3.AttributeContext.Peer': {
    address: [1, 'Address'],
    service: [2, 'string'],
    labels: [3, 'map<string, string>'],
    principal: [4, 'string'],
    certificate: [5, 'string'],
  },
  'envoy.service.auth.v3.AttributeContext.Request': {
    time: [1, 'Timestamp'],
    http: [2, 'HttpRequest'],
  },
  'envoy.service.auth.v3.AttributeContext.HttpRequest': {
    id: [1, 'string'],
    method: [2, 'string'],
    headers: [3, 'map<string, string>'],
    path: [4, 'string'],
    host: [5, 'string'],
    scheme: [6, 'string'],
    query: [7, 'string'],
    fragment: [8, 'string'],
    size: [9, 'int64'],
    protocol: [10, 'string'],
    body: [11, 'string'],
    raw_body: [12, 'bytes'],
    header_map: [13, 'HeaderMap'],
  },
  'envoy.service.auth.v3.AttributeContext.TLSSession': { sni: [1, 'string'] },
  'envoy.config.core.v3.HeaderValue': {
    key: [1, 'string'],
    value: [2, 'string'],
    raw_value: [3, 'bytes'],
  },
  'envoy.config.core.v3.HeaderValueOption': {
    header: [1, 'HeaderValue'],
    append: [2, 'BoolValue'],
    append_action: [3, 'HeaderAppendAction'],
    keep_empty_value: [4, 'bool'],
  },
  'envoy.config.core.v3.HeaderMap': { headers: [1, 'repeated HeaderValue'] },
  'envoy.config.core.v3.Metadata': {
    filter_metadata: [1, 'map<string, Struct>'],
    typed_filter_metadata: [2, 'map<string, Any>'],
  },
  'envoy.config.core.v3.QueryParameter': { key: [1, 'string'], value: [2, 'string'] },
  'envoy.config.core.v3.Address': {
    socket_address: [1, 'SocketAddress'],
    pipe: [2, 'Pipe'],
    envoy_internal_address: [3, 'EnvoyInternalAddress'],
  },
  'envoy.config.core.v3.SocketAddress': {
    protocol: [1, 'Protocol'],
    address: [2, 'string'],
    port_value: [3, 'uint32'],
    named_port: [4, 'string'],
    resolver_name: [5, 'string'],
    ipv4_compat: [6, 'bool'],
  },
  'envoy.config.core.v3.Pipe': { path: [1, 'string'], mode: [2, 'uint32'] },
  'envoy.config.core.v3.EnvoyInternalAddress': {
    server_listener_name: [1, 'string'],
    endpoint_id: [2, 'string'],
  },
  'envoy.type.v3.HttpStatus': { code: [1, 'StatusCode'] },
  'google.rpc.Status': {
    code: [1, 'int32'],
    message: [2, 'string'],
    details: [3, 'repeated Any'],
  },
  'grpc.health.v1.HealthCheckRequest': { service: [1, 'string'] },
  'grpc.health.v1.HealthCheckResponse': { status: [1, 'ServingStatus'] },
};

const ENVOY_ENUMS: Record<string, Record<string, number>> = {
  'envoy.config.core.v3.HeaderValueOption.HeaderAppendAction': {
    APPEND_IF_EXISTS_OR_ADD: 0,
    ADD_IF_ABSENT: 1,
    OVERWRITE_IF_EXISTS_OR_ADD: 2,
    OVERWRITE_IF_EXISTS: 3,
  },
  'grpc.health.v1.HealthCheckResponse.ServingStatus': {
    UNKNOWN: 0,
    SERVING: 1,
    NOT_SERVING: 2,
    SERVICE_UNKNOWN: 3,
  },
};

// The parts of google.protobuf.DescriptorProto that proto-loader exposes and this test reads.
interface FieldDescriptor {
  readonly name: string;
  readonly number: number;
  readonly label: string;
  readonly type: string;
  readonly typeName: string;
}
interface EnumDescriptor {
  readonly name: string;
  readonly value: ReadonlyArray<{ readonly name: string; readonly number: number }>;
}
interface MessageDescriptor {
  readonly name: string;
  readonly field: readonly FieldDescriptor[];
  readonly nestedType: readonly MessageDescriptor[];
  readonly enumType: readonly EnumDescriptor[];
  readonly options: { readonly mapEntry?: boolean } | null;
}

const definition = loadPackageDefinition();

/** Finds a message descriptor, walking into nested types ("Outer.Inner"). */
function message(fullName: string): MessageDescriptor {
  const parts = fullName.split('.');
  for (let split = parts.length; split > 0; split -= 1) {
    const top = definition[parts.slice(0, split).join('.')];
    if (top === undefined || !('format' in top)) continue;
    let found = top.type as MessageDescriptor;
    for (const nested of parts.slice(split)) {
      const next = found.nestedType.find((candidate) => candidate.name === nested);
      if (next === undefined) throw new Error(`no ${nested} in ${found.name}`);
      found = next;
    }
    return found;
  }
  throw new Error(`no message ${fullName}`);
}

function lastSegment(typeName: string): string {
  return typeName.slice(typeName.lastIndexOf('.') + 1);
}

function describeField(owner: MessageDescriptor, field: FieldDescriptor): string {
  const scalar = field.type.replace(/^TYPE_/, '').toLowerCase();
  const named = field.type === 'TYPE_MESSAGE' || field.type === 'TYPE_ENUM';
  const base = named ? lastSegment(field.typeName) : scalar;
  if (field.label !== 'LABEL_REPEATED') return base;
  const entry = owner.nestedType.find((nested) => nested.name === base);
  if (entry?.options?.mapEntry === true) {
    const [key, value] = entry.field;
    if (key === undefined || value === undefined) throw new Error(`bad map entry ${base}`);
    return `map<${describeField(entry, key)}, ${describeField(entry, value)}>`;
  }
  return `repeated ${base}`;
}

describe('proto/ matches Envoy’s wire contract', () => {
  it.each(Object.entries(ENVOY_FIELDS))('%s: field names, numbers and types', (name, fields) => {
    const found = message(name);
    const actual = Object.fromEntries(
      found.field.map((field) => [field.name, [field.number, describeField(found, field)]]),
    );
    expect(actual).toEqual(fields);
  });

  it.each(Object.entries(ENVOY_ENUMS))('%s: values', (fullName, values) => {
    const owner = message(fullName.slice(0, fullName.lastIndexOf('.')));
    const found = owner.enumType.find((candidate) => candidate.name === lastSegment(fullName));
    expect(Object.fromEntries((found?.value ?? []).map((v) => [v.name, v.number]))).toEqual(values);
  });

  it('envoy.type.v3.StatusCode: Empty is 0 and every listed code is its own number', () => {
    const statusCode = definition['envoy.type.v3.StatusCode'];
    if (statusCode === undefined || !('format' in statusCode)) throw new Error('no StatusCode');
    const values = (statusCode.type as EnumDescriptor).value;
    expect(values[0]).toEqual(expect.objectContaining({ name: 'Empty', number: 0 }));
    expect(values).toHaveLength(57);
    for (const code of [200, 400, 401, 403, 404, 429, 500, 503, 511]) {
      expect(values.map((v) => v.number)).toContain(code);
    }
    expect(values.every((v) => v.number === 0 || (v.number >= 100 && v.number <= 599))).toBe(true);
  });

  it('services: the paths Envoy and health checkers call', () => {
    const paths = (['envoy.service.auth.v3.Authorization', 'grpc.health.v1.Health'] as const).map(
      (name) => {
        const service = definition[name];
        if (service === undefined || 'format' in service) throw new Error(`no ${name}`);
        return Object.values(service).map((m) => [m.path, m.requestStream, m.responseStream]);
      },
    );
    expect(paths).toEqual([
      [['/envoy.service.auth.v3.Authorization/Check', false, false]],
      [
        ['/grpc.health.v1.Health/Check', false, false],
        ['/grpc.health.v1.Health/Watch', false, true],
      ],
    ]);
  });
});
