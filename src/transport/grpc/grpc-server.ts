import { Server } from '@grpc/grpc-js';
import type { Authorizer } from '../../check/authorizer.js';
import type { Logger } from '../../observability/logger.js';
import { LOG } from '../../observability/log-messages.js';
import { createExtAuthzService } from './ext-authz-service.js';
import { createHealthService } from './health-service.js';
import { grpcServerCredentials } from '../tls/grpc-credentials.js';
import type { TlsFiles } from '../tls/tls-files.js';
import { loadPackageDefinition, loadProtos } from './load-protos.js';
import { withResolvableDescriptors } from './reflection-descriptors.js';
import { CONFIG_DEFAULTS, type GatehouseConfig } from '../../config/schema.js';
import { createH2Server } from '../h2/h2-server.js';
import { H2GrpcServer } from './h2-grpc-server.js';

/** The schema's grpc.maxReceiveMessageBytes: grpc-js's own default receive limit (4 MiB). */
export const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = CONFIG_DEFAULTS.grpc.maxReceiveMessageBytes;

/**
 * How far past maxReceiveMessageBytes the gRPC server (either) still reads a message, so that
 * the Check handler can deny it explicitly. Only beyond this does it answer
 * RESOURCE_EXHAUSTED, a gRPC error; the bound keeps one message from holding unbounded memory.
 */
const TRANSPORT_LIMIT_FACTOR = 4;

/** How long close() lets in-flight calls finish before cancelling them, in milliseconds. */
export const SHUTDOWN_GRACE_MS = 2000;

export interface GrpcServerOptions {
  /** Address to listen on, e.g. "127.0.0.1", "0.0.0.0" or "::". */
  readonly host: string;
  /** Port to listen on; 0 picks a free one (the handle reports which). */
  readonly port: number;
  readonly authorizer: Authorizer;
  readonly logger: Logger;
  /**
   * Largest CheckRequest accepted, in bytes; default 4 MiB. A larger one is denied
   * explicitly (GH_ERR_INTERNAL). Keep it above Envoy's `with_request_body.max_request_bytes`
   * plus the headers.
   */
  readonly maxReceiveMessageBytes?: number;
  /**
   * HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 section 6.5.2) per connection; unset:
   * grpc-js's default (no limit). Calls past it wait in the client (Envoy), whose timeout
   * then applies, instead of queueing here.
   */
  readonly maxConcurrentStreams?: number | undefined;
  /** TLS (and with a client CA, mTLS) from files that reload; unset: plaintext. */
  readonly tls?: TlsFiles | undefined;
  /** Serve grpc.reflection.v1/v1alpha for the protos in proto/, so grpcurl needs no -proto. */
  readonly reflection?: boolean | undefined;
  /** `grpc.server`: Gatehouse's own HTTP/2 server or grpc-js's; default the schema's. */
  readonly server?: GatehouseConfig['grpc']['server'] | undefined;
}

export interface GrpcServerHandle {
  /** The bound port: the one asked for, or the one picked for port 0. */
  readonly port: number;
  /**
   * Health says NOT_SERVING from now on: open Watch streams are told at once (the authorizer
   * passed in decides readiness; this only stops waiting for the next poll).
   */
  announceHealth(): void;
  /**
   * Stops accepting calls, lets in-flight ones finish (up to graceMs, default
   * SHUTDOWN_GRACE_MS), then closes.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Serves envoy.service.auth.v3.Authorization (ext_authz) and grpc.health.v1.Health (and
 * reflection when asked) over HTTP/2: plaintext by default, for a sidecar next to Envoy on a
 * loopback or pod-local address; TLS or mTLS with `grpc.tls`.
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServerHandle> {
  const { host, authorizer, logger } = options;
  const maxRequestBytes = options.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE_MESSAGE_BYTES;
  if (!Number.isSafeInteger(maxRequestBytes) || maxRequestBytes <= 0) {
    throw new RangeError(
      `maxReceiveMessageBytes must be a positive integer, got ${String(maxRequestBytes)}`,
    );
  }

  const protos = loadProtos();
  const extAuthz = createExtAuthzService(protos.authorization, {
    authorizer,
    logger,
    maxRequestBytes,
  });
  const health = createHealthService(protos.health, { authorizer });

  // @grpc/reflection is loaded only when reflection is on (it is off by default).
  const reflection =
    options.reflection === true
      ? new (await import('@grpc/reflection')).ReflectionService(
          withResolvableDescriptors(loadPackageDefinition()),
        )
      : undefined;
  const transportLimit = Math.min(maxRequestBytes * TRANSPORT_LIMIT_FACTOR, 2 ** 31 - 1);
  const serve =
    (options.server ?? CONFIG_DEFAULTS.grpc.server) === 'gatehouse' ? serveH2 : serveGrpcJs;
  const served = await serve({ ...options, transportLimit }, (server) => {
    server.addService(extAuthz.definition, extAuthz.implementation);
    server.addService(health.definition, health.implementation);
    reflection?.addToServer(server);
  });
  logger.info({ host, port: served.port, tls: options.tls !== undefined }, LOG.grpcListening);

  let closing: Promise<void> | undefined;
  return {
    port: served.port,
    announceHealth: () => {
      health.pollWatches();
    },
    close: (graceMs = SHUTDOWN_GRACE_MS) => {
      closing ??= new Promise((resolve) => {
        const force = setTimeout(() => {
          logger.warn({ graceMs }, LOG.grpcShutdownForced);
        }, graceMs);
        // Set before the server's own grace timer, so that at the same instant this one runs
        // first and a forced shutdown is logged.
        void served.close(graceMs).then(() => {
          clearTimeout(force);
          resolve();
        });
        // Health watches never end on their own; end them so the graceful path can complete.
        health.endWatches();
      });
      return closing;
    },
  };
}

type ServiceRegistry = Pick<Server, 'addService'>;

interface ServeOptions extends GrpcServerOptions {
  /** The largest message either server reads (TRANSPORT_LIMIT_FACTOR x maxReceiveMessageBytes). */
  readonly transportLimit: number;
}

interface ServedGrpc {
  readonly port: number;
  /** Stops accepting, lets open calls end for graceMs, then cancels the rest. */
  close(graceMs: number): Promise<void>;
}

/** Gatehouse's own HTTP/2 server (src/transport/h2/) with the gRPC layer on its streams. */
async function serveH2(
  options: ServeOptions,
  addServices: (server: ServiceRegistry) => void,
): Promise<ServedGrpc> {
  const grpc = new H2GrpcServer(options.transportLimit);
  addServices(grpc);
  const h2 = createH2Server({
    onStream: grpc.onStream,
    maxConcurrentStreams: options.maxConcurrentStreams,
    tls: options.tls,
    logger: options.logger,
  });
  const port = await h2.listen(options.host, options.port);
  return { port, close: (graceMs) => h2.close(graceMs) };
}

async function serveGrpcJs(
  options: ServeOptions,
  addServices: (server: ServiceRegistry) => void,
): Promise<ServedGrpc> {
  const server = new Server({
    // Channelz (gRFC A14) counts every call, stream and message per server, socket and
    // session; Gatehouse serves no channelz service, so nobody could read the counts. The CPU
    // profile under load shows the per-stream handler that keeps them (_channelzHandler).
    'grpc.enable_channelz': 0,
    'grpc.max_receive_message_length': options.transportLimit,
    ...(options.maxConcurrentStreams === undefined
      ? {}
      : { 'grpc.max_concurrent_streams': options.maxConcurrentStreams }),
  });
  addServices(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${formatHost(options.host)}:${options.port}`,
      grpcServerCredentials(options.tls),
      (error, boundPort) => {
        if (error === null) resolve(boundPort);
        else reject(error);
      },
    );
  });
  return {
    port,
    close: (graceMs) =>
      new Promise((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/** IPv6 literals need brackets in a gRPC target ("[::1]:9191"). */
function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
