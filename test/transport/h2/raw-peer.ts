import { connect, type Socket } from 'node:net';
import { once } from 'node:events';

/**
 * A raw HTTP/2 client for the fault tests: writes any frame, right or wrong, and reads what
 * the server answers, frame by frame. Header blocks are HPACK literals without indexing and
 * without Huffman (RFC 7541 6.2.2), which every decoder must take.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const T = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const F = { END_STREAM: 1, ACK: 1, END_HEADERS: 4, PADDED: 8, PRIORITY: 0x20 } as const;

export const E = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

export function u32(...values: number[]): Buffer {
  const out = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => out.writeUInt32BE(v, 4 * i));
  return out;
}

export function settings(...pairs: [number, number][]): Buffer {
  const payload = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(T.SETTINGS, 0, 0, payload);
}

function hpackInt(prefixBits: number, first: number, value: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** RFC 7541 6.2.2: each field as a literal without indexing, new name, no Huffman. */
export function literalBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00, ...hpackInt(7, 0, n.length)]), n);
    parts.push(Buffer.from(hpackInt(7, 0, v.length)), v);
  }
  return Buffer.concat(parts);
}

export const GET: readonly (readonly [string, string])[] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/ping'],
  [':authority', 'gatehouse.test'],
];

export function headersFrame(
  streamId: number,
  fields: readonly (readonly [string, string])[] = GET,
  flags: number = F.END_HEADERS | F.END_STREAM,
): Buffer {
  return frame(T.HEADERS, flags, streamId, literalBlock(fields));
}

/** One decoded response field list: the test server's answers use the static table and
 *  literals (src/transport/h2/hpack-encoder.ts); this reads both, without Huffman. */
export function readResponseBlock(block: Buffer): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  const int = (prefix: number): number => {
    const mask = (1 << prefix) - 1;
    let v = (block[i++] as number) & mask;
    if (v < mask) return v;
    let m = 0;
    for (;;) {
      const b = block[i++] as number;
      v += (b & 127) * 2 ** m;
      m += 7;
      if ((b & 128) === 0) return v;
    }
  };
  const str = (): string => {
    if (((block[i] as number) & 0x80) !== 0) throw new Error('Huffman in a response block');
    const n = int(7);
    const s = block.subarray(i, i + n).toString('latin1');
    i += n;
    return s;
  };
  const staticName: Record<number, string> = {
    8: ':status',
    31: 'content-type',
    28: 'content-length',
  };
  while (i < block.length) {
    const b = block[i] as number;
    if (b === 0x88) {
      i++;
      out.push([':status', '200']);
    } else if ((b & 0xe0) === 0x20) {
      int(5);
    } else {
      const prefix = (b & 0xc0) === 0x40 ? 6 : 4;
      const index = int(prefix);
      const name = index === 0 ? str() : (staticName[index] ?? `static:${index}`);
      out.push([name, str()]);
    }
  }
  return out;
}

/** A raw connection: write bytes, read frames as they come. */
export class RawPeer {
  readonly frames: Frame[] = [];
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  /** Frames not kept (a flood's answers), only counted. */
  skip: ((f: Frame) => boolean) | undefined = undefined;
  skipped = 0;
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 9) {
        const length = this.buffer.readUIntBE(0, 3);
        if (this.buffer.length < 9 + length) break;
        const f: Frame = {
          type: this.buffer[3] as number,
          flags: this.buffer[4] as number,
          streamId: this.buffer.readUInt32BE(5) & 0x7fffffff,
          payload: Buffer.from(this.buffer.subarray(9, 9 + length)),
        };
        if (this.skip?.(f) === true) this.skipped++;
        else this.frames.push(f);
        this.buffer = this.buffer.subarray(9 + length);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      });
    });
  }

  /** Connects; with `handshake`, sends the preface and an empty SETTINGS. */
  static async connect(port: number, handshake = true): Promise<RawPeer> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const peer = new RawPeer(socket);
    if (handshake) peer.write(PREFACE, settings());
    return peer;
  }

  write(...chunks: Buffer[]): void {
    this.socket.write(Buffer.concat(chunks));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The first frame matching `match` (already read or still to come). */
  async waitFor(match: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found !== undefined) return found;
      if (this.closed) throw new Error(`connection closed; frames: ${this.describe()}`);
      if (Date.now() > deadline) throw new Error(`timed out; frames: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The GOAWAY's error code (RFC 9113 6.8), waiting for it. */
  async goawayCode(): Promise<number> {
    const goaway = await this.waitFor((f) => f.type === T.GOAWAY);
    return goaway.payload.readUInt32BE(4);
  }

  /** The RST_STREAM error code of a stream, waiting for it. */
  async resetCode(streamId: number): Promise<number> {
    const rst = await this.waitFor((f) => f.type === T.RST_STREAM && f.streamId === streamId);
    return rst.payload.readUInt32BE(0);
  }

  /** The response of a stream: its HEADERS fields, body and trailers, once END_STREAM came. */
  async response(
    streamId: number,
  ): Promise<{ fields: [string, string][]; body: Buffer; trailers: [string, string][] }> {
    await this.waitFor(
      (f) =>
        f.streamId === streamId &&
        (f.flags & F.END_STREAM) !== 0 &&
        (f.type === T.DATA || f.type === T.HEADERS),
    );
    const frames = this.frames.filter((f) => f.streamId === streamId);
    const headers = frames.filter((f) => f.type === T.HEADERS);
    const body = Buffer.concat(frames.filter((f) => f.type === T.DATA).map((f) => f.payload));
    return {
      fields: headers[0] === undefined ? [] : readResponseBlock(headers[0].payload),
      body,
      trailers: headers[1] === undefined ? [] : readResponseBlock(headers[1].payload),
    };
  }

  describe(): string {
    return this.frames
      .map((f) => `${f.type}/${f.flags}/${f.streamId}/${f.payload.length}`)
      .join(' ');
  }

  close(): void {
    this.socket.destroy();
  }
}
