/**
 * A bare HTTP/2 server answering every request with one fixed gRPC-shaped response (an empty
 * message, grpc-status 0), so ghz's CPU per call on it is the HTTP/2 server's alone:
 *
 *   taskset -c 0 node --import tsx bench/h2-bare.ts <port> gatehouse|node
 *
 * `gatehouse` is src/transport/h2 (createH2Server, the unary sendResponse path); `node` is
 * node:http2's createServer doing the same (respond, end, trailers). bench/h2-bare-sliced.sh
 * runs both at once and loads them in turn. Prints "ready" on stderr once listening.
 */
import { createServer, type ServerHttp2Stream } from 'node:http2';
import { silentLogger } from '../src/observability/logger.js';
import { createH2Server, type H2ServerStream } from '../src/transport/h2/h2-server.js';
import { encodeHeaderBlock } from '../src/transport/h2/hpack-encoder.js';

const port = Number(process.argv[2] ?? 0);
const kind = process.argv[3] ?? 'gatehouse';
// gRPC framing (grpc/grpc PROTOCOL-HTTP2.md): no compression, length 0.
const EMPTY_MESSAGE = Buffer.alloc(5);

if (kind === 'gatehouse') {
  const headers = encodeHeaderBlock([
    [':status', '200'],
    ['content-type', 'application/grpc'],
  ]);
  const trailers = encodeHeaderBlock([['grpc-status', '0']]);
  function answer(this: H2ServerStream): void {
    this.sendResponse(headers, EMPTY_MESSAGE, trailers);
  }
  const server = createH2Server({
    logger: silentLogger(),
    onStream(stream) {
      stream.onEnd = answer.bind(stream);
    },
  });
  void server.listen('127.0.0.1', port).then(() => process.stderr.write('ready\n'));
} else {
  const server = createServer();
  server.on('stream', (stream: ServerHttp2Stream) => {
    stream.resume();
    // ghz cancels the calls in flight when a slice ends.
    stream.on('error', () => undefined);
    stream.on('end', () => {
      if (stream.destroyed) return;
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () => {
        stream.sendTrailers({ 'grpc-status': '0' });
      });
      stream.end(EMPTY_MESSAGE);
    });
  });
  server.listen(port, '127.0.0.1', () => process.stderr.write('ready\n'));
}

// A clean exit on SIGTERM, so `node --cpu-prof` writes its profile.
process.on('SIGTERM', () => {
  process.exit(0);
});
