import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGatehouse, type RunningGatehouse } from '../../src/app.js';
import { parseConfig } from '../../src/config/load-config.js';
import type { GatehouseConfig } from '../../src/config/schema.js';
import { silentLogger, type Logger } from '../../src/observability/logger.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from './token-factory.js';

export const FIXTURE_POLICIES = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures',
  'policies',
);

/** Shared across suites: compiled WebAssembly is content-addressed, so sharing is safe. */
export const COMPILE_CACHE = path.join(tmpdir(), 'gatehouse-test-wasm-cache');

/**
 * `GATEHOUSE_TEST_GRPC_SERVER=gatehouse|grpc-js` runs every test Gatehouse on that gRPC server
 * (`grpc.server`), so that the suites of the gRPC door can be run against either; a suite that
 * sets `grpc.server` itself keeps its own. Unset: the schema's default.
 */
export function testGrpcServer(): { server?: string } {
  const server = process.env.GATEHOUSE_TEST_GRPC_SERVER;
  return server === undefined || server === '' ? {} : { server };
}

/** A suite's config with testGrpcServer() under the `grpc` section it replaces the default with. */
function withTestGrpcServer(config: Record<string, unknown> = {}): Record<string, unknown> {
  const grpc = config.grpc;
  if (typeof grpc !== 'object' || grpc === null) return config;
  return { ...config, grpc: { ...testGrpcServer(), ...grpc } };
}

export interface TestGatehouse {
  readonly gatehouse: RunningGatehouse;
  readonly issuer: TestIssuer;
  /** A private copy of the fixture policies that the test may edit. */
  readonly policyDir: string;
  readonly config: GatehouseConfig;
  readonly grpcAddress: string;
  readonly httpBase: string;
  /** The probe listener (/healthz, /readyz, /metrics, /status). */
  readonly probesBase: string;
  close(): Promise<void>;
}

export interface TestGatehouseOptions {
  /** Merged over the defaults below (top-level keys replace). */
  readonly config?: Record<string, unknown>;
  readonly logger?: Logger;
  readonly policySource?: string;
  /** The environment Gatehouse sees (secrets by name); default empty. */
  readonly env?: NodeJS.ProcessEnv;
  /** Merged over the test issuer's config entry (e.g. { algorithms: [...] }). */
  readonly issuer?: Record<string, unknown>;
}

/**
 * A real Gatehouse on port 0 (gRPC and HTTP on 127.0.0.1) with the real opa compile,
 * a copy of test/fixtures/policies and a fresh RSA issuer whose JWKS is on disk.
 */
export async function startTestGatehouse(
  options: TestGatehouseOptions = {},
): Promise<TestGatehouse> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-test-'));
  const policyDir = path.join(dir, 'policies');
  await cp(options.policySource ?? FIXTURE_POLICIES, policyDir, { recursive: true });
  const issuer = await createTestIssuer();
  const jwksFile = path.join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify(issuer.jwks));

  const config = parseConfig(
    {
      realm: 'test',
      log: { level: 'silent' },
      grpc: { host: '127.0.0.1', port: 0, ...testGrpcServer() },
      http: { host: '127.0.0.1', port: 0 },
      probes: { host: '127.0.0.1', port: 0 },
      // Suites run side by side on a shared machine: a stall caused by another suite must
      // not turn into an overload deny in a test about something else. The overload tests
      // set it themselves.
      limits: { maxEventLoopDelayMs: 0 },
      policies: { dir: policyDir, watch: false, compileCacheDir: COMPILE_CACHE },
      issuers: [
        {
          issuer: issuer.issuer,
          audiences: [TEST_AUDIENCE],
          algorithms: ['RS256'],
          jwksFile,
          ...options.issuer,
        },
      ],
      ...withTestGrpcServer(options.config),
    },
    dir,
    options.env ?? {},
  );
  const gatehouse = await startGatehouse(config, {
    logger: options.logger ?? silentLogger(),
    env: options.env ?? {},
  });
  return {
    gatehouse,
    issuer,
    policyDir,
    config,
    grpcAddress: `127.0.0.1:${gatehouse.grpcPort ?? 0}`,
    httpBase: `http://127.0.0.1:${gatehouse.httpPort ?? 0}`,
    probesBase: `http://127.0.0.1:${gatehouse.probesPort ?? 0}`,
    async close() {
      await gatehouse.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
