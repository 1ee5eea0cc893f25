import { deflateSync, gzipSync } from 'node:zlib';
import { status as GrpcStatus } from '@grpc/grpc-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CallStatusError,
  MESSAGE_PREFIX_BYTES,
  MessageReader,
  frameMessage,
  messagePayload,
  parseGrpcTimeout,
  percentEncodeGrpcMessage,
} from '../../../src/transport/grpc/grpc-wire.js';

function statusOf(run: () => unknown): { code: number; details: string } | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof CallStatusError) return error.callStatus;
    throw error;
  }
  return undefined;
}

/** A prefix claiming `length` bytes, with the compressed flag set as asked. */
function prefix(length: number, compressed = 0): Buffer {
  const bytes = Buffer.alloc(MESSAGE_PREFIX_BYTES);
  bytes[0] = compressed;
  bytes.writeUInt32BE(length, 1);
  return bytes;
}

describe('length-prefixed messages (MessageReader)', () => {
  it('oversized message: refused with RESOURCE_EXHAUSTED from its 5-byte prefix, before its body arrives', () => {
    const reader = new MessageReader(1024);
    expect(statusOf(() => reader.push(prefix(1025)))).toEqual({
      code: GrpcStatus.RESOURCE_EXHAUSTED,
      details: 'Received message larger than max (1025 vs 1024)',
    });
  });

  it('a prefix claiming 4 GiB split over single-byte DATA frames is refused once the prefix is whole', () => {
    const reader = new MessageReader(4 * 1024 * 1024);
    const claim = prefix(0xffffffff);
    for (const byte of claim.subarray(0, 4)) expect(reader.push(Buffer.from([byte]))).toEqual([]);
    expect(statusOf(() => reader.push(claim.subarray(4)))?.code).toBe(
      GrpcStatus.RESOURCE_EXHAUSTED,
    );
  });

  it('a message exactly at the limit is read', () => {
    const reader = new MessageReader(16);
    const framed = frameMessage(Buffer.alloc(16, 7));
    expect(reader.push(framed)).toEqual([framed]);
    expect(reader.partial).toBe(false);
  });

  it('a truncated body leaves the partial message held, not delivered', () => {
    const reader = new MessageReader(1024);
    const framed = frameMessage(Buffer.from('hello'));
    expect(reader.push(framed.subarray(0, framed.length - 1))).toEqual([]);
    expect(reader.partial).toBe(true);
  });

  it('any split of a run of messages into DATA chunks yields the same messages in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 40 }),
        (messages, cuts) => {
          const framed = messages.map((message) => frameMessage(message));
          const body = Buffer.concat(framed);
          const reader = new MessageReader(300);
          const seen: Buffer[] = [];
          let offset = 0;
          for (const cut of cuts) {
            if (offset >= body.length) break;
            seen.push(...reader.push(body.subarray(offset, offset + cut)));
            offset += cut;
          }
          if (offset < body.length) seen.push(...reader.push(body.subarray(offset)));
          expect(seen.map((b) => Buffer.from(b).toString('hex'))).toEqual(
            framed.map((b) => b.toString('hex')),
          );
          expect(reader.partial).toBe(false);
        },
      ),
    );
  });
});

describe('grpc-encoding (messagePayload)', () => {
  const text = Buffer.from('{"attributes":{}}');

  it.each([
    ['gzip', gzipSync(text)],
    ['deflate', deflateSync(text)],
  ])('a message compressed with %s is decompressed', (encoding, compressed) => {
    const framed = Buffer.concat([prefix(compressed.length, 1), compressed]);
    expect(messagePayload(framed, encoding, 1024).toString()).toBe(text.toString());
  });

  it('an uncompressed message is taken as it is, whatever grpc-encoding says', () => {
    expect(messagePayload(frameMessage(text), 'gzip', 1024).toString()).toBe(text.toString());
  });

  it('a message compressed with an encoding the server does not decode: UNIMPLEMENTED', () => {
    const framed = Buffer.concat([prefix(3, 1), Buffer.from('abc')]);
    expect(statusOf(() => messagePayload(framed, 'snappy', 1024))?.code).toBe(
      GrpcStatus.UNIMPLEMENTED,
    );
  });

  it('decompression bomb: a small gzip message that inflates past the limit is RESOURCE_EXHAUSTED', () => {
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const framed = Buffer.concat([prefix(bomb.length, 1), bomb]);
    expect(statusOf(() => messagePayload(framed, 'gzip', 1024 * 1024))?.code).toBe(
      GrpcStatus.RESOURCE_EXHAUSTED,
    );
  });

  it('a body flagged gzip that is not gzip: INTERNAL', () => {
    const framed = Buffer.concat([prefix(4, 1), Buffer.from('nope')]);
    expect(statusOf(() => messagePayload(framed, 'gzip', 1024))).toEqual({
      code: GrpcStatus.INTERNAL,
      details: 'Failed to decompress message',
    });
  });
});

describe('grpc-timeout', () => {
  it.each([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3000],
    ['250m', 250],
    ['1500u', 1],
    ['99999999n', 99],
  ])('%s is %d ms', (header, ms) => {
    expect(parseGrpcTimeout(header)).toBe(ms);
  });

  it('the same value on every call keeps its meaning, and a bad one between them is still INTERNAL', () => {
    expect(parseGrpcTimeout('200m')).toBe(200);
    expect(parseGrpcTimeout('200m')).toBe(200);
    expect(statusOf(() => parseGrpcTimeout('200'))?.code).toBe(GrpcStatus.INTERNAL);
    expect(parseGrpcTimeout('200m')).toBe(200);
    expect(parseGrpcTimeout('2S')).toBe(2000);
  });

  it('absent: no deadline', () => {
    expect(parseGrpcTimeout(undefined)).toBeUndefined();
  });

  it.each(['', '10', 'S', '123456789S', '-1S', '1.5S', '10x'])(
    'a grpc-timeout that does not parse (%j) is INTERNAL',
    (header) => {
      expect(statusOf(() => parseGrpcTimeout(header))?.code).toBe(GrpcStatus.INTERNAL);
    },
  );
});

describe('grpc-message percent-encoding', () => {
  it('printable ASCII is sent as it is', () => {
    expect(percentEncodeGrpcMessage('The server does not implement the method /a.B/C')).toBe(
      'The server does not implement the method /a.B/C',
    );
  });

  it("'%', control characters and non-ASCII are %XX of their UTF-8 bytes", () => {
    expect(percentEncodeGrpcMessage('100% é\n')).toBe('100%25 %C3%A9%0A');
  });

  it('any text decodes back to itself (header-injection characters never go out raw)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (details) => {
        const encoded = percentEncodeGrpcMessage(details);
        expect(encoded).toMatch(/^[\x20-\x7e]*$/);
        expect(decodeURIComponent(encoded)).toBe(details);
      }),
    );
  });
});
