import { EventEmitter } from 'node:events';
import { Metadata, status as GrpcStatus, type MethodDefinition } from '@grpc/grpc-js';
import type { H2ServerStream } from '../h2/h2-server.js';
import { encodeHeaderBlock } from '../h2/hpack-encoder.js';
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
 * One gRPC call on one HTTP/2 stream of Gatehouse's own server (PROTOCOL-HTTP2.md in
 * grpc/grpc): reads the length-prefixed request messages, runs the grpc-js handler, writes
 * the response and the trailers. It is the call object the handler gets, with the members of
 * grpc-js's ServerUnaryCall / ServerWritableStream / ServerDuplexStream that handlers use
 * (`request`, `cancelled`, `metadata`, `write`, `end`, events 'data', 'end', 'cancelled').
 * Unary and server-streaming handlers run once the client half-closes, as in grpc-js; bidi
 * handlers run at once and get 'data' per message.
 */

/** A grpc-js method definition, whatever its message types. */
// The request and response types differ per method; the call only moves them between the
// method's own (de)serializers and its handler.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type AnyMethodDefinition = MethodDefinition<any, any>;

/**
 * A grpc-js handler (handleUnaryCall, handleServerStreamingCall, handleBidiStreamingCall),
 * typed against grpc-js's call classes: this server passes an H2GrpcCall, which has the
 * members those handlers use.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type AnyHandler = (call: any, callback?: any) => void;

export interface GrpcRoute {
  readonly method: AnyMethodDefinition;
  readonly handler: AnyHandler;
}

/** grpc-js's ServiceError shape, as unary handlers pass it to their callback. */
interface HandlerError {
  readonly code?: GrpcStatus;
  readonly details?: string;
  readonly message?: string;
}

// Encoded once at start-up: every answer of the unary path is these two blocks and a message.
const CONTENT_TYPE = ['content-type', 'application/grpc'] as const;
/** ":status 200" and the content type; grpc-accept-encoding says what messagePayload decodes. */
export const RESPONSE_HEADERS_BLOCK = encodeHeaderBlock([
  [':status', '200'],
  CONTENT_TYPE,
  ['grpc-accept-encoding', 'identity,deflate,gzip'],
]);
/** The trailers of a call that ended well: "Trailers → Status [Status-Message]". */
export const OK_TRAILERS_BLOCK = encodeHeaderBlock([['grpc-status', '0']]);
/** "Trailers-Only" (one HEADERS with END_STREAM) for a call that ends OK without a message. */
const OK_TRAILERS_ONLY_BLOCK = encodeHeaderBlock([
  [':status', '200'],
  CONTENT_TYPE,
  ['grpc-status', '0'],
]);

/** The trailers that end a call whose response headers were sent. */
function statusTrailers(status: CallStatus): Buffer {
  if (status.code === GrpcStatus.OK) return OK_TRAILERS_BLOCK;
  return encodeHeaderBlock([
    ['grpc-status', String(status.code)],
    ['grpc-message', percentEncodeGrpcMessage(status.details)],
  ]);
}

/** A "Trailers-Only" response: the status in the one HEADERS block, END_STREAM set. */
export function trailersOnlyBlock(status: CallStatus): Buffer {
  if (status.code === GrpcStatus.OK) return OK_TRAILERS_ONLY_BLOCK;
  return encodeHeaderBlock([
    [':status', '200'],
    CONTENT_TYPE,
    ['grpc-status', String(status.code)],
    ['grpc-message', percentEncodeGrpcMessage(status.details)],
  ]);
}

/** Request fields that are HTTP/2 or gRPC protocol, not call metadata (PROTOCOL-HTTP2.md). */
const NOT_METADATA: ReadonlySet<string> = new Set([
  'content-type',
  'te',
  'user-agent',
  'grpc-encoding',
  'grpc-accept-encoding',
  'grpc-timeout',
]);

export class H2GrpcCall extends EventEmitter {
  /** The request message of a unary or server-streaming call, once half-closed. */
  request: unknown = undefined;
  /** True once the peer reset the stream or the deadline passed: the answer is dropped. */
  cancelled = false;
  private readonly reader: MessageReader;
  private readonly encoding: string;
  private headersSent = false;
  private finished = false;
  private deadline: NodeJS.Timeout | undefined;
  private received = 0;

  constructor(
    private readonly stream: H2ServerStream,
    private readonly route: GrpcRoute,
    private readonly maxBytes: number,
  ) {
    super();
    this.reader = new MessageReader(maxBytes);
    this.encoding = stream.header('grpc-encoding') ?? 'identity';
  }

  /** Takes the stream's events; runs synchronously in the server's onStream, as H2ServerStream asks. */
  start(): void {
    const { stream } = this;
    stream.onData = (chunk) => {
      this.onData(chunk);
    };
    stream.onEnd = () => {
      this.onHalfClose();
    };
    stream.onAbort = () => {
      this.onAbort();
    };
    let timeoutMs: number | undefined;
    try {
      timeoutMs = parseGrpcTimeout(stream.header('grpc-timeout'));
    } catch (error) {
      this.fail(error);
      return;
    }
    if (timeoutMs !== undefined) {
      this.deadline = setTimeout(() => {
        // grpc-js cancels the call with this status: the handler sees 'cancelled'.
        this.cancelWith({ code: GrpcStatus.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
      }, timeoutMs);
    }
    // A bidi handler reads the messages as they come ('data', 'end').
    if (this.route.method.requestStream) this.runHandler();
  }

  // --- what handlers use (grpc-js's server call members) ---

  /** The request's custom metadata (built on first use: the Check handler does not read it). */
  get metadata(): Metadata {
    const metadata = new Metadata();
    const { fields } = this.stream;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i] ?? '';
      const value = fields[i + 1] ?? '';
      if (name.startsWith(':') || NOT_METADATA.has(name)) continue;
      // Binary headers are base64 on the wire (PROTOCOL-HTTP2.md, "Custom-Metadata").
      if (name.endsWith('-bin')) metadata.add(name, Buffer.from(value, 'base64'));
      else metadata.add(name, value);
    }
    return metadata;
  }

  /** The H2ServerStream does not expose the socket; grpc-js's fallback answer. */
  getPeer(): string {
    return 'unknown';
  }

  /** Sends one response message (the response headers first, once). */
  write(value: unknown): boolean {
    if (this.finished) return false;
    let framed: Buffer;
    try {
      framed = frameMessage(this.route.method.responseSerialize(value));
    } catch {
      this.sendStatus({ code: GrpcStatus.INTERNAL, details: 'Error serializing response' });
      return false;
    }
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.sendHeaders(RESPONSE_HEADERS_BLOCK, false);
    }
    this.stream.sendData(framed, false);
    return true;
  }

  /** Ends the call with OK. */
  end(): void {
    this.sendStatus({ code: GrpcStatus.OK, details: 'OK' });
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
    const { method } = this.route;
    for (const framed of messages) {
      // A 'data' listener (bidi) may have ended the call during the previous message.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- see above
      if (this.finished) return;
      let message: unknown;
      try {
        message = method.requestDeserialize(messagePayload(framed, this.encoding, this.maxBytes));
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
      if (method.requestStream) {
        this.emit('data', message);
      } else if (this.received > 1) {
        this.sendStatus({
          code: GrpcStatus.UNIMPLEMENTED,
          details: `Received a second request message for server streaming method ${method.path}`,
        });
        return;
      } else {
        this.request = message;
      }
    }
  }

  private onHalfClose(): void {
    if (this.finished) return;
    const { method } = this.route;
    if (method.requestStream) {
      this.emit('end');
      return;
    }
    if (this.received === 0) {
      // No whole message before END_STREAM (none at all, or a truncated one): grpc-js's
      // answer, whatever bytes of a partial message were held.
      this.sendStatus({
        code: GrpcStatus.UNIMPLEMENTED,
        details: `Received no request message for server streaming method ${method.path}`,
      });
      return;
    }
    this.runHandler();
  }

  /** The peer reset the stream or the connection went: grpc-js emits 'cancelled'. */
  private onAbort(): void {
    if (this.finished) return;
    this.finished = true;
    this.cancelled = true;
    clearTimeout(this.deadline);
    this.emit('cancelled');
  }

  private runHandler(): void {
    const { method, handler } = this.route;
    try {
      if (method.responseStream || method.requestStream) {
        handler(this);
      } else {
        handler(this, (error: HandlerError | null, value?: unknown) => {
          if (error !== null) {
            this.sendStatus({
              code: error.code ?? GrpcStatus.UNKNOWN,
              details: error.details ?? error.message ?? 'Unknown error',
            });
            return;
          }
          this.unaryReply(value);
        });
      }
    } catch {
      this.sendStatus({ code: GrpcStatus.UNKNOWN, details: 'Unknown error' });
    }
  }

  /** The hot path: headers, the one message and the OK trailers in one sendResponse. */
  private unaryReply(value: unknown): void {
    if (this.finished) return;
    let framed: Buffer;
    try {
      framed = frameMessage(this.route.method.responseSerialize(value));
    } catch {
      this.sendStatus({ code: GrpcStatus.INTERNAL, details: 'Error serializing response' });
      return;
    }
    this.finished = true;
    clearTimeout(this.deadline);
    if (this.stream.aborted) return;
    this.stream.sendResponse(RESPONSE_HEADERS_BLOCK, framed, OK_TRAILERS_BLOCK);
  }

  // --- status ---

  private fail(error: unknown): void {
    this.sendStatus(
      error instanceof CallStatusError
        ? error.callStatus
        : { code: GrpcStatus.INTERNAL, details: 'Internal server error' },
    );
  }

  private cancelWith(status: CallStatus): void {
    if (this.finished) return;
    this.sendStatus(status);
    this.cancelled = true;
    this.emit('cancelled');
  }

  private sendStatus(status: CallStatus): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.deadline);
    const { stream } = this;
    if (stream.aborted) return;
    stream.sendHeaders(this.headersSent ? statusTrailers(status) : trailersOnlyBlock(status), true);
  }
}
