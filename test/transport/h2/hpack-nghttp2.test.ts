import { afterEach, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { HpackDecoder } from '../../../src/transport/h2/hpack-decoder.js';
import { waitFor } from '../../helpers/wait-for.js';

/**
 * The decoder against a real HPACK encoder: node:http2's client is nghttp2, which uses the
 * dynamic table, Huffman codes and never-indexed fields as it sees fit. A bare TCP server
 * reads the client's HEADERS (and CONTINUATION) frames and decodes their blocks in order.
 */

const PREFACE_BYTES = 24;
const FRAME_HEADER_BYTES = 9;
const HEADERS = 0x1;
const SETTINGS = 0x4;
const CONTINUATION = 0x9;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

function captureHeaderBlocks(socket: net.Socket, onBlock: (block: Buffer) => void): void {
  let pending = Buffer.alloc(0);
  let prefaceSeen = false;
  let fragments: Buffer[] = [];
  // An empty SETTINGS: every default, including a 4096-octet header table.
  socket.write(Buffer.from([0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]));
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    if (!prefaceSeen) {
      if (pending.length < PREFACE_BYTES) return;
      pending = pending.subarray(PREFACE_BYTES);
      prefaceSeen = true;
    }
    while (pending.length >= FRAME_HEADER_BYTES) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < FRAME_HEADER_BYTES + length) break;
      const type = pending[3];
      const flags = pending[4] ?? 0;
      let payload = pending.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
      pending = pending.subarray(FRAME_HEADER_BYTES + length);
      if (type === SETTINGS && (flags & 1) === 0) {
        socket.write(Buffer.from([0, 0, 0, SETTINGS, 1, 0, 0, 0, 0]));
      } else if (type === HEADERS || type === CONTINUATION) {
        if (type === HEADERS) {
          const padding = (flags & PADDED) !== 0 ? (payload[0] ?? 0) : 0;
          payload = payload.subarray((flags & PADDED) !== 0 ? 1 : 0, payload.length - padding);
          if ((flags & PRIORITY) !== 0) payload = payload.subarray(5);
        }
        fragments.push(payload);
        if ((flags & END_HEADERS) !== 0) {
          onBlock(Buffer.concat(fragments));
          fragments = [];
        }
      }
    }
  });
}

const sorted = (pairs: [string, string][]): string[] => pairs.map(([n, v]) => `${n}: ${v}`).sort();

describe('HPACK decoder against nghttp2 (node:http2 client)', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  it('decodes 400 requests whose headers repeat, change and evict, as the client sent them', async () => {
    const decoder = new HpackDecoder({ maxTableBytes: 4096, maxHeaderListBytes: 1 << 20 });
    const decoded: [string, string][][] = [];
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      captureHeaderBlocks(socket, (block) => {
        const { fields } = decoder.decode(block);
        const pairs: [string, string][] = [];
        for (let i = 0; i < fields.length; i += 2)
          pairs.push([fields[i] ?? '', fields[i + 1] ?? '']);
        decoded.push(pairs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      server.close();
    });
    const { port } = server.address() as net.AddressInfo;
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => undefined);
    cleanups.push(() => {
      client.destroy();
    });

    const sent: [string, string][][] = [];
    for (let i = 0; i < 400; i++) {
      const headers: Record<string, string> = {
        ':method': 'POST',
        ':path': `/envoy.service.auth.v3.Authorization/Check${i % 3 === 0 ? '' : `?n=${i}`}`,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${100 + (i % 7)}m`,
        'x-request-id': randomBytes(8).toString('hex'),
        // Grows and shrinks, so entries are evicted and big ones empty the table.
        'x-payload': 'p'.repeat((i * 37) % 1500),
        authorization: `Bearer ${randomBytes(12).toString('base64url')}`,
        'user-agent': 'grpc-node/test',
        'x-latin1': `caf\u00e9-${i % 5}`,
      };
      sent.push(
        Object.entries({ ...headers, ':scheme': 'http', ':authority': `127.0.0.1:${port}` }),
      );
      const stream = client.request(headers, { endStream: true });
      stream.on('error', () => undefined);
    }
    await waitFor('400 decoded header blocks', () => decoded.length === 400);
    decoded.forEach((pairs, i) => {
      expect(sorted(pairs)).toEqual(sorted(sent[i] ?? []));
    });
  });
});
