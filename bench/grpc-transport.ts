/**
 * The gRPC transport alone: Gatehouse's ext_authz service (decoder, mapper, encoder, the
 * fail-closed wrappers) on grpc-js with an authorizer that allows at once, so the CPU per
 * call is the transport's. Run on one core while ghz loads it from the other:
 *
 *   taskset -c 0 node --import tsx bench/grpc-transport.ts <port> [grpc-js server options JSON | lean]
 *
 * `lean` serves the same service on bench/lean-grpc/lean-server.ts instead of grpc-js.
 *
 * SIGUSR2 starts the measurement (after a warm-up); SIGTERM prints the CPU per call since
 * as JSON and exits. bench/transport-ab.sh drives it.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Decision } from '../src/decision/decision.js';
import { silentLogger } from '../src/observability/logger.js';
import { createExtAuthzService } from '../src/transport/grpc/ext-authz-service.js';
import { LeanGrpcServer } from './lean-grpc/lean-server.js';
import { loadProtos } from '../src/transport/grpc/load-protos.js';

const port = Number(process.argv[2] ?? 0);
const lean = process.argv[3] === 'lean';
const serverOptions = lean ? {} : (JSON.parse(process.argv[3] ?? '{}') as Record<string, number>);
const allowed: Decision = {
  allowed: true,
  code: 'GH_OK',
  api: undefined,
  upstreamHeaders: [],
  upstreamHeadersToRemove: [],
  responseHeaders: [],
  revision: 'transport',
};
let calls = 0;
const service = createExtAuthzService(loadProtos().authorization, {
  authorizer: {
    check: () => {
      calls++;
      return Promise.resolve(allowed);
    },
    isReady: () => true,
  },
  logger: silentLogger(),
  maxRequestBytes: 4 * 1024 * 1024,
});
if (lean) {
  const server = new LeanGrpcServer({ maxReceiveMessageBytes: 4 * 1024 * 1024 });
  server.addService(service.definition, service.implementation);
  void server.listen('127.0.0.1', port).then(() => process.stderr.write('ready\n'));
} else {
  const server = new Server(serverOptions);
  server.addService(service.definition, service.implementation);
  server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error) => {
    if (error !== null) throw error;
    process.stderr.write('ready\n');
  });
}
let before = process.cpuUsage();
let callsBefore = 0;
process.on('SIGUSR2', () => {
  before = process.cpuUsage();
  callsBefore = calls;
});
process.on('SIGTERM', () => {
  const cpu = process.cpuUsage(before);
  const n = calls - callsBefore;
  process.stdout.write(
    `${JSON.stringify({ calls: n, cpuUsPerCall: (cpu.user + cpu.system) / Math.max(1, n) })}\n`,
  );
  process.exit(0);
});
