import type { CheckRequestMessage } from '../../../src/transport/grpc/wire-types.js';

/**
 * A CheckRequest with the fields and values Envoy's HTTP ext_authz filter sends for a GET
 * through an Istio-style sidecar with mTLS between workloads: socket peers with SPIFFE
 * principals, the URL-encoded PEM of the client certificate, pseudo-headers in the header
 * map, the query inside `path`, `query` and `fragment` empty, and the per-route
 * context_extensions.
 * Shape: https://www.envoyproxy.io/docs/envoy/latest/api-v3/service/auth/v3/attribute_context.proto
 */
export const ENVOY_GET_REQUEST = {
  attributes: {
    source: {
      address: { socket_address: { address: '10.244.1.17', port_value: 51234 } },
      principal: 'spiffe://cluster.local/ns/shop/sa/frontend',
      certificate:
        '-----BEGIN%20CERTIFICATE-----%0AMIIBszCCAVmgAwIBAgIUZ2F0ZWhvdXNlLXRlc3QtY2VydDAKBggqhkjOPQQDAjAA%0A-----END%20CERTIFICATE-----%0A',
    },
    destination: {
      address: { socket_address: { address: '10.244.2.9', port_value: 8080 } },
      principal: 'spiffe://cluster.local/ns/shop/sa/orders',
    },
    request: {
      time: { seconds: 1767225600, nanos: 125000000 },
      http: {
        id: '5f1c2a7e-8d43-4f0e-9b0a-3c1d2e4f5a6b',
        method: 'GET',
        headers: {
          ':authority': 'api.shop.example',
          ':method': 'GET',
          ':path': '/orders/42?expand=items&page=2',
          ':scheme': 'https',
          accept: 'application/json',
          authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl',
          'user-agent': 'curl/8.5.0',
          'x-forwarded-proto': 'https',
          'x-request-id': '5f1c2a7e-8d43-4f0e-9b0a-3c1d2e4f5a6b',
        },
        path: '/orders/42?expand=items&page=2',
        host: 'api.shop.example',
        scheme: 'https',
        query: '',
        fragment: '',
        size: 0,
        protocol: 'HTTP/1.1',
        body: '',
      },
    },
    context_extensions: { virtual_host: 'shop-api', route: 'orders' },
  },
} as const satisfies CheckRequestMessage;

/** The request fields checkRequestToInput reads from ENVOY_GET_REQUEST. */
export const ENVOY_GET_REQUEST_FIELDS = {
  transport: 'grpc',
  method: 'GET',
  path: '/orders/42?expand=items&page=2',
  host: 'api.shop.example',
  scheme: 'https',
  protocol: 'HTTP/1.1',
  requestId: '5f1c2a7e-8d43-4f0e-9b0a-3c1d2e4f5a6b',
  contextExtensions: { virtual_host: 'shop-api', route: 'orders' },
} as const;

/**
 * The same kind of request with `encode_raw_headers: true`: `headers` empty and `header_map`
 * a list of key/raw_value pairs, repeated names left unmerged; and with
 * `with_request_body.pack_as_bytes: true`, the body in `raw_body`.
 */
export const ENVOY_RAW_HEADERS_POST = {
  attributes: {
    source: { address: { socket_address: { address: '10.244.1.17', port_value: 40000 } } },
    destination: { address: { socket_address: { address: '10.244.2.9', port_value: 8080 } } },
    request: {
      http: {
        id: 'raw-1',
        method: 'POST',
        headers: {},
        header_map: {
          headers: [
            { key: ':authority', raw_value: bytes('api.shop.example') },
            { key: ':method', raw_value: bytes('POST') },
            { key: ':path', raw_value: bytes('/orders') },
            { key: 'content-type', raw_value: bytes('application/json') },
            { key: 'x-forwarded-for', raw_value: bytes('203.0.113.7') },
            { key: 'x-forwarded-for', raw_value: bytes('10.0.0.1') },
            { key: 'cookie', raw_value: bytes('a=1') },
            { key: 'cookie', raw_value: bytes('b=2') },
          ],
        },
        path: '/orders',
        host: 'api.shop.example',
        scheme: 'https',
        protocol: 'HTTP/2',
        body: '',
        raw_body: bytes('{"item":"book","qty":1}'),
      },
    },
  },
} as const satisfies CheckRequestMessage;

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
