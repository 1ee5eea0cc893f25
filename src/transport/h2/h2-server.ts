import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from '../../observability/logger.js';
import type { TlsFiles, TlsMaterial } from '../tls/tls-files.js';
import { H2Connection, type H2Limits } from './h2-connection.js';
import type { H2ServerStream } from './h2-stream.js';

export type { H2ServerStream } from './h2-stream.js';
export type { H2Limits } from './h2-connection.js';
export { H2Error } from './h2-frames.js';

export interface H2ServerOptions {
  /** A new request stream whose HEADERS were valid (RFC 9113 8.3.1). */
  readonly onStream: (stream: H2ServerStream) => void;
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise and enforce (REFUSED_STREAM past it);
   *  unset: none advertised. */
  readonly maxConcurrentStreams?: number | undefined;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce (RFC 9113 6.5.2); 64 KiB. */
  readonly maxHeaderListBytes?: number;
  /** TLS (mTLS with a CA), from files that reload; unset: plaintext (h2c prior knowledge). */
  readonly tls?: TlsFiles | undefined;
  readonly logger: Logger;
  /** Overrides of the per-connection bounds (tests; the defaults suit a sidecar). */
  readonly limits?: Partial<H2Limits> | undefined;
}

export interface H2Server {
  /** Binds; resolves with the port (0 picks a free one). */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting; GOAWAY(NO_ERROR, last stream id) on every connection; resolves when
   *  every open stream has ended, or after graceMs with the rest reset and sockets destroyed. */
  close(graceMs: number): Promise<void>;
}

export const DEFAULT_MAX_HEADER_LIST_BYTES = 64 * 1024;

export const DEFAULT_H2_LIMITS: H2Limits = {
  // Large enough that a gRPC request rarely waits for a WINDOW_UPDATE; the handler gets
  // every chunk as it arrives and bounds what it keeps.
  streamWindowBytes: 256 * 1024,
  connectionWindowBytes: 1024 * 1024,
  controlBacklogBytes: 256 * 1024,
  pauseBacklogBytes: 1024 * 1024,
  // Envoy cancels an ext_authz call only when its downstream goes away: hundreds a second
  // on one connection is an attack, not traffic.
  resetBurst: 500,
  resetsPerSecond: 100,
  maxOpenStreams: 10_000,
  prefaceTimeoutMs: 10_000,
  closeTimeoutMs: 5000,
};

export function createH2Server(options: H2ServerOptions): H2Server {
  return new GatehouseH2Server(options);
}

/** RFC 9113 3.3 (h2 over TLS, ALPN "h2") and 3.3 prior knowledge (h2c) on one listener. */
class GatehouseH2Server implements H2Server {
  private readonly server: Server;
  private readonly connections = new Set<H2Connection>();
  private readonly connectionOptions;

  constructor(options: H2ServerOptions) {
    this.connectionOptions = {
      onStream: options.onStream,
      maxConcurrentStreams: options.maxConcurrentStreams,
      maxHeaderListBytes: options.maxHeaderListBytes ?? DEFAULT_MAX_HEADER_LIST_BYTES,
      limits: { ...DEFAULT_H2_LIMITS, ...options.limits },
      logger: options.logger,
    };
    const tls = options.tls;
    if (tls === undefined) {
      this.server = createNetServer((socket) => {
        this.accept(socket);
      });
    } else {
      const material = tls.current();
      // With a client CA the handshake requires a certificate it issued (mTLS), decided at
      // start as the grpc-js listener does.
      const requireClient = material.ca !== undefined;
      const secure = createTlsServer({
        ...secureOptions(material),
        ALPNProtocols: ['h2'],
        requestCert: requireClient,
        rejectUnauthorized: requireClient,
      });
      secure.on('secureConnection', (socket: TLSSocket) => {
        // RFC 9113 3.2: h2 over TLS is chosen by ALPN; a client that did not offer it is not
        // speaking HTTP/2.
        if (socket.alpnProtocol !== 'h2') {
          socket.destroy();
          return;
        }
        this.accept(socket);
      });
      // A renewed certificate (or CA) is served on new connections; open ones keep theirs.
      tls.onChange((next) => {
        secure.setSecureContext(secureOptions(next));
      });
      this.server = secure;
    }
    // A failed handshake or a reset before it: nothing to serve.
    this.server.on('tlsClientError', (_error: Error, socket: Socket) => {
      socket.destroy();
    });
  }

  private accept(socket: Socket): void {
    const connection = new H2Connection(socket, this.connectionOptions);
    this.connections.add(connection);
    void connection.closed.then(() => {
      this.connections.delete(connection);
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  async close(graceMs: number): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    for (const connection of this.connections) connection.shutdown();
    const drained = Promise.all([...this.connections].map((c) => c.closed));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => {
        resolve('late');
      }, graceMs);
    });
    const outcome = await Promise.race([drained, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      for (const connection of this.connections) connection.destroy();
      await Promise.all([...this.connections].map((c) => c.closed));
    }
    await stopped;
  }
}

function secureOptions(material: TlsMaterial): {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
} {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca === undefined ? {} : { ca: material.ca }),
  };
}
