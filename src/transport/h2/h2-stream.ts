import type { H2Connection } from './h2-connection.js';

/** One request stream as the handler sees it (the contract in docs/notes: h2-interface). */
export interface H2ServerStream {
  readonly id: number;
  /** The request's fields, flat [name, value, ...], names lowercase, pseudo-headers first. */
  readonly fields: readonly string[];
  /** The first value of a field (pseudo-headers too: ":path"), or undefined. */
  header(name: string): string | undefined;
  /** DATA payloads in order (padding removed); set in onStream, synchronously. */
  onData: ((chunk: Buffer) => void) | undefined;
  /** The peer half-closed the stream (END_STREAM). */
  onEnd: (() => void) | undefined;
  /** The stream is gone before our response finished (RST_STREAM, connection closed or
   *  failed); later sends are ignored. Called at most once. */
  onAbort: (() => void) | undefined;
  /** True once reset or the connection is gone. */
  readonly aborted: boolean;
  /** Response HEADERS (a block from encodeHeaderBlock); CONTINUATION added when needed. */
  sendHeaders(block: Buffer, endStream: boolean): void;
  /** DATA, split by the peer's SETTINGS_MAX_FRAME_SIZE, held until the windows allow. */
  sendData(data: Buffer, endStream: boolean): void;
  /** HEADERS + DATA + trailing HEADERS(END_STREAM), in one write when the windows allow. */
  sendResponse(headers: Buffer, data: Buffer, trailers: Buffer): void;
  /** RST_STREAM with this error code (RFC 9113 7). */
  reset(code: number): void;
}

/** Output waiting for flow-control window: DATA (with its END_STREAM) or HEADERS behind it. */
export interface QueuedOutput {
  readonly headers: boolean;
  data: Buffer;
  readonly endStream: boolean;
}

/**
 * A stream's state, owned by its connection: the handler's callbacks, the RFC 9113 5.1
 * half-closed flags, both flow-control windows (RFC 9113 6.9) and the output queued behind
 * the send window. Methods, not per-stream closures: the connection calls them per frame.
 */
export class ServerStream implements H2ServerStream {
  onData: ((chunk: Buffer) => void) | undefined = undefined;
  onEnd: (() => void) | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  aborted = false;
  /** END_STREAM received (half-closed remote). */
  remoteClosed = false;
  /** END_STREAM sent (half-closed local), or queued to be sent. */
  localClosed = false;
  /** Removed from the connection: both halves closed or reset. */
  closed = false;
  /** onStream has run (streams reset in the same read never reach the handler). */
  started = false;
  /** DATA and END_STREAM that arrived before onStream ran. */
  early: Buffer[] | undefined = undefined;
  earlyEnd = false;
  sendWindow: number;
  recvWindow: number;
  /** Received octets not yet given back with WINDOW_UPDATE. */
  recvUnacked = 0;
  /** The declared content-length (RFC 9113 8.1.1), or -1, and the DATA octets so far. */
  contentLength: number;
  received = 0;
  queue: QueuedOutput[] | undefined = undefined;

  constructor(
    readonly id: number,
    readonly fields: readonly string[],
    private readonly connection: H2Connection,
    sendWindow: number,
    recvWindow: number,
    contentLength: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
    this.contentLength = contentLength;
  }

  header(name: string): string | undefined {
    const fields = this.fields;
    for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
    return undefined;
  }

  sendHeaders(block: Buffer, endStream: boolean): void {
    this.connection.sendHeaders(this, block, endStream);
  }

  sendData(data: Buffer, endStream: boolean): void {
    this.connection.sendData(this, data, endStream);
  }

  sendResponse(headers: Buffer, data: Buffer, trailers: Buffer): void {
    this.connection.sendResponse(this, headers, data, trailers);
  }

  reset(code: number): void {
    this.connection.resetStream(this, code);
  }
}
