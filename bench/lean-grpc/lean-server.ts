import { EventEmitter } from 'node:events';
import {
  constants as h2,
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { createSecureContext } from 'node:tls';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { TlsFiles } from '../../src/transport/tls/tls-files.js';
import {
  CallStatusError,
  MessageReader,
  frameMessage,
  messagePayload,
  parseGrpcTimeout,
  percentEncodeGrpcMessage,
  type CallStatus,
} from './grpc-wire.js';

/**
 * PROTOTYPE, measured and not adopted (bench/results/README.md, "2026-12-01: a lean gRPC
 * server on node:http2"): a gRPC server on node:http2 for the few methods Gatehouse serves,
 * without grpc-js's per-call machinery (interceptor chain, Metadata objects, call trackers).
 * It saved ~10% CPU per call on the bare transport, short of the 25% that would justify
 * replacing grpc-js, so Gatehouse keeps grpc-js and this stays a bench tool.
 *
 * It takes grpc-js service definitions and handlers (`addService`), so the same ext_authz
 * service (decoder and encoder wrapped to fail closed) runs on either server in
 * bench/grpc-transport.ts, and it aims to answer each protocol fault with the status a
 * grpc-js 1.14 server gives (not proven by a test: it never became the server).
 * Keepalive and PING are left to node:http2's defaults.
 */

/** What addService needs of a grpc-js MethodDefinition. */
export interface LeanMethodDefinition {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestDeserialize: (bytes: Buffer) => unknown;
  readonly responseSerialize: (value: never) => Buffer;
}

/** grpc-js's ServiceError shape, as handlers pass it to their callback. */
interface HandlerError {
  readonly code?: GrpcStatus;
  readonly details?: string;
  readonly message?: string;
}

type UnaryCallback = (error: HandlerError | null, value?: unknown) => void;
// The handlers are grpc-js's (handleUnaryCall and friends), typed against grpc-js's call
// classes; this server passes its own call objects with the members those handlers use.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type AnyHandler = (call: any, callback: any) => void;

interface Route {
  readonly method: LeanMethodDefinition;
  readonly handler: AnyHandler;
}

const RESPONSE_HEADERS = {
  [h2.HTTP2_HEADER_STATUS]: 200,
  [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc+proto',
  // What this server decodes (grpc-wire.ts messagePayload); responses are never compressed.
  'grpc-accept-encoding': 'identity,deflate,gzip',
  'grpc-encoding': 'identity',
} as const;

const OK_TRAILERS = { 'grpc-status': '0', 'grpc-message': 'OK' } as const;

export interface LeanServerOptions {
  /** Largest message read; a larger one ends the call with RESOURCE_EXHAUSTED. */
  readonly maxReceiveMessageBytes: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 section 6.5.2); unset: no limit. */
  readonly maxConcurrentStreams?: number | undefined;
  readonly tls?: TlsFiles | undefined;
}

export class LeanGrpcServer {
  private readonly routes = new Map<string, Route>();
  private readonly sessions = new Set<Http2Session>();
  private readonly server: Http2Server | Http2SecureServer;
  private readonly maxBytes: number;

  constructor(options: LeanServerOptions) {
    this.maxBytes = options.maxReceiveMessageBytes;
    const settings =
      options.maxConcurrentStreams === undefined
        ? {}
        : { maxConcurrentStreams: options.maxConcurrentStreams };
    const tls = options.tls;
    if (tls === undefined) {
      this.server = createServer({ settings });
    } else {
      const material = tls.current();
      const requireClient = material.ca !== undefined;
      const secure = createSecureServer({
        settings,
        cert: material.cert,
        key: material.key,
        ...(material.ca === undefined ? {} : { ca: material.ca }),
        // mTLS: the handshake fails without a certificate issued by the client CA.
        requestCert: requireClient,
        rejectUnauthorized: requireClient,
      });
      // A renewed certificate (or CA) is served on new connections; open ones keep theirs.
      tls.onChange((next) => {
        secure.setSecureContext({
          cert: next.cert,
          key: next.key,
          ...(next.ca === undefined ? {} : { ca: next.ca }),
        });
      });
      // Fail early, as TlsFiles does, if the pair is not usable.
      createSecureContext({ cert: material.cert, key: material.key });
      this.server = secure;
    }
    this.server.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      // A session error (a reset socket) closes the session; nothing more to do here.
      session.on('error', () => undefined);
    });
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      this.onStream(stream, headers);
    });
  }

  /** grpc-js's Server.addService shape, so @grpc/reflection's addToServer works too. */
  addService(
    service: Readonly<Record<string, LeanMethodDefinition>>,
    implementation: Readonly<Record<string, AnyHandler>>,
  ): void {
    for (const [name, method] of Object.entries(service)) {
      // grpc-js accepts a handler under the method's name or its originalName (camelCase).
      const { originalName } = method as { originalName?: string };
      const handler =
        implementation[name] ??
        (originalName === undefined ? undefined : implementation[originalName]);
      if (typeof handler !== 'function') continue;
      this.routes.set(method.path, { method, handler });
    }
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(error);
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /**
   * Stops accepting connections and sends GOAWAY on every session (RFC 9113 section 6.8):
   * in-flight calls finish, new ones go elsewhere. Calls back once every session is closed.
   */
  tryShutdown(callback: () => void): void {
    let pending = 1;
    const done = (): void => {
      if (--pending === 0) callback();
    };
    pending++;
    this.server.close(done);
    for (const session of this.sessions) {
      pending++;
      session.close(done);
    }
    done();
  }

  /** Cancels whatever is still open. */
  forceShutdown(): void {
    this.server.close();
    for (const session of this.sessions) session.destroy(undefined, h2.NGHTTP2_CANCEL);
    this.sessions.clear();
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    // A reset stream emits 'error'; 'close' follows, and the call object handles that.
    stream.on('error', () => undefined);
    const contentType = headers[h2.HTTP2_HEADER_CONTENT_TYPE];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      // Not a gRPC request at all: HTTP 415, as grpc-js answers (PROTOCOL-HTTP2.md).
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: 415 }, { endStream: true });
      return;
    }
    const rawPath = headers[h2.HTTP2_HEADER_PATH];
    const path = typeof rawPath === 'string' ? rawPath : '';
    const route = this.routes.get(path);
    if (route === undefined) {
      endTrailersOnly(stream, {
        code: GrpcStatus.UNIMPLEMENTED,
        details: `The server does not implement the method ${path}`,
      });
      return;
    }
    // `te: trailers` is not required: grpc-js does not require it either, and Envoy sends it.
    const call = new LeanCall(stream, route, headers, this.maxBytes);
    call.start();
  }
}

/**
 * One call: reads the request messages, runs the handler, writes the response and the
 * trailers. Unary and server-streaming handlers get the request once the client half-closes
 * (as grpc-js does); bidi handlers get 'data' per message.
 */
class LeanCall extends EventEmitter {
  request: unknown = undefined;
  cancelled = false;
  private readonly reader: MessageReader;
  private readonly encoding: string;
  private headersSent = false;
  private finished = false;
  private deadline: NodeJS.Timeout | undefined;
  private received = 0;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly route: Route,
    headers: IncomingHttpHeaders,
    private readonly maxBytes: number,
  ) {
    super();
    this.reader = new MessageReader(maxBytes);
    const encoding = headers['grpc-encoding'];
    this.encoding = typeof encoding === 'string' ? encoding : 'identity';
    try {
      const timeoutMs = parseGrpcTimeout(headers['grpc-timeout']);
      if (timeoutMs !== undefined) {
        this.deadline = setTimeout(() => {
          this.sendStatus({ code: GrpcStatus.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
        }, timeoutMs);
      }
    } catch (error) {
      this.fail(error);
    }
  }

  start(): void {
    if (this.finished) return;
    const { stream } = this;
    stream.on('close', () => {
      clearTimeout(this.deadline);
      if (!this.finished) {
        this.finished = true;
        this.cancelled = true;
        this.emit('cancelled');
      }
    });
    stream.on('data', (chunk: Buffer) => {
      this.onData(chunk);
    });
    stream.on('end', () => {
      this.onHalfClose();
    });
  }

  // --- what handlers call (grpc-js's ServerWritableStream / ServerDuplexStream members) ---

  /** Sends one response message (headers first, once). */
  write(value: unknown): boolean {
    if (this.finished) return false;
    let framed: Buffer;
    try {
      framed = frameMessage(this.route.method.responseSerialize(value as never));
    } catch {
      this.sendStatus({ code: GrpcStatus.INTERNAL, details: 'Error serializing response' });
      return false;
    }
    this.sendHeaders();
    return this.stream.write(framed);
  }

  /** Ends the call with OK. */
  end(): void {
    this.sendStatus({ code: GrpcStatus.OK, details: 'OK' });
  }

  getPeer(): string {
    const socket = this.stream.session?.socket;
    return socket?.remoteAddress === undefined
      ? 'unknown'
      : `${socket.remoteAddress}:${String(socket.remotePort)}`;
  }

  // --- request side ---

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    let messages: Buffer[];
    try {
      messages = this.reader.push(chunk);
    } catch (error) {
      this.fail(error);
      return;
    }
    for (const framed of messages) {
      // A 'data' listener (bidi) may have ended the call during the previous message.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- see above
      if (this.finished) return;
      let message: unknown;
      try {
        message = this.route.method.requestDeserialize(
          messagePayload(framed, this.encoding, this.maxBytes),
        );
      } catch (error) {
        // A deserializer that throws (the ext_authz one never does: it marks the request
        // for an explicit deny) is INTERNAL, grpc-js's answer.
        this.fail(
          error instanceof CallStatusError
            ? error
            : new CallStatusError(GrpcStatus.INTERNAL, 'Error deserializing request'),
        );
        return;
      }
      this.received++;
      if (this.route.method.requestStream) {
        this.emit('data', message);
      } else if (this.received > 1) {
        this.sendStatus({
          code: GrpcStatus.UNIMPLEMENTED,
          details: `Received a second request message for server streaming method ${this.route.method.path}`,
        });
        return;
      } else {
        this.request = message;
      }
    }
  }

  private onHalfClose(): void {
    if (this.finished) return;
    if (this.route.method.requestStream) {
      this.emit('end');
      return;
    }
    if (this.received === 0) {
      // No whole message before END_STREAM (none at all, or a truncated one): grpc-js's
      // answer, whatever bytes of a partial message were held.
      this.sendStatus({
        code: GrpcStatus.UNIMPLEMENTED,
        details: `Received no request message for server streaming method ${this.route.method.path}`,
      });
      return;
    }
    this.runHandler();
  }

  private runHandler(): void {
    try {
      if (this.route.method.responseStream) {
        this.route.handler(this, undefined);
      } else {
        const callback: UnaryCallback = (error, value) => {
          if (error !== null) {
            this.sendStatus({
              code: error.code ?? GrpcStatus.UNKNOWN,
              details: error.details ?? error.message ?? 'Unknown error',
            });
            return;
          }
          this.unaryReply(value);
        };
        this.route.handler(this, callback);
      }
    } catch {
      this.sendStatus({ code: GrpcStatus.UNKNOWN, details: 'Unknown error' });
    }
  }

  /** The hot path: headers, the one message and the OK trailers in as few writes as it takes. */
  private unaryReply(value: unknown): void {
    if (this.finished) return;
    let framed: Buffer;
    try {
      framed = frameMessage(this.route.method.responseSerialize(value as never));
    } catch {
      this.sendStatus({ code: GrpcStatus.INTERNAL, details: 'Error serializing response' });
      return;
    }
    this.finished = true;
    clearTimeout(this.deadline);
    const { stream } = this;
    if (stream.destroyed || stream.closed) return;
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', () => {
      stream.sendTrailers(OK_TRAILERS);
    });
    stream.end(framed);
  }

  // --- status ---

  private fail(error: unknown): void {
    this.sendStatus(
      error instanceof CallStatusError
        ? error
        : { code: GrpcStatus.INTERNAL, details: 'Internal server error' },
    );
  }

  private sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
  }

  private sendStatus(status: CallStatus): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.deadline);
    const { stream } = this;
    if (stream.destroyed || stream.closed) return;
    if (!this.headersSent) {
      endTrailersOnly(stream, status);
      return;
    }
    stream.once('wantTrailers', () => {
      stream.sendTrailers({
        'grpc-status': String(status.code),
        'grpc-message': percentEncodeGrpcMessage(status.details),
      });
    });
    stream.end();
  }
}

/** A "Trailers-Only" response: one HEADERS frame with the status, END_STREAM set. */
function endTrailersOnly(stream: ServerHttp2Stream, status: CallStatus): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond(
    {
      [h2.HTTP2_HEADER_STATUS]: 200,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc+proto',
      'grpc-status': String(status.code),
      'grpc-message': percentEncodeGrpcMessage(status.details),
    },
    { endStream: true },
  );
  // Discard whatever the client still sends.
  stream.resume();
}
