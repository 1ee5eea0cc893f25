import { describe } from 'vitest';
import { describeEnvoyMode } from './envoy-cases.js';

// deploy/envoy/envoy-grpc.yaml on a real Envoy: ext_authz over gRPC to Gatehouse's Check.
describe('Envoy ext_authz over gRPC (deploy/envoy/envoy-grpc.yaml)', () => {
  describeEnvoyMode({
    file: 'envoy-grpc.yaml',
    transport: 'grpc',
    gatehouseCluster: 'gatehouse',
    gatehousePort: (t) => t.gatehouse.grpcPort ?? 0,
    // Every ok_response header reaches the upstream in gRPC mode.
    extraUpstreamHeaders: { 'x-order-id': '42' },
  });
});
