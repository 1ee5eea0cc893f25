import { gunzipSync, inflateSync } from 'node:zlib';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { GatehouseError } from '../../errors/gatehouse-error.js';

/**
 * The gRPC-over-HTTP/2 wire pieces Gatehouse's own gRPC server needs (PROTOCOL-HTTP2.md in
 * grpc/grpc): length-prefixed messages, grpc-timeout, grpc-message percent-encoding. Statuses
 * and their details follow what a grpc-js 1.14 server answers for the same fault, so a client
 * sees the same call whichever server Gatehouse runs (`grpc.server`).
 */

/** A status a call ends with: the grpc-status code and its grpc-message. */
export interface CallStatus {
  readonly code: GrpcStatus;
  readonly details: string;
}

/** Thrown inside the gRPC server for a fault that ends the call with this status. */
export class CallStatusError extends GatehouseError<'GH_GRPC_CALL_FAILED'> {
  constructor(
    readonly grpcStatus: GrpcStatus,
    readonly details: string,
  ) {
    super('GH_GRPC_CALL_FAILED', details);
  }

  /** The status the call ends with. */
  get callStatus(): CallStatus {
    return { code: this.grpcStatus, details: this.details };
  }
}

/** "Length-Prefixed-Message → Compressed-Flag Message-Length Message": 1 + 4 bytes. */
export const MESSAGE_PREFIX_BYTES = 5;

/** One message with its prefix: the compressed flag 0 (responses are never compressed). */
export function frameMessage(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, MESSAGE_PREFIX_BYTES);
  return framed;
}

/**
 * Splits a request body into length-prefixed messages as DATA frames arrive. A message
 * larger than maxMessageBytes is refused from its prefix alone, before it is buffered. The
 * chunks of an unfinished message are kept as they came and joined once, when it is whole, so
 * a large message in many DATA frames costs one copy, not one per frame.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxMessageBytes: number) {}

  /** Whether bytes of an unfinished message are held (a truncated body at end of stream). */
  get partial(): boolean {
    return this.buffered > 0;
  }

  /** The whole messages (prefix included) completed by this chunk. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const messages: Buffer[] = [];
    while (this.buffered >= MESSAGE_PREFIX_BYTES) {
      const length = this.prefixLength();
      if (length > this.maxMessageBytes) {
        // grpc-js's StreamDecoder wording; the status is RESOURCE_EXHAUSTED.
        throw new CallStatusError(
          GrpcStatus.RESOURCE_EXHAUSTED,
          `Received message larger than max (${length} vs ${this.maxMessageBytes})`,
        );
      }
      const end = MESSAGE_PREFIX_BYTES + length;
      if (this.buffered < end) break;
      const [only] = this.chunks;
      const data =
        this.chunks.length === 1 && only !== undefined
          ? only
          : Buffer.concat(this.chunks, this.buffered);
      messages.push(data.length === end ? data : data.subarray(0, end));
      const rest = data.subarray(end);
      this.chunks = rest.length === 0 ? [] : [rest];
      this.buffered = rest.length;
    }
    return messages;
  }

  /** The Message-Length of the held message (bytes 1-4), its prefix possibly split across chunks. */
  private prefixLength(): number {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= MESSAGE_PREFIX_BYTES) return first.readUInt32BE(1);
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [joined];
    return joined.readUInt32BE(1);
  }
}

/**
 * The message bytes of one length-prefixed message. The compressed flag is honoured only
 * with a grpc-encoding this server decodes (identity, gzip, deflate: what grpc-js accepts);
 * any other is UNIMPLEMENTED, and a body that does not decompress is INTERNAL.
 */
export function messagePayload(framed: Buffer, encoding: string, maxMessageBytes: number): Buffer {
  const payload = framed.subarray(MESSAGE_PREFIX_BYTES);
  if (framed[0] === 0 || encoding === 'identity') return payload;
  if (encoding !== 'gzip' && encoding !== 'deflate') {
    throw new CallStatusError(
      GrpcStatus.UNIMPLEMENTED,
      `Received message compressed with unsupported encoding "${encoding}"`,
    );
  }
  try {
    const options = { maxOutputLength: Math.max(1, maxMessageBytes) };
    return encoding === 'gzip' ? gunzipSync(payload, options) : inflateSync(payload, options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new CallStatusError(
        GrpcStatus.RESOURCE_EXHAUSTED,
        `Received message that decompresses to a size larger than ${maxMessageBytes}`,
      );
    }
    throw new CallStatusError(GrpcStatus.INTERNAL, 'Failed to decompress message');
  }
}

/** "Timeout → TimeoutValue TimeoutUnit": up to 8 digits, then H M S m u n. */
const TIMEOUT = /^(\d{1,8})\s*([HMSmun])$/;
const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/**
 * The grpc-timeout header in milliseconds (whole, as grpc-js rounds it), undefined when
 * absent. One that does not parse is INTERNAL, as grpc-js answers.
 */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  // A client sends the same timeout on every call (Envoy its ext_authz `timeout`): the last
  // one parsed is kept, so the hot path does not run the pattern per call.
  if (value === lastTimeout.header) return lastTimeout.ms;
  const match = TIMEOUT.exec(value.trim());
  if (match === null) {
    throw new CallStatusError(GrpcStatus.INTERNAL, `Invalid grpc-timeout value "${value}"`);
  }
  const [, digits = '0', unit = 'S'] = match;
  const ms = Math.floor(Number(digits) * (TIMEOUT_UNIT_MS[unit] ?? 1));
  lastTimeout = { header: value, ms };
  return ms;
}

let lastTimeout: { readonly header: string | undefined; readonly ms: number } = {
  header: undefined,
  ms: 0,
};

/**
 * grpc-message is percent-encoded: every byte of the UTF-8 form outside 0x20-0x7E, and '%'
 * itself, becomes %XX (PROTOCOL-HTTP2.md, "Status-Message").
 */
export function percentEncodeGrpcMessage(details: string): string {
  // The unreserved range is exactly ASCII 0x20-0x7E, '%' (0x25) excepted.
  if (/^[\x20-\x24\x26-\x7e]*$/.test(details)) return details;
  let encoded = '';
  for (const byte of Buffer.from(details, 'utf8')) {
    encoded +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}
