import { describe, expect, it } from 'vitest';
import type { CheckInput } from '../../../src/check/check-input.js';
import { decodeCheckRequest } from '../../../src/transport/grpc/check-request-decoder.js';
import { loadProtos } from '../../../src/transport/grpc/load-protos.js';
import type { CheckRequestMessage } from '../../../src/transport/grpc/wire-types.js';
import { protoLoaderCheckInput } from './proto-loader-check-input.js';
import {
  ENVOY_GET_REQUEST,
  ENVOY_GET_REQUEST_FIELDS,
  ENVOY_RAW_HEADERS_POST,
  bytes,
} from './envoy-fixtures.js';

const method = loadProtos().authorization.Check;

/** A CheckRequest as Envoy puts it on the wire (protobufjs's encoder), then decoded. */
function decode(request: CheckRequestMessage): CheckInput {
  return decodeCheckRequest(method.requestSerialize(request));
}

/** A request carrying only `header_map` (Envoy's encode_raw_headers), names and raw values. */
function fromHeaderMap(headers: readonly (readonly [string, string])[]): CheckRequestMessage {
  return {
    attributes: {
      request: {
        http: {
          header_map: {
            headers: headers.map(([key, value]) => ({ key, raw_value: bytes(value) })),
          },
        },
      },
    },
  };
}

describe('decodeCheckRequest', () => {
  it('maps a CheckRequest as Envoy sends it', () => {
    const input = decode(ENVOY_GET_REQUEST);

    expect(input).toEqual({
      ...ENVOY_GET_REQUEST_FIELDS,
      headers: ENVOY_GET_REQUEST.attributes.request.http.headers,
      body: '',
      source: {
        address: '10.244.1.17',
        port: 51234,
        principal: 'spiffe://cluster.local/ns/shop/sa/frontend',
        certificate: ENVOY_GET_REQUEST.attributes.source.certificate,
      },
      destination: {
        address: '10.244.2.9',
        port: 8080,
        principal: 'spiffe://cluster.local/ns/shop/sa/orders',
        certificate: undefined,
      },
      // The headers map's :authority, which the route step checks against `host`.
      otherHostValues: ['api.shop.example'],
      // Request.time, as protojson writes a Timestamp (for the OPA-Envoy input document).
      envoyAttributes: { requestTime: '2026-01-01T00:00:00.125Z' },
    });
  });

  it('carries what OPA-Envoy policies read beyond the request: metadata, TLS, peer service', () => {
    const input = decode({
      attributes: {
        source: { service: 'frontend', labels: { app: 'web' } },
        request: {
          time: { seconds: 1_767_225_600, nanos: 0 },
          http: {
            method: 'POST',
            path: '/p',
            host: 'h',
            size: 11,
            raw_body: Buffer.from('{"a":1}'),
          },
        },
        metadata_context: {
          filter_metadata: {
            'envoy.filters.http.jwt_authn': {
              fields: {
                sub: { stringValue: 'alice' },
                n: { numberValue: 2 },
                ok: { boolValue: true },
                list: { listValue: { values: [{ stringValue: 'x' }, { nullValue: 0 }] } },
              },
            },
          },
        },
        route_metadata_context: {},
        tls_session: { sni: 'api.shop.example' },
      },
    });
    expect(input.source).toMatchObject({ service: 'frontend', labels: { app: 'web' } });
    expect(input.body).toBe('{"a":1}');
    expect(input.envoyAttributes).toEqual({
      metadataContext: {
        filterMetadata: {
          'envoy.filters.http.jwt_authn': { sub: 'alice', n: 2, ok: true, list: ['x', null] },
        },
      },
      // Present but empty: protojson writes {} for a set message.
      routeMetadataContext: {},
      tlsSni: 'api.shop.example',
      requestTime: '2026-01-01T00:00:00Z',
      size: 11,
      rawBody: true,
    });
  });

  it('uses header_map when headers is empty: raw values, repeated names joined', () => {
    const input = decode(ENVOY_RAW_HEADERS_POST);

    expect(input.headers).toEqual({
      ':authority': 'api.shop.example',
      ':method': 'POST',
      ':path': '/orders',
      'content-type': 'application/json',
      // RFC 9110 section 5.3: one field value, comma-joined, so both hops stay visible.
      'x-forwarded-for': '203.0.113.7,10.0.0.1',
      // RFC 9113 section 8.2.3: cookie crumbs join with "; ".
      cookie: 'a=1; b=2',
    });
    expect(input.method).toBe('POST');
    expect(input.protocol).toBe('HTTP/2');
  });

  it('takes the body from raw_body when body is empty (pack_as_bytes)', () => {
    expect(decode(ENVOY_RAW_HEADERS_POST).body).toBe('{"item":"book","qty":1}');
  });

  it('prefers body over raw_body', () => {
    const input = decode({
      attributes: { request: { http: { body: 'text', raw_body: bytes('bytes') } } },
    });
    expect(input.body).toBe('text');
  });

  it('lower-cases header names and joins names that collide once lower-cased', () => {
    const input = decode({
      attributes: {
        request: {
          http: { headers: { 'X-Tenant': 'acme', 'x-tenant': 'evil', Accept: '*/*' } },
        },
      },
    });
    expect(input.headers).toEqual({ 'x-tenant': 'acme,evil', accept: '*/*' });
  });

  it('lower-cases header_map names and prefers value over raw_value', () => {
    const input = decode({
      attributes: {
        request: {
          http: {
            header_map: {
              headers: [
                { key: 'Authorization', value: 'Bearer a', raw_value: bytes('ignored') },
                { key: '', raw_value: bytes('nameless, skipped') },
              ],
            },
          },
        },
      },
    });
    expect(input.headers).toEqual({ authorization: 'Bearer a' });
  });

  it('ignores header_map when the headers map is set', () => {
    const input = decode({
      attributes: {
        request: {
          http: {
            headers: { authorization: 'Bearer from-map' },
            header_map: { headers: [{ key: 'authorization', raw_value: bytes('Bearer other') }] },
          },
        },
      },
    });
    expect(input.headers).toEqual({ authorization: 'Bearer from-map' });
  });

  it('upper-cases the method, as CheckInput promises', () => {
    expect(decode({ attributes: { request: { http: { method: 'get' } } } }).method).toBe('GET');
  });

  it('passes on every other place the request names its host, for the route step to compare', () => {
    const input = decode({
      attributes: {
        request: {
          http: {
            host: 'api.example.com',
            headers: { ':authority': 'api.example.com', host: 'internal.example.com' },
          },
        },
      },
    });
    expect(input.host).toBe('api.example.com');
    expect(input.otherHostValues).toEqual(['api.example.com', 'internal.example.com']);
  });

  it('falls back to pseudo-headers when method, path and host are empty', () => {
    const input = decode({
      attributes: {
        request: {
          http: {
            headers: { ':method': 'DELETE', ':path': '/a?b=c', ':authority': 'h.example' },
          },
        },
      },
    });
    expect([input.method, input.path, input.host]).toEqual(['DELETE', '/a?b=c', 'h.example']);
  });

  it('maps a Unix socket peer to its path, and an internal listener to no address', () => {
    const input = decode({
      attributes: {
        source: { address: { pipe: { path: '/run/envoy.sock', mode: 0 } } },
        destination: { address: { envoy_internal_address: { server_listener_name: 'inner' } } },
      },
    });
    expect(input.source).toEqual({
      address: '/run/envoy.sock',
      port: undefined,
      principal: undefined,
      certificate: undefined,
    });
    expect(input.destination.address).toBeUndefined();
  });

  it('reports an empty principal or certificate as absent, not as ""', () => {
    const input = decode({
      attributes: {
        source: {
          address: { socket_address: { address: '10.0.0.1', port_value: 0 } },
          principal: '',
          certificate: '',
        },
      },
    });
    expect(input.source).toEqual({
      address: '10.0.0.1',
      port: undefined,
      principal: undefined,
      certificate: undefined,
    });
  });

  // Wire forms of "Envoy sent nothing usable": what protobufjs would encode for an empty or
  // partial message, and fields the decoder does not know.
  it.each([
    ['an empty message', Buffer.alloc(0)],
    ['empty attributes', method.requestSerialize({ attributes: {} })],
    ['an empty http request', method.requestSerialize({ attributes: { request: { http: {} } } })],
    [
      'only unknown fields (varint, fixed64, bytes, group, fixed32)',
      Buffer.from([
        0x10, 0x96, 0x01, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x22, 0x02, 0x61, 0x62, 0x2b, 0x08, 0x01,
        0x2c, 0x35, 1, 2, 3, 4,
      ]),
    ],
  ])('maps %s to empty values, never a throw', (_name, wire) => {
    expect(decodeCheckRequest(wire)).toEqual({
      transport: 'grpc',
      method: '',
      path: '',
      host: '',
      scheme: '',
      protocol: '',
      headers: {},
      requestId: '',
      body: '',
      source: { address: undefined, port: undefined, principal: undefined, certificate: undefined },
      destination: {
        address: undefined,
        port: undefined,
        principal: undefined,
        certificate: undefined,
      },
      contextExtensions: {},
      otherHostValues: [],
    });
  });

  it.each([
    ['a truncated message', method.requestSerialize(ENVOY_GET_REQUEST).subarray(0, 40)],
    ['a sub-message longer than its parent', Buffer.from([0x0a, 0x05, 0x0a, 0x10, 0x00])],
    ['an invalid wire type', Buffer.from([0x0f])],
    [
      // attributes { metadata_context { filter_metadata { key: "ns" } } }: protobufjs decodes
      // the missing Struct as null, and toObject then fails on it.
      'a metadata entry without a value',
      Buffer.from([0x0a, 0x08, 0x5a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0x6e, 0x73]),
    ],
  ])('refuses %s, as proto-loader did (the service answers GH_ERR_INTERNAL)', (_name, wire) => {
    expect(() => protoLoaderCheckInput(wire)).toThrow();
    expect(() => decodeCheckRequest(wire)).toThrow();
  });

  it('prototype pollution: a header named __proto__ stays a plain header', () => {
    const input = decode(
      fromHeaderMap([
        ['__proto__', 'polluted'],
        ['authorization', 'Bearer x'],
      ]),
    );
    expect(Object.getPrototypeOf(input.headers)).toBe(Object.prototype);
    expect(Object.hasOwn(input.headers, '__proto__')).toBe(true);
    expect(Object.keys(input.headers)).toEqual(['__proto__', 'authorization']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('header smuggling: a second Authorization header stays visible to the pipeline', () => {
    const input = decode(
      fromHeaderMap([
        ['authorization', 'Bearer first'],
        ['Authorization', 'Bearer second'],
      ]),
    );
    expect(input.headers.authorization).toBe('Bearer first,Bearer second');
  });
});
