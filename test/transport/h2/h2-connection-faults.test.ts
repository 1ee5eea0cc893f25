import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoServer, type EchoServer } from './echo-server.js';
import {
  E,
  F,
  GET,
  PREFACE,
  RawPeer,
  T,
  frame,
  readResponseBlock,
  headersFrame,
  literalBlock,
  settings,
  u32,
} from './raw-peer.js';
import { waitFor } from '../../helpers/wait-for.js';

// Every fault a client that can reach the port can send, over a raw socket with our own
// frame writer: the server answers with the GOAWAY or RST_STREAM code RFC 9113 names, and
// goes on serving other connections (and, after a stream error, the same one).

let echo: EchoServer;
const peers: RawPeer[] = [];

beforeAll(async () => {
  echo = await startEchoServer();
});

afterAll(async () => {
  for (const peer of peers) peer.close();
  await echo.close(0);
});

async function peer(handshake = true, port = echo.port): Promise<RawPeer> {
  const p = await RawPeer.connect(port, handshake);
  peers.push(p);
  return p;
}

/** A new connection still gets its answer: one fault never stops the server. */
async function expectServesAnotherConnection(port = echo.port): Promise<void> {
  const p = await peer(true, port);
  p.write(headersFrame(1));
  const response = await p.response(1);
  expect(response.fields).toContainEqual([':status', '200']);
  expect(response.body.toString()).toBe('ok /ping 0');
  p.close();
}

/** A connection error: GOAWAY with this code, then the server closes the connection. */
async function expectGoaway(p: RawPeer, code: number): Promise<void> {
  expect(await p.goawayCode()).toBe(code);
  await p.closedPromise;
}

/** A stream error on an otherwise healthy connection: the next stream is still answered. */
async function expectStreamReset(
  p: RawPeer,
  streamId: number,
  code: number,
  next: number,
): Promise<void> {
  expect(await p.resetCode(streamId)).toBe(code);
  p.write(headersFrame(next));
  expect((await p.response(next)).body.toString()).toBe('ok /ping 0');
  expect(p.frames.some((f) => f.type === T.GOAWAY)).toBe(false);
}

describe('the connection preface (RFC 9113 3.4)', () => {
  it('an HTTP/1.1 request instead of the preface is PROTOCOL_ERROR', async () => {
    const p = await peer(false);
    p.write(Buffer.from('GET / HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n'));
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it('frames without the preface are PROTOCOL_ERROR', async () => {
    const p = await peer(false);
    p.write(settings(), headersFrame(1));
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it('a preface sent one octet at a time is still read', async () => {
    const p = await peer(false);
    for (const octet of PREFACE) {
      p.write(Buffer.from([octet]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    p.write(settings(), headersFrame(1));
    expect((await p.response(1)).body.toString()).toBe('ok /ping 0');
  });

  it('a connection that never sends the preface is dropped after the preface timeout', async () => {
    const strict = await startEchoServer({ limits: { prefaceTimeoutMs: 200 } });
    try {
      const silent = await peer(false, strict.port);
      const partial = await peer(false, strict.port);
      partial.write(PREFACE.subarray(0, 10));
      await Promise.all([silent.closedPromise, partial.closedPromise]);
      // A client that completes its preface in time keeps its connection past the timeout.
      const prompt = await peer(true, strict.port);
      await new Promise((resolve) => setTimeout(resolve, 400));
      prompt.write(headersFrame(1));
      expect((await prompt.response(1)).body.toString()).toBe('ok /ping 0');
    } finally {
      await strict.close(0);
    }
  });

  it('a first frame other than SETTINGS is PROTOCOL_ERROR', async () => {
    const p = await peer(false);
    p.write(PREFACE, frame(T.PING, 0, 0, Buffer.alloc(8)));
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });
});

describe('frame sizes (RFC 9113 4.2, 6)', () => {
  it('a frame larger than our SETTINGS_MAX_FRAME_SIZE is FRAME_SIZE_ERROR', async () => {
    const p = await peer();
    p.write(headersFrame(1, GET, F.END_HEADERS), frame(T.DATA, 0, 1, Buffer.alloc(16_385)));
    await expectGoaway(p, E.FRAME_SIZE_ERROR);
    await expectServesAnotherConnection();
  });

  it.each([
    ['SETTINGS not a multiple of 6', frame(T.SETTINGS, 0, 0, Buffer.alloc(5))],
    ['SETTINGS ACK with a payload', frame(T.SETTINGS, F.ACK, 0, Buffer.alloc(6))],
    ['PING of 7 octets', frame(T.PING, 0, 0, Buffer.alloc(7))],
    ['PING of 9 octets', frame(T.PING, 0, 0, Buffer.alloc(9))],
    ['WINDOW_UPDATE of 3 octets', frame(T.WINDOW_UPDATE, 0, 0, Buffer.alloc(3))],
    ['RST_STREAM of 5 octets', frame(T.RST_STREAM, 0, 1, Buffer.alloc(5))],
    ['GOAWAY shorter than 8 octets', frame(T.GOAWAY, 0, 0, Buffer.alloc(4))],
  ])('%s is FRAME_SIZE_ERROR', async (_name, bad) => {
    const p = await peer();
    if (bad[3] === T.RST_STREAM) p.write(headersFrame(1, [...GET.slice(0, 2), [':path', '/hold']]));
    p.write(bad);
    await expectGoaway(p, E.FRAME_SIZE_ERROR);
    await expectServesAnotherConnection();
  });

  it('a PRIORITY frame of 4 octets is a stream error FRAME_SIZE_ERROR', async () => {
    const p = await peer();
    p.write(frame(T.PRIORITY, 0, 1, Buffer.alloc(4)));
    await expectStreamReset(p, 1, E.FRAME_SIZE_ERROR, 3);
  });
});

describe('stream identifiers and states (RFC 9113 5.1, 5.1.1)', () => {
  it.each([
    ['HEADERS on an even stream', headersFrame(2)],
    ['HEADERS on stream 0', headersFrame(0)],
    ['DATA on stream 0', frame(T.DATA, 0, 0, Buffer.from('x'))],
    ['SETTINGS on a stream', frame(T.SETTINGS, 0, 1)],
    ['PING on a stream', frame(T.PING, 0, 1, Buffer.alloc(8))],
    ['GOAWAY on a stream', frame(T.GOAWAY, 0, 1, Buffer.alloc(8))],
    ['RST_STREAM on stream 0', frame(T.RST_STREAM, 0, 0, u32(E.CANCEL))],
    ['PRIORITY on stream 0', frame(T.PRIORITY, 0, 0, Buffer.alloc(5))],
    ['DATA on an idle stream', frame(T.DATA, 0, 7, Buffer.from('x'))],
    ['WINDOW_UPDATE on an idle stream', frame(T.WINDOW_UPDATE, 0, 9, u32(10))],
    ['RST_STREAM on an idle stream', frame(T.RST_STREAM, 0, 11, u32(E.CANCEL))],
  ])('%s is PROTOCOL_ERROR', async (_name, bad) => {
    const p = await peer();
    p.write(bad);
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it('a stream id lower than one already used is PROTOCOL_ERROR', async () => {
    const p = await peer();
    p.write(headersFrame(5));
    await p.response(5);
    p.write(headersFrame(3));
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it('DATA on a stream closed both ways is a stream error STREAM_CLOSED', async () => {
    const p = await peer();
    p.write(headersFrame(1));
    await p.response(1);
    p.write(frame(T.DATA, F.END_STREAM, 1, Buffer.from('late')));
    await expectStreamReset(p, 1, E.STREAM_CLOSED, 3);
  });

  it('DATA after the request ended (half-closed remote) is a stream error STREAM_CLOSED', async () => {
    const started = echo.started.length;
    const p = await peer();
    p.write(headersFrame(1, [...GET.slice(0, 2), [':path', '/hold']]));
    await waitFor('the handler to start', () => echo.started.length > started);
    const held = echo.started[started];
    p.write(frame(T.DATA, 0, 1, Buffer.from('more')));
    await expectStreamReset(p, 1, E.STREAM_CLOSED, 3);
    expect(held?.aborted).toBe(true);
    expect(echo.aborted).toContain(held);
  });

  it('a second HEADERS without END_STREAM (trailers must end the stream) is PROTOCOL_ERROR', async () => {
    const p = await peer();
    p.write(headersFrame(1, GET, F.END_HEADERS));
    p.write(headersFrame(1, [['x-trailer', '1']], F.END_HEADERS));
    await expectStreamReset(p, 1, E.PROTOCOL_ERROR, 3);
  });

  it('request trailers that end the stream are taken', async () => {
    const p = await peer();
    p.write(headersFrame(1, GET, F.END_HEADERS), frame(T.DATA, 0, 1, Buffer.from('abc')));
    p.write(headersFrame(1, [['x-checksum', '1']]));
    expect((await p.response(1)).body.toString()).toBe('ok /ping 3');
  });

  it('a stream that depends on itself is a stream error PROTOCOL_ERROR', async () => {
    const p = await peer();
    const priority = Buffer.concat([u32(1), Buffer.from([16])]);
    p.write(
      frame(
        T.HEADERS,
        F.END_HEADERS | F.END_STREAM | F.PRIORITY,
        1,
        Buffer.concat([priority, literalBlock(GET)]),
      ),
    );
    await expectStreamReset(p, 1, E.PROTOCOL_ERROR, 3);
  });

  it('padding longer than the DATA payload is PROTOCOL_ERROR', async () => {
    const p = await peer();
    p.write(headersFrame(1, GET, F.END_HEADERS));
    p.write(frame(T.DATA, F.PADDED, 1, Buffer.from([5, 1, 2])));
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it('padded HEADERS and DATA are read without their padding', async () => {
    const p = await peer();
    const block = literalBlock(GET);
    p.write(
      frame(
        T.HEADERS,
        F.END_HEADERS | F.PADDED,
        1,
        Buffer.concat([Buffer.from([3]), block, Buffer.alloc(3)]),
      ),
    );
    p.write(
      frame(
        T.DATA,
        F.PADDED | F.END_STREAM,
        1,
        Buffer.concat([Buffer.from([4]), Buffer.from('hi'), Buffer.alloc(4)]),
      ),
    );
    expect((await p.response(1)).body.toString()).toBe('ok /ping 2');
  });
});

describe('header blocks: CONTINUATION and HPACK (RFC 9113 4.3, 6.10)', () => {
  it('CONTINUATION without a HEADERS before it is PROTOCOL_ERROR', async () => {
    const p = await peer();
    p.write(frame(T.CONTINUATION, F.END_HEADERS, 1, literalBlock(GET)));
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it('another frame between HEADERS and its CONTINUATION is PROTOCOL_ERROR', async () => {
    const p = await peer();
    const block = literalBlock(GET);
    p.write(
      frame(T.HEADERS, F.END_STREAM, 1, block.subarray(0, 10)),
      frame(T.PING, 0, 0, Buffer.alloc(8)),
    );
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it('a CONTINUATION of another stream is PROTOCOL_ERROR', async () => {
    const p = await peer();
    const block = literalBlock(GET);
    p.write(
      frame(T.HEADERS, F.END_STREAM, 1, block.subarray(0, 10)),
      frame(T.CONTINUATION, F.END_HEADERS, 3, block.subarray(10)),
    );
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it('a header block split over CONTINUATION frames is read whole', async () => {
    const p = await peer();
    const block = literalBlock(GET);
    p.write(
      frame(T.HEADERS, F.END_STREAM, 1, block.subarray(0, 5)),
      frame(T.CONTINUATION, 0, 1, block.subarray(5, 20)),
      frame(T.CONTINUATION, 0, 1, Buffer.alloc(0)),
      frame(T.CONTINUATION, F.END_HEADERS, 1, block.subarray(20)),
    );
    expect((await p.response(1)).body.toString()).toBe('ok /ping 0');
  });

  it.each([
    ['full CONTINUATION frames', Buffer.alloc(16_384, 0x41)],
    ['empty CONTINUATION frames', Buffer.alloc(0)],
  ])(
    'a CONTINUATION flood of %s closes the connection with ENHANCE_YOUR_CALM (CVE-2024-27316)',
    async (_name, fragment) => {
      const started = echo.started.length;
      const p = await peer();
      p.write(frame(T.HEADERS, F.END_STREAM, 1, literalBlock(GET)));
      const one = frame(T.CONTINUATION, 0, 1, fragment);
      // Far past the bound (64 KiB list + 16 KiB), in either case.
      const count = fragment.length === 0 ? 20_000 : 64;
      p.write(Buffer.concat(Array.from({ length: count }, () => one)));
      await expectGoaway(p, E.ENHANCE_YOUR_CALM);
      expect(echo.started.length).toBe(started);
      await expectServesAnotherConnection();
    },
  );

  it('a header list over SETTINGS_MAX_HEADER_LIST_SIZE is refused with 431, the connection goes on', async () => {
    const small = await startEchoServer({ maxHeaderListBytes: 1024 });
    try {
      const p = await peer(true, small.port);
      const settingsFrame = await p.waitFor(
        (f) => f.type === T.SETTINGS && (f.flags & F.ACK) === 0,
      );
      // The limit is advertised (SETTINGS_MAX_HEADER_LIST_SIZE = 6).
      const advertised = new Map<number, number>();
      for (let i = 0; i < settingsFrame.payload.length; i += 6)
        advertised.set(
          settingsFrame.payload.readUInt16BE(i),
          settingsFrame.payload.readUInt32BE(i + 2),
        );
      expect(advertised.get(6)).toBe(1024);
      p.write(headersFrame(1, [...GET, ['x-big', 'v'.repeat(2000)]]));
      const refused = await p.response(1);
      expect(refused.fields).toContainEqual([':status', '431']);
      expect(small.started.length).toBe(0);
      p.write(headersFrame(3));
      expect((await p.response(3)).body.toString()).toBe('ok /ping 0');
    } finally {
      await small.close(0);
    }
  });

  it.each([
    ['an index of 0', Buffer.from([0x80])],
    ['an index past the tables', Buffer.from([0xff, 0x7f])],
    ['a string longer than the block', Buffer.from([0x00, 0x7f, 0x10, 0x61])],
  ])('a header block with %s is COMPRESSION_ERROR', async (_name, block) => {
    const p = await peer();
    p.write(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block));
    await expectGoaway(p, E.COMPRESSION_ERROR);
    await expectServesAnotherConnection();
  });
});

describe('rapid reset (CVE-2023-44487)', () => {
  const openAndReset = (first: number, count: number): Buffer =>
    Buffer.concat(
      Array.from({ length: count }, (_, i) => {
        const id = first + 2 * i;
        return Buffer.concat([
          headersFrame(id, GET, F.END_HEADERS),
          frame(T.RST_STREAM, 0, id, u32(E.CANCEL)),
        ]);
      }),
    );

  it('streams reset in the read that opened them never reach the handler', async () => {
    const started = echo.started.length;
    const p = await peer();
    p.write(openAndReset(1, 50));
    p.write(headersFrame(101));
    expect((await p.response(101)).body.toString()).toBe('ok /ping 0');
    expect(echo.started.length - started).toBeLessThanOrEqual(1);
  });

  it('more resets than the budget close the connection with ENHANCE_YOUR_CALM', async () => {
    const p = await peer();
    p.write(openAndReset(1, 2000));
    await expectGoaway(p, E.ENHANCE_YOUR_CALM);
    await expectServesAnotherConnection();
  });
});

describe('resets the peer makes us send (MadeYouReset, CVE-2025-8671)', () => {
  it('stream errors on running streams spend the reset budget: past it, ENHANCE_YOUR_CALM', async () => {
    const budget = await startEchoServer({ limits: { resetBurst: 5, resetsPerSecond: 0.001 } });
    try {
      const p = await peer(true, budget.port);
      const hold: (readonly [string, string])[] = [...GET.slice(0, 2), [':path', '/hold']];
      for (let i = 0; i < 8; i++) {
        const id = 1 + 2 * i;
        p.write(headersFrame(id, hold, F.END_HEADERS));
        await waitFor('the handler to start', () => budget.started.length === i + 1);
        // A WINDOW_UPDATE of 0: a stream error PROTOCOL_ERROR on a stream already running.
        p.write(frame(T.WINDOW_UPDATE, 0, id, u32(0)));
        if (i < 5) expect(await p.resetCode(id)).toBe(E.PROTOCOL_ERROR);
        else break;
      }
      await expectGoaway(p, E.ENHANCE_YOUR_CALM);
      await expectServesAnotherConnection(budget.port);
    } finally {
      await budget.close(0);
    }
  });
});

describe('floods of frames that need an answer', () => {
  it.each([
    ['PING', frame(T.PING, 0, 0, Buffer.alloc(8))],
    ['SETTINGS', frame(T.SETTINGS, 0, 0)],
  ])(
    'a %s flood from a peer that never reads ends with ENHANCE_YOUR_CALM, not with memory',
    async (_name, one) => {
      const p = await peer();
      p.skip = (f) => f.type === T.PING || f.type === T.SETTINGS;
      p.socket.pause();
      const batch = Buffer.concat(Array.from({ length: 60_000 }, () => one));
      // About 20 MB: more than the kernel's socket buffers both ways hold.
      for (let i = 0; i < 20; i++) p.socket.write(batch);
      // Wait until the server stops taking our bytes: they stay unsent on our side.
      let last = -1;
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const unsent = p.socket.writableLength;
        if (unsent === last || unsent === 0) break;
        last = unsent;
      }
      expect(p.socket.writableLength).toBeGreaterThan(1_000_000);
      p.socket.resume();
      await expectGoaway(p, E.ENHANCE_YOUR_CALM);
      await expectServesAnotherConnection();
    },
    60_000,
  );
});

describe('flow control (RFC 9113 5.2, 6.9)', () => {
  it('DATA past the window we advertised is FLOW_CONTROL_ERROR', async () => {
    const tight = await startEchoServer({ limits: { streamWindowBytes: 8192 } });
    try {
      const p = await peer(true, tight.port);
      await p.waitFor((f) => f.type === T.SETTINGS && (f.flags & F.ACK) === 0);
      p.write(frame(T.SETTINGS, F.ACK, 0));
      p.write(headersFrame(1, GET, F.END_HEADERS), frame(T.DATA, 0, 1, Buffer.alloc(8193)));
      await expectGoaway(p, E.FLOW_CONTROL_ERROR);
      await expectServesAnotherConnection(tight.port);
    } finally {
      await tight.close(0);
    }
  });

  it('a stream window below 65,535 holds only once the peer acknowledged it', async () => {
    const tight = await startEchoServer({ limits: { streamWindowBytes: 8192 } });
    try {
      const p = await peer(true, tight.port);
      // No SETTINGS ACK yet: the peer may still use the default window (RFC 9113 6.9.2).
      p.write(
        headersFrame(1, GET, F.END_HEADERS),
        frame(T.DATA, F.END_STREAM, 1, Buffer.alloc(16_000)),
      );
      expect((await p.response(1)).body.toString()).toBe('ok /ping 16000');
    } finally {
      await tight.close(0);
    }
  });

  it('a 1 MiB request body gets WINDOW_UPDATEs as it is delivered', async () => {
    const p = await peer();
    p.write(headersFrame(1, [...GET.slice(0, 2), [':path', '/upload']], F.END_HEADERS));
    const chunk = Buffer.alloc(16_384, 0x62);
    const total = 64 * chunk.length;
    let sent = 0;
    let connWindow = 65_535;
    let streamWindow = 65_535;
    const credit = (id: number): number =>
      p.frames
        .filter((f) => f.type === T.WINDOW_UPDATE && f.streamId === id)
        .reduce((sum, f) => sum + f.payload.readUInt32BE(0), 0);
    while (sent < total) {
      // Only what the server granted: its SETTINGS and WINDOW_UPDATEs.
      await p.waitFor(() => {
        const settingsFrame = p.frames.find(
          (f) => f.type === T.SETTINGS && (f.flags & F.ACK) === 0,
        );
        if (settingsFrame !== undefined)
          for (let i = 0; i < settingsFrame.payload.length; i += 6)
            if (settingsFrame.payload.readUInt16BE(i) === 4)
              streamWindow = settingsFrame.payload.readUInt32BE(i + 2);
        connWindow = 65_535 + credit(0);
        return Math.min(connWindow, streamWindow + credit(1)) - sent >= chunk.length;
      });
      sent += chunk.length;
      p.write(frame(T.DATA, sent === total ? F.END_STREAM : 0, 1, chunk));
    }
    expect((await p.response(1)).body.toString()).toBe(`ok /upload ${total}`);
  });

  it('a WINDOW_UPDATE of 0 on the connection is PROTOCOL_ERROR', async () => {
    const p = await peer();
    p.write(frame(T.WINDOW_UPDATE, 0, 0, u32(0)));
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it('a WINDOW_UPDATE of 0 on a stream is a stream error PROTOCOL_ERROR', async () => {
    const p = await peer();
    p.write(
      headersFrame(1, [...GET.slice(0, 2), [':path', '/hold']]),
      frame(T.WINDOW_UPDATE, 0, 1, u32(0)),
    );
    await expectStreamReset(p, 1, E.PROTOCOL_ERROR, 3);
  });

  it('a connection window past 2^31-1 is FLOW_CONTROL_ERROR', async () => {
    const p = await peer();
    p.write(frame(T.WINDOW_UPDATE, 0, 0, u32(2 ** 31 - 1)));
    await expectGoaway(p, E.FLOW_CONTROL_ERROR);
    await expectServesAnotherConnection();
  });

  it('a stream window past 2^31-1 is a stream error FLOW_CONTROL_ERROR', async () => {
    const p = await peer();
    p.write(
      headersFrame(1, [...GET.slice(0, 2), [':path', '/hold']]),
      frame(T.WINDOW_UPDATE, 0, 1, u32(2 ** 31 - 1)),
    );
    await expectStreamReset(p, 1, E.FLOW_CONTROL_ERROR, 3);
  });

  it('SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1 is FLOW_CONTROL_ERROR', async () => {
    const p = await peer();
    p.write(settings([4, 2 ** 31]));
    await expectGoaway(p, E.FLOW_CONTROL_ERROR);
    await expectServesAnotherConnection();
  });

  it('our DATA waits for window, and SETTINGS_INITIAL_WINDOW_SIZE changes apply to open streams', async () => {
    const p = await peer(false);
    p.write(
      PREFACE,
      settings([4, 0]),
      headersFrame(1, [...GET.slice(0, 2), [':path', '/big/100']]),
    );
    await p.waitFor((f) => f.type === T.HEADERS && f.streamId === 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const dataSoFar = (): number =>
      p.frames
        .filter((f) => f.type === T.DATA && f.streamId === 1)
        .reduce((n, f) => n + f.payload.length, 0);
    expect(dataSoFar()).toBe(0);
    // RFC 9113 6.9.2: the new initial window applies to the open stream: 40 octets may go.
    p.write(settings([4, 40]));
    await p.waitFor(() => dataSoFar() === 40);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(dataSoFar()).toBe(40);
    p.write(frame(T.WINDOW_UPDATE, 0, 1, u32(60)));
    const response = await p.response(1);
    expect(response.body.length).toBe(100);
    expect(response.trailers).toContainEqual(['x-received', '0']);
  });
});

describe('SETTINGS and PUSH_PROMISE (RFC 9113 6.5.2, 8.4)', () => {
  it('PUSH_PROMISE from a client is PROTOCOL_ERROR', async () => {
    const p = await peer();
    p.write(headersFrame(1, [...GET.slice(0, 2), [':path', '/hold']]));
    p.write(frame(T.PUSH_PROMISE, F.END_HEADERS, 1, Buffer.concat([u32(2), literalBlock(GET)])));
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it('SETTINGS_ENABLE_PUSH other than 0 or 1 is PROTOCOL_ERROR', async () => {
    const p = await peer();
    p.write(settings([2, 2]));
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it.each([
    ['below 16,384', 16_383],
    ['above 2^24-1', 2 ** 24],
  ])('SETTINGS_MAX_FRAME_SIZE %s is PROTOCOL_ERROR', async (_name, value) => {
    const p = await peer();
    p.write(settings([5, value]));
    await expectGoaway(p, E.PROTOCOL_ERROR);
    await expectServesAnotherConnection();
  });

  it('unknown frame types and unknown settings are ignored (RFC 9113 5.5)', async () => {
    const p = await peer();
    p.write(settings([0x99, 7], [0x4242, 1]), frame(0x20, 0xff, 0, Buffer.from('extension')));
    p.write(frame(0xfa, 0, 1, Buffer.from('on a stream')), headersFrame(1));
    expect((await p.response(1)).body.toString()).toBe('ok /ping 0');
    expect(p.frames.filter((f) => f.type === T.SETTINGS && (f.flags & F.ACK) !== 0)).toHaveLength(
      2,
    );
  });

  it('without SETTINGS_MAX_CONCURRENT_STREAMS, streams past our own bound are REFUSED_STREAM', async () => {
    const bounded = await startEchoServer({ limits: { maxOpenStreams: 3 } });
    try {
      const p = await peer(true, bounded.port);
      const settingsFrame = await p.waitFor(
        (f) => f.type === T.SETTINGS && (f.flags & F.ACK) === 0,
      );
      for (let i = 0; i < settingsFrame.payload.length; i += 6)
        expect(settingsFrame.payload.readUInt16BE(i)).not.toBe(3);
      const hold: (readonly [string, string])[] = [...GET.slice(0, 2), [':path', '/hold']];
      p.write(
        headersFrame(1, hold),
        headersFrame(3, hold),
        headersFrame(5, hold),
        headersFrame(7, hold),
      );
      expect(await p.resetCode(7)).toBe(E.REFUSED_STREAM);
      bounded.release();
      await p.response(5);
      p.write(headersFrame(9));
      expect((await p.response(9)).body.toString()).toBe('ok /ping 0');
    } finally {
      await bounded.close(0);
    }
  });

  it('SETTINGS_MAX_CONCURRENT_STREAMS is advertised and past it a stream is REFUSED_STREAM', async () => {
    const limited = await startEchoServer({ maxConcurrentStreams: 2 });
    try {
      const p = await peer(true, limited.port);
      const hold: [string, string][] = [...GET.slice(0, 2), [':path', '/hold']] as [
        string,
        string,
      ][];
      p.write(headersFrame(1, hold), headersFrame(3, hold), headersFrame(5, hold));
      expect(await p.resetCode(5)).toBe(E.REFUSED_STREAM);
      limited.release();
      await p.response(1);
      await p.response(3);
      p.write(headersFrame(7));
      expect((await p.response(7)).body.toString()).toBe('ok /ping 0');
      expect(limited.started.map((s) => s.id)).toEqual([1, 3, 7]);
    } finally {
      await limited.close(0);
    }
  });
});

const base = (): (readonly [string, string])[] => GET.filter(([n]) => n !== ':path');

describe('malformed requests are a stream error PROTOCOL_ERROR (RFC 9113 8.2, 8.3.1)', () => {
  const base = GET;
  const without = (name: string): [string, string][] =>
    base.filter(([n]) => n !== name) as [string, string][];
  it.each<[string, (readonly [string, string])[]]>([
    ['an upper-case field name', [...base, ['X-Upper', '1']]],
    ['an upper-case pseudo-header', [[':Method', 'GET'], ...base.slice(1)]],
    ['a field name with a space', [...base, ['x bad', '1']]],
    ['a value with a line feed', [...base, ['x-v', 'a\nb']]],
    ['a value with leading white space', [...base, ['x-v', ' a']]],
    ['connection', [...base, ['connection', 'close']]],
    ['keep-alive', [...base, ['keep-alive', 'timeout=5']]],
    ['proxy-connection', [...base, ['proxy-connection', 'keep-alive']]],
    ['transfer-encoding', [...base, ['transfer-encoding', 'chunked']]],
    ['upgrade', [...base, ['upgrade', 'h2c']]],
    ['te other than trailers', [...base, ['te', 'gzip']]],
    [
      'a pseudo-header after a regular field',
      [...without(':authority'), ['x-a', '1'], [':authority', 'gatehouse.test']],
    ],
    ['an unknown pseudo-header', [...base, [':protocol', 'websocket']]],
    ['a response pseudo-header', [...base, [':status', '200']]],
    ['a duplicate :path', [...base, [':path', '/other']]],
    ['a duplicate :method', [[':method', 'GET'], ...base]],
    ['no :method', without(':method')],
    ['no :scheme', without(':scheme')],
    ['no :path', without(':path')],
    ['an empty :path', [...without(':path'), [':path', '']]],
    ['a content-length that is not a number', [...base, ['content-length', '1e3']]],
    ['a content-length with END_STREAM and no DATA', [...base, ['content-length', '5']]],
  ])('%s', async (_name, fields) => {
    const started = echo.started.length;
    const p = await peer();
    p.write(headersFrame(1, fields));
    await expectStreamReset(p, 1, E.PROTOCOL_ERROR, 3);
    expect(echo.started.length - started).toBe(1);
  });

  it('te: trailers is allowed', async () => {
    const p = await peer();
    p.write(headersFrame(1, [...base, ['te', 'trailers']]));
    expect((await p.response(1)).body.toString()).toBe('ok /ping 0');
  });

  it('DATA past the declared content-length', async () => {
    const p = await peer();
    p.write(
      headersFrame(1, [...base, ['content-length', '2']], F.END_HEADERS),
      frame(T.DATA, 0, 1, Buffer.from('abc')),
    );
    await expectStreamReset(p, 1, E.PROTOCOL_ERROR, 3);
  });

  it('DATA short of the declared content-length at END_STREAM', async () => {
    const p = await peer();
    p.write(
      headersFrame(1, [...base, ['content-length', '5']], F.END_HEADERS),
      frame(T.DATA, F.END_STREAM, 1, Buffer.from('abc')),
    );
    await expectStreamReset(p, 1, E.PROTOCOL_ERROR, 3);
  });

  it('DATA matching the declared content-length is served', async () => {
    const p = await peer();
    p.write(
      headersFrame(1, [...base, ['content-length', '3']], F.END_HEADERS),
      frame(T.DATA, F.END_STREAM, 1, Buffer.from('abc')),
    );
    expect((await p.response(1)).body.toString()).toBe('ok /ping 3');
  });
});

describe('our side of the connection', () => {
  it('a handler that throws gets its stream reset with INTERNAL_ERROR, the connection goes on', async () => {
    const p = await peer();
    p.write(headersFrame(1, [...base(), [':path', '/throw']]));
    await expectStreamReset(p, 1, E.INTERNAL_ERROR, 3);
  });

  it("a response header block larger than the peer's frame size goes out as HEADERS + CONTINUATION", async () => {
    const p = await peer();
    p.write(headersFrame(1, [...base(), [':path', '/fat-headers/40000']]));
    const response = await p.response(1);
    const frames = p.frames.filter(
      (f) => f.streamId === 1 && (f.type === T.HEADERS || f.type === T.CONTINUATION),
    );
    expect(frames.map((f) => f.type).slice(0, 4)).toEqual([
      T.HEADERS,
      T.CONTINUATION,
      T.CONTINUATION,
      T.HEADERS,
    ]);
    expect((frames[0]?.flags ?? -1) & F.END_HEADERS).toBe(0);
    expect((frames[2]?.flags ?? 0) & F.END_HEADERS).toBe(F.END_HEADERS);
    const block = Buffer.concat(frames.slice(0, 3).map((f) => f.payload));
    expect(readResponseBlock(block)).toContainEqual(['x-fat', 'f'.repeat(40_000)]);
    expect(response.body.toString()).toBe('fat');
  });

  it('a peer that lowers SETTINGS_HEADER_TABLE_SIZE gets a table size update first in our next block', async () => {
    const p = await peer(false);
    p.write(PREFACE, settings([1, 0]), headersFrame(1));
    await p.response(1);
    const headers = p.frames.filter((f) => f.streamId === 1 && f.type === T.HEADERS);
    // RFC 7541 6.3: 001xxxxx with size 0, once.
    expect(headers[0]?.payload[0]).toBe(0x20);
    expect(headers[1]?.payload[0]).not.toBe(0x20);
  });

  it('a GOAWAY from the peer: the open stream finishes, then the server closes the connection', async () => {
    const p = await peer();
    p.write(headersFrame(1, [...base(), [':path', '/hold']]));
    await waitFor('the held stream', () =>
      echo.started.some((s) => s.header(':path') === '/hold' && !s.aborted),
    );
    p.write(frame(T.GOAWAY, 0, 0, u32(0, E.NO_ERROR)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(p.closed).toBe(false);
    echo.release();
    expect((await p.response(1)).body.toString()).toBe('ok /hold 0');
    await p.closedPromise;
  });

  it('after our graceful GOAWAY, streams the peer opens later are not processed', async () => {
    const closing = await startEchoServer();
    const p = await peer(true, closing.port);
    p.write(headersFrame(1, [...base(), [':path', '/hold']]));
    await waitFor('the held stream', () => closing.started.length === 1);
    const closed = closing.close(10_000);
    const goaway = await p.waitFor((f) => f.type === T.GOAWAY);
    expect(goaway.payload.readUInt32BE(0)).toBe(1);
    expect(goaway.payload.readUInt32BE(4)).toBe(E.NO_ERROR);
    p.write(headersFrame(3));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(closing.started).toHaveLength(1);
    closing.release();
    expect((await p.response(1)).body.toString()).toBe('ok /hold 0');
    await closed;
    await p.closedPromise;
  });
});
