import { describe } from 'vitest';
import { describeEnvoyMode } from './envoy-cases.js';

// deploy/envoy/envoy-http.yaml on a real Envoy: ext_authz http_service to Gatehouse's /envoy.
describe('Envoy ext_authz over HTTP (deploy/envoy/envoy-http.yaml)', () => {
  describeEnvoyMode({
    file: 'envoy-http.yaml',
    transport: 'http-envoy',
    gatehouseCluster: 'gatehouse_http',
    gatehousePort: (t) => t.gatehouse.httpPort ?? 0,
    // Only the headers in allowed_upstream_headers (x-user-*, x-tenant) reach the upstream.
    extraUpstreamHeaders: {},
  });
});
