import { constants, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoServer, type EchoServer } from './echo-server.js';
import { waitFor } from '../../helpers/wait-for.js';
import { h2c, request } from './node-client.js';

// Gatehouse's HTTP/2 server with a real peer: node:http2's client (nghttp2), with Huffman,
// the dynamic table, its own flow control and GOAWAY handling.

let echo: EchoServer;
const sessions: ClientHttp2Session[] = [];

beforeAll(async () => {
  echo = await startEchoServer();
});

afterAll(async () => {
  for (const s of sessions) s.destroy();
  await echo.close(0);
});

function session(options?: SecureClientSessionOptions): ClientHttp2Session {
  const s = h2c(echo.port, options);
  sessions.push(s);
  return s;
}

describe('node:http2 client against the Gatehouse HTTP/2 server', () => {
  it('answers a request, with its fields lowercased and in order, trailers included', async () => {
    const s = session();
    const started = echo.started.length;
    const answer = await request(s, '/ping');
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe('ok /ping 0');
    expect(answer.trailers['x-received']).toBe('0');
    const stream = echo.started[started];
    expect(stream?.header(':method')).toBe('GET');
    expect(stream?.header('x-test')).toBe('Value With Spaces');
    expect(
      stream?.fields
        .slice(0, 8)
        .filter((_, i) => i % 2 === 0)
        .every((n) => n.startsWith(':')),
    ).toBe(true);
  });

  it('serves 300 concurrent streams on one connection', async () => {
    const s = session();
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => request(s, `/n/${i}`)));
    answers.forEach((a, i) => {
      expect(a.status).toBe(200);
      expect(a.body.toString()).toBe(`ok /n/${i} 0`);
    });
  });

  it('takes a 1 MiB request body: our receive windows replenish as it is delivered', async () => {
    const s = session();
    const body = Buffer.alloc(1024 * 1024, 0x7a);
    const answer = await request(s, '/upload', body);
    expect(answer.body.toString()).toBe(`ok /upload ${body.length}`);
    expect(answer.trailers['x-received']).toBe(String(body.length));
  });

  it('sends a large response to a client with a tiny window, waiting for its WINDOW_UPDATEs', async () => {
    const s = session({ settings: { initialWindowSize: 1024 } });
    const [small, big] = await Promise.all([request(s, '/big/300000'), request(s, '/big/70000')]);
    expect(small.body.length).toBe(300_000);
    expect(small.body.every((b) => b === 0x61)).toBe(true);
    expect(big.body.length).toBe(70_000);
    expect(small.trailers['x-received']).toBe('0');
  });

  it('advertises SETTINGS_MAX_CONCURRENT_STREAMS: nghttp2 holds its streams past it until ours end', async () => {
    const limited = await startEchoServer({ maxConcurrentStreams: 4 });
    try {
      const s = h2c(limited.port);
      sessions.push(s);
      await request(s, '/ping');
      const held = Array.from({ length: 4 }, () => request(s, '/hold'));
      await waitFor('4 held streams', () => limited.started.length === 5);
      const more = [request(s, '/ping'), request(s, '/ping')];
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(limited.started).toHaveLength(5);
      limited.release();
      const answers = await Promise.all([...held, ...more]);
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    } finally {
      await limited.close(0);
    }
  });
});

describe('graceful close (RFC 9113 6.8)', () => {
  it('GOAWAY(NO_ERROR), the open streams finish, then the socket closes', async () => {
    const server = await startEchoServer();
    const s = h2c(server.port);
    sessions.push(s);
    await request(s, '/ping');
    const held = [request(s, '/hold'), request(s, '/hold')];
    await new Promise((resolve) => setTimeout(resolve, 100));
    const goaway = once(s, 'goaway') as Promise<[number, number]>;
    const closing = server.close(10_000);
    const [code, lastStreamId] = await goaway;
    expect(code).toBe(constants.NGHTTP2_NO_ERROR);
    expect(lastStreamId).toBe(5);
    let closed = false;
    void closing.then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(closed).toBe(false);
    server.release();
    const answers = await Promise.all(held);
    expect(answers.map((a) => [a.status, a.body.toString()])).toEqual([
      [200, 'ok /hold 0'],
      [200, 'ok /hold 0'],
    ]);
    await closing;
    await once(s, 'close');
  });

  it('past the grace period the open streams are reset and the sockets destroyed', async () => {
    const server = await startEchoServer();
    const s = h2c(server.port);
    sessions.push(s);
    const held = request(s, '/hold');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const began = Date.now();
    await server.close(300);
    expect(Date.now() - began).toBeGreaterThanOrEqual(250);
    const answer = await held;
    expect(answer.status).toBeUndefined();
    expect(server.aborted).toHaveLength(1);
  });

  it('a closed server refuses new connections', async () => {
    const server = await startEchoServer();
    await server.close(0);
    const s = h2c(server.port);
    const [error] = (await once(s, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
  });
});
