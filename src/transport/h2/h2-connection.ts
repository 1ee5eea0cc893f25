import type { Socket } from 'node:net';
import type { Logger } from '../../observability/logger.js';
import { HpackDecoder, HpackError, type DecodedHeaderBlock } from './hpack-decoder.js';
import { encodeHeaderBlock, encodeTableSizeUpdate } from './hpack-encoder.js';
import {
  CLIENT_PREFACE,
  DEFAULT_HEADER_TABLE_SIZE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  FRAME_HEADER_BYTES,
  Flag,
  FrameType,
  H2Error,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  SETTINGS_ACK,
  Setting,
  goawayFrame,
  pingAckFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './h2-frames.js';
import { checkRequestFields, checkTrailerFields } from './request-fields.js';
import { ServerStream, type H2ServerStream } from './h2-stream.js';

/** What a connection needs from its server. */
export interface H2ConnectionOptions {
  readonly onStream: (stream: H2ServerStream) => void;
  /** SETTINGS_MAX_CONCURRENT_STREAMS, or undefined for none advertised. */
  readonly maxConcurrentStreams: number | undefined;
  readonly maxHeaderListBytes: number;
  readonly limits: H2Limits;
  readonly logger: Logger;
}

/** The bounds that keep one peer from costing unbounded memory or CPU. */
export interface H2Limits {
  /** Our per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE). */
  readonly streamWindowBytes: number;
  /** Our connection receive window, raised from 65,535 by a WINDOW_UPDATE at start. */
  readonly connectionWindowBytes: number;
  /** Socket output not yet sent past which a PING or SETTINGS to answer is a flood. */
  readonly controlBacklogBytes: number;
  /** Socket output not yet sent past which we stop reading until it drains. */
  readonly pauseBacklogBytes: number;
  /** Peer resets of unfinished streams: a burst, then so many per second (CVE-2023-44487). */
  readonly resetBurst: number;
  readonly resetsPerSecond: number;
  /** Open streams past which a new one is REFUSED_STREAM when no
   *  SETTINGS_MAX_CONCURRENT_STREAMS is advertised (each open stream holds memory). */
  readonly maxOpenStreams: number;
  /** How long a new connection may take to send the preface and its SETTINGS (RFC 9113
   *  3.4) before the socket is dropped: a port scanner or a stalled client holds nothing. */
  readonly prefaceTimeoutMs: number;
  /** After a GOAWAY for an error, how long the peer has to read it before the socket goes. */
  readonly closeTimeoutMs: number;
}

/** Ids of streams we reset or refused, kept so frames the peer sent before it saw that are
 *  ignored (RFC 9113 5.1, "closed"), not taken for protocol errors. */
const RECENTLY_RESET_KEPT = 256;

/**
 * RFC 9113 10.5.1 / RFC 6585 5: a request whose decoded header list is over our
 * SETTINGS_MAX_HEADER_LIST_SIZE is answered 431.
 */
const STATUS_431_BLOCK = encodeHeaderBlock([[':status', '431']]);

const H2_LOG = {
  connectionError: 'http/2 connection error: GOAWAY sent',
  handlerFailed: 'http/2 stream handler threw; stream reset',
} as const;

/** Whether a handler callback reset the stream (read through a call: it changes under us). */
function gone(stream: ServerStream): boolean {
  return stream.aborted;
}

function flushConnection(connection: H2Connection): void {
  connection.flush();
}

/**
 * One server-side HTTP/2 connection (RFC 9113) on a plain or TLS socket: reads frames
 * straight from the socket's Buffers, keeps the stream state machine (5.1), both directions
 * of flow control (5.2, 6.9), SETTINGS/PING/GOAWAY/RST_STREAM/PRIORITY/CONTINUATION, and
 * writes each event-loop turn's frames in one socket write.
 */
export class H2Connection {
  private readonly streams = new Map<number, ServerStream>();
  private readonly decoder: HpackDecoder;
  private readonly maxHeaderBlockBytes: number;
  /** Bytes of the preface still to come; then frames. */
  private prefaceLeft = CLIENT_PREFACE.length;
  private gotSettings = false;
  /** The peer acknowledged our SETTINGS. */
  private settingsAcked = false;
  /** A partial frame (or preface) kept between 'data' events, and how many bytes it needs. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private needBytes = 0;
  /** The header block being collected across CONTINUATION frames. */
  private blockStreamId = 0;
  private blockEndStream = false;
  private blockSelfDependent = false;
  private blockFragments: Buffer[] = [];
  private blockBytes = 0;
  /** Highest stream id the peer opened (RFC 9113 5.1.1: lower idle ids are closed). */
  private lastPeerStreamId = 0;
  private openStreams = 0;
  private readonly recentlyReset = new Set<number>();
  /** New streams whose handler runs once the current read is parsed. */
  private pendingStarts: ServerStream[] = [];
  // Peer settings (RFC 9113 6.5.2 defaults until its SETTINGS arrives).
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** RFC 7541 4.2: the table size our encoder last signalled, and a smaller one due. */
  private encoderTableSize = DEFAULT_HEADER_TABLE_SIZE;
  private tableSizeUpdateDue = -1;
  // Flow control: what we may send, what the peer may still send us.
  private connSendWindow = DEFAULT_WINDOW;
  private connRecvWindow: number;
  private connRecvUnacked = 0;
  /** Streams with output waiting for window, in the order they blocked. */
  private readonly blocked = new Set<ServerStream>();
  // Output of this turn, written in one socket write on process.nextTick.
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private paused = false;
  // Rapid-reset budget (a token bucket).
  private resetTokens: number;
  private resetRefilledAt = 0;
  /** GOAWAY sent: graceful (new streams above goawayLastId ignored) or for an error. */
  private goawaySent = false;
  private goawayLastId = 0;
  private peerGoaway = false;
  /** Stopped: a connection error or the socket closed; nothing more is read. */
  private dead = false;
  private closeTimer: NodeJS.Timeout | undefined;
  private prefaceTimer: NodeJS.Timeout | undefined;
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly options: H2ConnectionOptions,
  ) {
    const limits = options.limits;
    this.decoder = new HpackDecoder({
      maxTableBytes: DEFAULT_HEADER_TABLE_SIZE,
      maxHeaderListBytes: options.maxHeaderListBytes,
    });
    // The compressed block is bounded too, frame headers counted, so a flood of CONTINUATION
    // frames (empty ones included) ends the connection before it costs more (CVE-2024-27316).
    this.maxHeaderBlockBytes = options.maxHeaderListBytes + DEFAULT_MAX_FRAME_SIZE;
    this.connRecvWindow = limits.connectionWindowBytes;
    this.resetTokens = limits.resetBurst;
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.onSocketClose();
        resolve();
      });
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.onSocketData(chunk);
    });
    socket.on('drain', () => {
      if (this.paused && !this.dead) {
        this.paused = false;
        socket.resume();
      }
    });
    // A reset socket: 'close' follows and aborts the streams.
    socket.on('error', () => undefined);
    this.sendPreface();
    this.prefaceTimer = setTimeout(() => {
      socket.destroy();
    }, limits.prefaceTimeoutMs);
    this.prefaceTimer.unref();
  }

  /** RFC 9113 3.4: the server preface is a SETTINGS frame, sent at once. */
  private sendPreface(): void {
    const limits = this.options.limits;
    const settings: [number, number][] = [
      [Setting.INITIAL_WINDOW_SIZE, limits.streamWindowBytes],
      [Setting.MAX_HEADER_LIST_SIZE, this.options.maxHeaderListBytes],
    ];
    if (this.options.maxConcurrentStreams !== undefined)
      settings.push([Setting.MAX_CONCURRENT_STREAMS, this.options.maxConcurrentStreams]);
    this.push(settingsFrame(settings));
    // The connection window starts at 65,535 whatever SETTINGS say (RFC 9113 6.9.2).
    if (limits.connectionWindowBytes > DEFAULT_WINDOW)
      this.push(windowUpdateFrame(0, limits.connectionWindowBytes - DEFAULT_WINDOW));
  }

  // ---- reading ----------------------------------------------------------------------------

  private onSocketData(chunk: Buffer): void {
    if (this.dead) return;
    let buf = chunk;
    if (this.partialBytes > 0) {
      // Collect until the partial frame is whole: no copying per small read (a peer
      // trickling one frame byte by byte costs linear time, not quadratic).
      this.partial.push(chunk);
      this.partialBytes += chunk.length;
      if (this.partialBytes < this.needBytes) return;
      buf = Buffer.concat(this.partial, this.partialBytes);
      this.partial = [];
      this.partialBytes = 0;
    }
    let offset = 0;
    if (this.prefaceLeft > 0) {
      offset = this.readPreface(buf);
      if (offset < 0 || this.prefaceLeft > 0) return;
    }
    const end = buf.length;
    while (end - offset >= FRAME_HEADER_BYTES) {
      const length =
        ((buf[offset] as number) << 16) |
        ((buf[offset + 1] as number) << 8) |
        (buf[offset + 2] as number);
      // RFC 9113 4.2: larger than our SETTINGS_MAX_FRAME_SIZE (we keep the 16,384 default).
      if (length > DEFAULT_MAX_FRAME_SIZE) {
        this.connectionError(H2Error.FRAME_SIZE_ERROR, 'frame larger than SETTINGS_MAX_FRAME_SIZE');
        return;
      }
      const frameEnd = offset + FRAME_HEADER_BYTES + length;
      if (frameEnd > end) break;
      const type = buf[offset + 3] as number;
      const flags = buf[offset + 4] as number;
      const streamId = buf.readUInt32BE(offset + 5) & 0x7fffffff;
      const payload = buf.subarray(offset + FRAME_HEADER_BYTES, frameEnd);
      offset = frameEnd;
      this.onFrame(type, flags, streamId, payload);
      if (this.stopped()) return;
    }
    if (offset < end) {
      const rest = buf.subarray(offset);
      this.partial.push(rest);
      this.partialBytes = rest.length;
      this.needBytes =
        rest.length < FRAME_HEADER_BYTES
          ? FRAME_HEADER_BYTES
          : FRAME_HEADER_BYTES +
            (((rest[0] as number) << 16) | ((rest[1] as number) << 8) | (rest[2] as number));
    }
    this.startPending();
  }

  /** RFC 9113 3.4: compares the preface as it arrives; a wrong octet is PROTOCOL_ERROR
   *  (and -1). Answers the octets read. */
  private readPreface(buf: Buffer): number {
    const from = CLIENT_PREFACE.length - this.prefaceLeft;
    const n = Math.min(this.prefaceLeft, buf.length);
    for (let i = 0; i < n; i++) {
      if (buf[i] !== CLIENT_PREFACE[from + i]) {
        this.connectionError(H2Error.PROTOCOL_ERROR, 'invalid connection preface');
        return -1;
      }
    }
    // A preface split across reads keeps nothing: the octets matched are counted.
    this.prefaceLeft -= n;
    return n;
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    // RFC 9113 6.10: a header block is contiguous: only CONTINUATION of its stream may follow.
    if (this.blockStreamId !== 0) {
      if (type !== FrameType.CONTINUATION || id !== this.blockStreamId) {
        this.connectionError(H2Error.PROTOCOL_ERROR, 'header block interrupted');
        return;
      }
      this.onContinuation(flags, payload);
      return;
    }
    // RFC 9113 3.4: the preface's SETTINGS frame comes first.
    if (!this.gotSettings && (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0)) {
      this.connectionError(H2Error.PROTOCOL_ERROR, 'first frame is not SETTINGS');
      return;
    }
    switch (type) {
      case FrameType.DATA:
        this.onDataFrame(flags, id, payload);
        return;
      case FrameType.HEADERS:
        this.onHeadersFrame(flags, id, payload);
        return;
      case FrameType.PRIORITY:
        this.onPriority(id, payload);
        return;
      case FrameType.RST_STREAM:
        this.onRstStream(id, payload);
        return;
      case FrameType.SETTINGS:
        this.onSettings(flags, id, payload);
        return;
      case FrameType.PUSH_PROMISE:
        // RFC 9113 8.4: a client cannot push.
        this.connectionError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
        return;
      case FrameType.PING:
        this.onPing(flags, id, payload);
        return;
      case FrameType.GOAWAY:
        this.onGoaway(id, payload);
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(id, payload);
        return;
      case FrameType.CONTINUATION:
        this.connectionError(H2Error.PROTOCOL_ERROR, 'CONTINUATION without a header block');
        return;
      default:
        // RFC 9113 5.5: unknown frame types are ignored.
        return;
    }
  }

  /** After a connection error nothing more is read (a method: a frame handler sets it). */
  private stopped(): boolean {
    return this.dead;
  }

  /** RFC 9113 5.1: ids we never use (even) or the peer has not opened yet are idle. */
  private isIdle(id: number): boolean {
    return (id & 1) === 0 || id > this.lastPeerStreamId;
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) {
      this.connectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
      return;
    }
    const length = payload.length;
    // RFC 9113 6.9.1: the whole frame, padding included, counts against both windows.
    if (length > this.connRecvWindow) {
      this.connectionError(H2Error.FLOW_CONTROL_ERROR, 'DATA past the connection window');
      return;
    }
    this.connRecvWindow -= length;
    this.connRecvUnacked += length;
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (this.isIdle(id)) {
        this.connectionError(H2Error.PROTOCOL_ERROR, 'DATA on an idle stream');
        return;
      }
      this.replenishConnection();
      // Sent before the peer saw our RST_STREAM or GOAWAY: ignored (RFC 9113 5.1, 6.8).
      if (this.recentlyReset.has(id) || (this.goawaySent && id > this.goawayLastId)) return;
      this.streamError(id, H2Error.STREAM_CLOSED);
      return;
    }
    if (length > stream.recvWindow) {
      this.connectionError(H2Error.FLOW_CONTROL_ERROR, 'DATA past the stream window');
      return;
    }
    stream.recvWindow -= length;
    let start = 0;
    let stop = length;
    if ((flags & Flag.PADDED) !== 0) {
      // RFC 9113 6.1: padding as long as the payload or longer is PROTOCOL_ERROR.
      const pad = length === 0 ? 0 : (payload[0] as number);
      if (length === 0 || pad >= length) {
        this.connectionError(H2Error.PROTOCOL_ERROR, 'DATA padding too long');
        return;
      }
      start = 1;
      stop = length - pad;
    }
    this.replenishConnection();
    if (stream.remoteClosed) {
      // RFC 9113 5.1, "half-closed (remote)".
      this.streamError(id, H2Error.STREAM_CLOSED);
      return;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    stream.received += stop - start;
    // RFC 9113 8.1.1: DATA must add up to a declared content-length.
    if (
      stream.contentLength >= 0 &&
      (stream.received > stream.contentLength ||
        (endStream && stream.received !== stream.contentLength))
    ) {
      this.streamError(id, H2Error.PROTOCOL_ERROR);
      return;
    }
    if (!endStream) {
      stream.recvUnacked += length;
      if (stream.recvUnacked >= this.options.limits.streamWindowBytes >>> 1) {
        this.push(windowUpdateFrame(id, stream.recvUnacked));
        stream.recvWindow += stream.recvUnacked;
        stream.recvUnacked = 0;
      }
    }
    if (stop > start) this.deliverData(stream, payload.subarray(start, stop));
    if (endStream) this.receiveEnd(stream);
  }

  /** Gives the peer back what it sent once half the connection window is used. */
  private replenishConnection(): void {
    if (this.connRecvUnacked >= this.options.limits.connectionWindowBytes >>> 1) {
      this.push(windowUpdateFrame(0, this.connRecvUnacked));
      this.connRecvWindow += this.connRecvUnacked;
      this.connRecvUnacked = 0;
    }
  }

  private onHeadersFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0 || (id & 1) === 0) {
      // RFC 9113 5.1.1: client streams are odd.
      this.connectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on a stream id a client cannot use');
      return;
    }
    let start = 0;
    let stop = payload.length;
    let pad = 0;
    if ((flags & Flag.PADDED) !== 0) {
      if (stop === 0) {
        this.connectionError(H2Error.PROTOCOL_ERROR, 'HEADERS padding too long');
        return;
      }
      pad = payload[0] as number;
      start = 1;
    }
    let selfDependent = false;
    if ((flags & Flag.PRIORITY) !== 0) {
      if (stop - start < 5) {
        this.connectionError(H2Error.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
        return;
      }
      selfDependent = (payload.readUInt32BE(start) & 0x7fffffff) === id;
      start += 5;
    }
    // RFC 9113 6.2: padding longer than what is left is PROTOCOL_ERROR.
    if (pad > stop - start) {
      this.connectionError(H2Error.PROTOCOL_ERROR, 'HEADERS padding too long');
      return;
    }
    stop -= pad;
    const fragment = payload.subarray(start, stop);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) !== 0) {
      this.onHeaderBlock(id, endStream, selfDependent, fragment);
      return;
    }
    this.blockStreamId = id;
    this.blockEndStream = endStream;
    this.blockSelfDependent = selfDependent;
    this.blockFragments = [fragment];
    this.blockBytes = FRAME_HEADER_BYTES + payload.length;
    if (this.blockBytes > this.maxHeaderBlockBytes) this.headerBlockTooLarge();
  }

  private onContinuation(flags: number, payload: Buffer): void {
    this.blockFragments.push(payload);
    this.blockBytes += FRAME_HEADER_BYTES + payload.length;
    if (this.blockBytes > this.maxHeaderBlockBytes) {
      this.headerBlockTooLarge();
      return;
    }
    if ((flags & Flag.END_HEADERS) === 0) return;
    const id = this.blockStreamId;
    const block = Buffer.concat(this.blockFragments);
    this.blockStreamId = 0;
    this.blockFragments = [];
    this.onHeaderBlock(id, this.blockEndStream, this.blockSelfDependent, block);
  }

  /** The block cannot be decoded in part, so the HPACK state is lost: a connection error. */
  private headerBlockTooLarge(): void {
    this.blockFragments = [];
    this.connectionError(H2Error.ENHANCE_YOUR_CALM, 'header block over its compressed bound');
  }

  private decode(block: Buffer): DecodedHeaderBlock | undefined {
    try {
      return this.decoder.decode(block);
    } catch (error) {
      // RFC 9113 4.3: a block that does not decode is a connection error.
      if (error instanceof HpackError) {
        this.connectionError(H2Error.COMPRESSION_ERROR, 'header block does not decode');
        return undefined;
      }
      throw error;
    }
  }

  private onHeaderBlock(
    id: number,
    endStream: boolean,
    selfDependent: boolean,
    block: Buffer,
  ): void {
    // Every block is decoded, even one for a stream we refuse: HPACK state is per connection.
    const decoded = this.decode(block);
    if (decoded === undefined) return;
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      this.onTrailers(existing, endStream, decoded);
      return;
    }
    if (id <= this.lastPeerStreamId) {
      if (this.recentlyReset.has(id) || (this.goawaySent && id > this.goawayLastId)) return;
      // RFC 9113 5.1.1: a new stream's id must be greater than every id before it.
      this.connectionError(H2Error.PROTOCOL_ERROR, 'stream id not increasing');
      return;
    }
    this.lastPeerStreamId = id;
    // RFC 9113 6.8: after our GOAWAY, new streams are not processed.
    if (this.goawaySent) return;
    if (selfDependent) {
      // RFC 9113 5.3.1: a stream cannot depend on itself.
      this.streamError(id, H2Error.PROTOCOL_ERROR);
      return;
    }
    if (decoded.overLimit) {
      this.writeHeaders(id, STATUS_431_BLOCK, true);
      if (endStream) this.rememberReset(id);
      else this.streamError(id, H2Error.NO_ERROR);
      return;
    }
    const max = this.options.maxConcurrentStreams ?? this.options.limits.maxOpenStreams;
    if (this.openStreams >= max) {
      // RFC 9113 5.1.2: past SETTINGS_MAX_CONCURRENT_STREAMS (or our unadvertised bound:
      // REFUSED_STREAM says the request was not processed and may be retried, 8.7).
      this.streamError(id, H2Error.REFUSED_STREAM);
      return;
    }
    const check = checkRequestFields(decoded.fields);
    if (check.malformed !== undefined || (endStream && check.contentLength > 0)) {
      // RFC 9113 8.1.1: a malformed request is a stream error PROTOCOL_ERROR.
      this.streamError(id, H2Error.PROTOCOL_ERROR);
      return;
    }
    const stream = new ServerStream(
      id,
      decoded.fields,
      this,
      this.peerInitialWindow,
      this.settingsAcked
        ? this.options.limits.streamWindowBytes
        : Math.max(DEFAULT_WINDOW, this.options.limits.streamWindowBytes),
      check.contentLength,
    );
    this.streams.set(id, stream);
    this.openStreams++;
    if (endStream) {
      stream.remoteClosed = true;
      stream.earlyEnd = true;
    }
    this.pendingStarts.push(stream);
  }

  private onTrailers(stream: ServerStream, endStream: boolean, decoded: DecodedHeaderBlock): void {
    if (stream.remoteClosed) {
      this.streamError(stream.id, H2Error.STREAM_CLOSED);
      return;
    }
    // RFC 9113 8.1: a second HEADERS is the trailers and ends the stream.
    if (
      !endStream ||
      decoded.overLimit ||
      checkTrailerFields(decoded.fields) !== undefined ||
      (stream.contentLength >= 0 && stream.received !== stream.contentLength)
    ) {
      this.streamError(stream.id, H2Error.PROTOCOL_ERROR);
      return;
    }
    this.receiveEnd(stream);
  }

  private onPriority(id: number, payload: Buffer): void {
    if (id === 0) {
      this.connectionError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
      return;
    }
    // RFC 9113 6.3: a stream error FRAME_SIZE_ERROR; a self-dependency PROTOCOL_ERROR (5.3.1).
    if (payload.length !== 5) {
      this.streamError(id, H2Error.FRAME_SIZE_ERROR);
      return;
    }
    if ((payload.readUInt32BE(0) & 0x7fffffff) === id) this.streamError(id, H2Error.PROTOCOL_ERROR);
    // Otherwise ignored: RFC 9113 5.3 deprecates the priority scheme.
  }

  private onRstStream(id: number, payload: Buffer): void {
    if (payload.length !== 4) {
      this.connectionError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM length not 4');
      return;
    }
    if (id === 0 || this.isIdle(id)) {
      this.connectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    if (!stream.localClosed && !this.spendResetToken()) {
      // CVE-2023-44487: streams opened and reset faster than the budget.
      this.connectionError(H2Error.ENHANCE_YOUR_CALM, 'too many stream resets');
      return;
    }
    this.abortStream(stream);
  }

  private spendResetToken(): boolean {
    const limits = this.options.limits;
    const now = performance.now();
    this.resetTokens = Math.min(
      limits.resetBurst,
      this.resetTokens + ((now - this.resetRefilledAt) / 1000) * limits.resetsPerSecond,
    );
    this.resetRefilledAt = now;
    if (this.resetTokens < 1) return false;
    this.resetTokens -= 1;
    return true;
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) {
      this.connectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
      return;
    }
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0) {
        this.connectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
        return;
      }
      this.onSettingsAcked();
      return;
    }
    if (payload.length % 6 !== 0) {
      this.connectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS length not a multiple of 6');
      return;
    }
    for (let i = 0; i < payload.length; i += 6) {
      const setting = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (!this.applySetting(setting, value)) return;
    }
    if (!this.gotSettings) {
      this.gotSettings = true;
      clearTimeout(this.prefaceTimer);
    }
    if (!this.controlAnswerFits()) return;
    this.push(SETTINGS_ACK);
    this.flushBlocked();
  }

  /**
   * Our SETTINGS are in force (RFC 9113 6.5.3). Until now a stream window below the 65,535
   * default was not yet known to the peer; from now on it holds, and the streams opened
   * before take the difference (RFC 9113 6.9.2). Larger values held from the start.
   */
  private onSettingsAcked(): void {
    if (this.settingsAcked) return;
    this.settingsAcked = true;
    const shortfall = DEFAULT_WINDOW - this.options.limits.streamWindowBytes;
    if (shortfall <= 0) return;
    for (const stream of this.streams.values()) stream.recvWindow -= shortfall;
  }

  /** RFC 9113 6.5.2; false after a connection error. */
  private applySetting(setting: number, value: number): boolean {
    switch (setting) {
      case Setting.HEADER_TABLE_SIZE:
        // RFC 7541 4.2: a smaller table is signalled at the start of our next block.
        if (value < this.encoderTableSize) {
          this.encoderTableSize = value;
          this.tableSizeUpdateDue = value;
        }
        return true;
      case Setting.ENABLE_PUSH:
        if (value > 1) {
          this.connectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH not 0 or 1');
          return false;
        }
        return true;
      case Setting.INITIAL_WINDOW_SIZE: {
        if (value > MAX_WINDOW) {
          this.connectionError(
            H2Error.FLOW_CONTROL_ERROR,
            'SETTINGS_INITIAL_WINDOW_SIZE too large',
          );
          return false;
        }
        // RFC 9113 6.9.2: the change applies to every open stream's send window.
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const stream of this.streams.values()) {
          stream.sendWindow += delta;
          if (stream.sendWindow > MAX_WINDOW) {
            this.connectionError(H2Error.FLOW_CONTROL_ERROR, 'a stream window past 2^31-1');
            return false;
          }
        }
        return true;
      }
      case Setting.MAX_FRAME_SIZE:
        if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) {
          this.connectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          return false;
        }
        this.peerMaxFrameSize = value;
        return true;
      default:
        // MAX_CONCURRENT_STREAMS bounds pushes we never make; MAX_HEADER_LIST_SIZE is
        // advisory; unknown settings are ignored (RFC 9113 5.5).
        return true;
    }
  }

  private onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) {
      this.connectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
      return;
    }
    if (payload.length !== 8) {
      this.connectionError(H2Error.FRAME_SIZE_ERROR, 'PING length not 8');
      return;
    }
    if ((flags & Flag.ACK) !== 0) return;
    if (!this.controlAnswerFits()) return;
    this.push(pingAckFrame(payload));
  }

  /** A peer that sends PINGs or SETTINGS but does not read the answers: ENHANCE_YOUR_CALM. */
  private controlAnswerFits(): boolean {
    if (this.socket.writableLength + this.outBytes <= this.options.limits.controlBacklogBytes)
      return true;
    this.connectionError(
      H2Error.ENHANCE_YOUR_CALM,
      'control frames faster than their answers are read',
    );
    return false;
  }

  private onGoaway(id: number, payload: Buffer): void {
    if (id !== 0) {
      this.connectionError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream');
      return;
    }
    if (payload.length < 8) {
      this.connectionError(H2Error.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8');
      return;
    }
    // The client opens no more streams; the open ones finish, then the socket ends.
    this.peerGoaway = true;
    this.endIfIdle();
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) {
      this.connectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE length not 4');
      return;
    }
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      // RFC 9113 6.9: an increment of 0 is PROTOCOL_ERROR; past 2^31-1 FLOW_CONTROL_ERROR.
      if (increment === 0) {
        this.connectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
        return;
      }
      if (this.connSendWindow + increment > MAX_WINDOW) {
        this.connectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window past 2^31-1');
        return;
      }
      this.connSendWindow += increment;
      this.flushBlocked();
      return;
    }
    if (this.isIdle(id)) {
      this.connectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    if (increment === 0) {
      this.streamError(id, H2Error.PROTOCOL_ERROR);
      return;
    }
    if (stream.sendWindow + increment > MAX_WINDOW) {
      this.streamError(id, H2Error.FLOW_CONTROL_ERROR);
      return;
    }
    stream.sendWindow += increment;
    if (stream.queue !== undefined && this.connSendWindow > 0) this.drainQueue(stream);
  }

  // ---- streams and the handler --------------------------------------------------------------

  /** Runs onStream for the streams this read opened and the peer did not reset in it. */
  private startPending(): void {
    if (this.pendingStarts.length === 0) return;
    const starts = this.pendingStarts;
    this.pendingStarts = [];
    for (const stream of starts) {
      if (stream.aborted || this.dead) continue;
      stream.started = true;
      try {
        this.options.onStream(stream);
        const early = stream.early;
        if (early !== undefined) {
          stream.early = undefined;
          for (const chunk of early) if (!gone(stream)) stream.onData?.(chunk);
        }
        if (stream.earlyEnd && !gone(stream)) stream.onEnd?.();
      } catch (error) {
        this.handlerFailed(stream, error);
      }
    }
  }

  private deliverData(stream: ServerStream, chunk: Buffer): void {
    if (!stream.started) {
      (stream.early ??= []).push(chunk);
      return;
    }
    try {
      stream.onData?.(chunk);
    } catch (error) {
      this.handlerFailed(stream, error);
    }
  }

  private receiveEnd(stream: ServerStream): void {
    stream.remoteClosed = true;
    if (!stream.started) {
      stream.earlyEnd = true;
      return;
    }
    try {
      stream.onEnd?.();
    } catch (error) {
      this.handlerFailed(stream, error);
    }
  }

  private handlerFailed(stream: ServerStream, error: unknown): void {
    this.options.logger.error({ err: error, streamId: stream.id }, H2_LOG.handlerFailed);
    this.resetStream(stream, H2Error.INTERNAL_ERROR);
  }

  private rememberReset(id: number): void {
    this.recentlyReset.add(id);
    if (this.recentlyReset.size > RECENTLY_RESET_KEPT) {
      const oldest = this.recentlyReset.values().next().value;
      if (oldest !== undefined) this.recentlyReset.delete(oldest);
    }
  }

  /** A stream error the peer caused (RFC 9113 5.4.2): RST_STREAM; the stream, if open, is
   *  aborted. */
  private streamError(id: number, code: number): void {
    // A fault that resets a stream whose handler already runs frees a concurrency slot as a
    // peer reset does ("MadeYouReset", CVE-2025-8671): it spends the same budget.
    const stream = this.streams.get(id);
    if (stream?.started === true && !stream.localClosed && !this.spendResetToken()) {
      this.connectionError(H2Error.ENHANCE_YOUR_CALM, 'too many stream errors');
      return;
    }
    this.sendReset(id, code);
  }

  /** RST_STREAM of our own choosing (the handler's reset, the grace period's end). */
  private sendReset(id: number, code: number): void {
    this.push(rstStreamFrame(id, code));
    this.rememberReset(id);
    const stream = this.streams.get(id);
    if (stream !== undefined) this.abortStream(stream);
  }

  /** The stream is gone before it finished: removed, its handler told once. */
  private abortStream(stream: ServerStream): void {
    if (stream.closed) return;
    stream.aborted = true;
    this.closeStream(stream);
    if (!stream.started) return;
    const onAbort = stream.onAbort;
    stream.onAbort = undefined;
    try {
      onAbort?.();
    } catch (error) {
      this.options.logger.error({ err: error, streamId: stream.id }, H2_LOG.handlerFailed);
    }
  }

  private closeStream(stream: ServerStream): void {
    if (stream.closed) return;
    stream.closed = true;
    stream.queue = undefined;
    this.blocked.delete(stream);
    this.streams.delete(stream.id);
    this.openStreams--;
    this.endIfIdle();
  }

  /** After a GOAWAY either way, the socket ends once the last stream has. */
  private endIfIdle(): void {
    if (this.openStreams === 0 && (this.goawaySent || this.peerGoaway) && !this.dead) {
      this.dead = true;
      this.flush();
      this.socket.end();
      this.armCloseTimer();
    }
  }

  // ---- sending --------------------------------------------------------------------------------

  resetStream(stream: ServerStream, code: number): void {
    if (stream.closed) return;
    this.sendReset(stream.id, code);
  }

  sendHeaders(stream: ServerStream, block: Buffer, endStream: boolean): void {
    if (stream.closed || stream.localClosed) return;
    if (endStream) stream.localClosed = true;
    if (stream.queue !== undefined) {
      // Trailers wait behind the DATA they follow.
      stream.queue.push({ headers: true, data: block, endStream });
      return;
    }
    this.writeHeaders(stream.id, block, endStream);
    if (endStream) this.localEnd(stream);
  }

  sendData(stream: ServerStream, data: Buffer, endStream: boolean): void {
    if (stream.closed || stream.localClosed) return;
    if (endStream) stream.localClosed = true;
    if (stream.queue !== undefined) {
      stream.queue.push({ headers: false, data, endStream });
      return;
    }
    if (this.writeData(stream, data, endStream)) {
      if (endStream) this.localEnd(stream);
    }
  }

  sendResponse(stream: ServerStream, headers: Buffer, data: Buffer, trailers: Buffer): void {
    if (stream.closed || stream.localClosed) return;
    const prefix = this.tableSizeUpdateDue;
    const max = this.peerMaxFrameSize;
    const n = data.length;
    if (
      stream.queue === undefined &&
      prefix < 0 &&
      n <= stream.sendWindow &&
      n <= this.connSendWindow &&
      n <= max &&
      headers.length <= max &&
      trailers.length <= max
    ) {
      // One buffer, three frames (RFC 9113 8.1: HEADERS, DATA, trailing HEADERS).
      const out = Buffer.allocUnsafe(3 * FRAME_HEADER_BYTES + headers.length + n + trailers.length);
      const id = stream.id;
      writeFrameHeader(out, 0, headers.length, FrameType.HEADERS, Flag.END_HEADERS, id);
      let at = FRAME_HEADER_BYTES + headers.copy(out, FRAME_HEADER_BYTES);
      writeFrameHeader(out, at, n, FrameType.DATA, 0, id);
      at += FRAME_HEADER_BYTES;
      at += data.copy(out, at);
      writeFrameHeader(
        out,
        at,
        trailers.length,
        FrameType.HEADERS,
        Flag.END_HEADERS | Flag.END_STREAM,
        id,
      );
      trailers.copy(out, at + FRAME_HEADER_BYTES);
      stream.sendWindow -= n;
      this.connSendWindow -= n;
      stream.localClosed = true;
      this.push(out);
      this.localEnd(stream);
      return;
    }
    this.sendHeaders(stream, headers, false);
    this.sendData(stream, data, false);
    this.sendHeaders(stream, trailers, true);
  }

  /** HEADERS (+ CONTINUATION past the peer's frame size), the table size update first. */
  private writeHeaders(id: number, block: Buffer, endStream: boolean): void {
    if (this.tableSizeUpdateDue >= 0) {
      block = Buffer.concat([encodeTableSizeUpdate(this.tableSizeUpdateDue), block]);
      this.tableSizeUpdateDue = -1;
    }
    const max = this.peerMaxFrameSize;
    const endFlag = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) {
      const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
      writeFrameHeader(out, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS | endFlag, id);
      block.copy(out, FRAME_HEADER_BYTES);
      this.push(out);
      return;
    }
    for (let at = 0; at < block.length; at += max) {
      const part = block.subarray(at, Math.min(at + max, block.length));
      const last = at + max >= block.length;
      const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      if (at === 0) writeFrameHeader(head, 0, part.length, FrameType.HEADERS, endFlag, id);
      else
        writeFrameHeader(
          head,
          0,
          part.length,
          FrameType.CONTINUATION,
          last ? Flag.END_HEADERS : 0,
          id,
        );
      this.push(head);
      this.push(part);
    }
  }

  /** Writes what the windows allow; queues the rest. True when all of it went out. */
  private writeData(stream: ServerStream, data: Buffer, endStream: boolean): boolean {
    let at = 0;
    const total = data.length;
    for (;;) {
      const left = total - at;
      // An empty DATA (END_STREAM alone) needs no window, even one a SETTINGS made negative.
      const n =
        left === 0
          ? 0
          : Math.min(left, this.peerMaxFrameSize, stream.sendWindow, this.connSendWindow);
      if (n <= 0 && left > 0) {
        (stream.queue ??= []).unshift({ headers: false, data: data.subarray(at), endStream });
        this.blocked.add(stream);
        return false;
      }
      const last = at + n >= total;
      const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(
        head,
        0,
        n,
        FrameType.DATA,
        last && endStream ? Flag.END_STREAM : 0,
        stream.id,
      );
      this.push(head);
      if (n > 0) this.push(data.subarray(at, at + n));
      stream.sendWindow -= n;
      this.connSendWindow -= n;
      at += n;
      if (last) return true;
    }
  }

  /** Sends queued output while the windows allow; true when the queue emptied. */
  private drainQueue(stream: ServerStream): boolean {
    const queue = stream.queue;
    if (queue === undefined) return true;
    stream.queue = undefined;
    this.blocked.delete(stream);
    while (queue.length > 0) {
      const item = queue.shift() as (typeof queue)[number];
      if (item.headers) {
        this.writeHeaders(stream.id, item.data, item.endStream);
        continue;
      }
      if (!this.writeData(stream, item.data, item.endStream)) {
        // writeData put the rest back in a new queue: the remaining items follow it.
        (stream.queue as unknown as typeof queue).push(...queue);
        return false;
      }
    }
    if (stream.localClosed) this.localEnd(stream);
    return true;
  }

  private flushBlocked(): void {
    if (this.blocked.size === 0) return;
    // A copy: a stream still short of window is added back while we go.
    for (const stream of [...this.blocked]) {
      if (this.connSendWindow <= 0) return;
      this.drainQueue(stream);
    }
  }

  /** Our END_STREAM is out: the stream closes, or (RFC 9113 8.1) we ask the peer to stop
   *  sending a request we no longer need with RST_STREAM(NO_ERROR). */
  private localEnd(stream: ServerStream): void {
    if (stream.remoteClosed) {
      this.closeStream(stream);
      return;
    }
    this.push(rstStreamFrame(stream.id, H2Error.NO_ERROR));
    this.rememberReset(stream.id);
    this.closeStream(stream);
  }

  private push(buffer: Buffer): void {
    this.out.push(buffer);
    this.outBytes += buffer.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(flushConnection, this);
    }
  }

  /** One socket write for the turn's frames. */
  flush(): void {
    this.flushScheduled = false;
    if (this.outBytes === 0 && this.out.length === 0) return;
    const out = this.out;
    const data = out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(data);
    // A peer that does not read stops being read from (its requests would pile up answers).
    if (!this.paused && this.socket.writableLength > this.options.limits.pauseBacklogBytes) {
      this.paused = true;
      this.socket.pause();
    }
  }

  // ---- closing ------------------------------------------------------------------------------

  /** RFC 9113 7: GOAWAY with the error, every stream aborted, the socket ended. */
  private connectionError(code: number, reason: string): void {
    if (this.dead) return;
    this.options.logger.debug({ code, reason }, H2_LOG.connectionError);
    this.push(goawayFrame(this.lastPeerStreamId, code, reason));
    this.goawaySent = true;
    this.dead = true;
    this.abortAll();
    this.flush();
    // A flood is not read any further (its bytes would cost CPU for nothing); other errors
    // keep reading, and dropping, until the peer's FIN frees the socket.
    if (code === H2Error.ENHANCE_YOUR_CALM) this.socket.pause();
    this.socket.end();
    this.armCloseTimer();
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== undefined) return;
    // The peer gets a moment to read the GOAWAY; then the socket goes either way.
    this.closeTimer = setTimeout(() => {
      this.socket.destroy();
    }, this.options.limits.closeTimeoutMs);
    this.closeTimer.unref();
  }

  private abortAll(): void {
    this.pendingStarts = [];
    for (const stream of [...this.streams.values()]) this.abortStream(stream);
  }

  /** Graceful close (RFC 9113 6.8): GOAWAY(NO_ERROR, last id); open streams finish. */
  shutdown(): void {
    if (this.goawaySent || this.dead) return;
    this.goawaySent = true;
    this.goawayLastId = this.lastPeerStreamId;
    this.push(goawayFrame(this.goawayLastId, H2Error.NO_ERROR));
    this.endIfIdle();
  }

  /** Past the grace period: the open streams are reset (CANCEL) and the socket destroyed. */
  destroy(): void {
    for (const stream of [...this.streams.values()]) this.sendReset(stream.id, H2Error.CANCEL);
    this.dead = true;
    this.flush();
    this.socket.destroy();
  }

  get openStreamCount(): number {
    return this.openStreams;
  }

  private onSocketClose(): void {
    this.dead = true;
    clearTimeout(this.closeTimer);
    clearTimeout(this.prefaceTimer);
    this.abortAll();
    this.out = [];
    this.outBytes = 0;
  }
}
