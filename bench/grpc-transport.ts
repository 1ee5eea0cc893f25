/**
 * The gRPC transport alone: Gatehouse's ext_authz service (decoder, mapper, encoder, the
 * fail-closed wrappers) on grpc-js with an authorizer that allows at once, so the CPU per
 * call is the transport's. Run on one core while ghz loads it from the other:
 *
 *   taskset -c 0 node --import tsx bench/grpc-transport.ts <port> [gatehouse | grpc-js | grpc-js server options JSON | old-codec]
 *
 * `gatehouse` and `grpc-js` serve it through startGrpcServer exactly as Gatehouse does with
 * `grpc.server` set to that (src/transport/grpc/grpc-server.ts); a JSON object serves it on a
 * grpc-js Server built with those options.
 * `old-codec` serves it on grpc-js (channelz off, as Gatehouse runs it) with the CheckRequest
 * decoder Gatehouse used before decodeCheckRequest (proto-loader + the old mapper, kept in
 * test/ as the oracle), to measure the direct decoder against it.
 *
 * With BENCH_PIPELINE=1 the authorizer is the real pipeline instead (Gatehouse's example
 * catalog and policies in policies/, the dev issuer's RS256 key in .gatehouse/dev, the verified
 * token cache on): the CPU per call is then the whole gRPC check, transport and pipeline.
 * bench/pipeline-check-data.ts writes a CheckRequest it allows.
 *
 * SIGUSR2 starts the measurement (after a warm-up); SIGTERM prints the CPU per call since
 * as JSON and exits. bench/transport-ab.sh drives it.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { startGatehouse } from '../src/app.js';
import type { Authorizer } from '../src/check/authorizer.js';
import type { CheckPipeline } from '../src/check/pipeline.js';
import { parseConfig } from '../src/config/load-config.js';
import { DEV_AUDIENCE, DEV_ISSUER } from '../src/dev/dev-keys.js';
import type { Decision } from '../src/decision/decision.js';
import { silentLogger } from '../src/observability/logger.js';
import { createExtAuthzService } from '../src/transport/grpc/ext-authz-service.js';
import { startGrpcServer } from '../src/transport/grpc/grpc-server.js';
import { loadProtos } from '../src/transport/grpc/load-protos.js';
import type { DecodedCheckRequest } from '../src/transport/grpc/ext-authz-service.js';
import { protoLoaderCheckInput } from '../test/transport/grpc/proto-loader-check-input.js';

const port = Number(process.argv[2] ?? 0);
const mode = process.argv[3];
const served = mode === 'gatehouse' || mode === 'grpc-js' ? mode : undefined;
const oldCodec = mode === 'old-codec';
const serverOptions: Record<string, number> =
  served !== undefined
    ? {}
    : oldCodec
      ? { 'grpc.enable_channelz': 0 }
      : (JSON.parse(process.argv[3] ?? '{}') as Record<string, number>);
const maxRequestBytes = 4 * 1024 * 1024;
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
const pipeline = process.env.BENCH_PIPELINE === '1' ? await startPipeline() : undefined;
const authorizer: Authorizer = {
  check: (input) => {
    calls++;
    return pipeline === undefined ? Promise.resolve(allowed) : pipeline.check(input);
  },
  isReady: () => true,
};
const service = createExtAuthzService(loadProtos().authorization, {
  authorizer,
  logger: silentLogger(),
  maxRequestBytes,
});
const definition = oldCodec
  ? {
      Check: {
        ...service.definition.Check,
        // The wrapper ext-authz-service.ts puts around its decoder, around the old decoder.
        requestDeserialize: (bytes: Buffer): DecodedCheckRequest => {
          try {
            if (bytes.length > maxRequestBytes) throw new Error('too large');
            return { input: protoLoaderCheckInput(bytes) };
          } catch (error) {
            return { error: error instanceof Error ? error : new Error(String(error)) };
          }
        },
      },
    }
  : service.definition;
// "ready <port>" on stderr: with port 0 the harness reads the port picked (runs of other
// engineers' benches on the same machine must not meet on a fixed port).
if (served !== undefined) {
  const handle = await startGrpcServer({
    host: '127.0.0.1',
    port,
    authorizer,
    logger: silentLogger(),
    maxReceiveMessageBytes: maxRequestBytes,
    server: served,
  });
  process.stderr.write(`ready ${handle.port}\n`);
} else {
  const server = new Server(serverOptions);
  server.addService(definition, service.implementation);
  server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, bound) => {
    if (error !== null) throw error;
    process.stderr.write(`ready ${bound}\n`);
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

/** The real pipeline, configured as bench/pipeline-latency.ts configures it (cache on). */
async function startPipeline(): Promise<CheckPipeline> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const config = parseConfig(
    {
      log: { level: 'silent' },
      grpc: { enabled: false },
      http: { enabled: false },
      probes: { enabled: false },
      policies: { dir: 'policies', watch: false, compileCacheDir: '.gatehouse/wasm-cache' },
      issuers: [
        {
          issuer: DEV_ISSUER,
          audiences: [DEV_AUDIENCE],
          algorithms: ['RS256'],
          jwksFile: '.gatehouse/dev/jwks.json',
        },
      ],
    },
    root,
    {},
  );
  const gatehouse = await startGatehouse(config, { logger: silentLogger() });
  return gatehouse.pipeline;
}
