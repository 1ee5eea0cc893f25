import { encodeHeaderBlock } from '../../../src/transport/h2/hpack-encoder.js';
import {
  createH2Server,
  type H2Server,
  type H2ServerOptions,
  type H2ServerStream,
} from '../../../src/transport/h2/h2-server.js';
import { silentLogger } from '../../../src/observability/logger.js';

/**
 * A real H2Server with a tiny handler, for the transport tests:
 * - `/ping` and any other path: after END_STREAM, one sendResponse: 200, body
 *   "ok <path> <request octets>", trailer `x-received: <request octets>`;
 * - `/big/<n>`: headers, n octets of DATA (sendData, waiting for window), trailers;
 * - `/fat-headers/<n>`: a response header block of n octets and more (CONTINUATION);
 * - `/throw`: the handler throws at END_STREAM;
 * - `/hold`: no answer until `release()` (graceful close tests).
 */
export interface EchoServer {
  readonly server: H2Server;
  readonly port: number;
  /** Streams the handler was given, in order. */
  readonly started: H2ServerStream[];
  /** Streams whose onAbort ran. */
  readonly aborted: H2ServerStream[];
  /** Answers every held `/hold` stream. */
  release(): void;
  close(graceMs?: number): Promise<void>;
}

export const RESPONSE_HEADERS = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'text/plain'],
]);

export function trailersBlock(received: number): Buffer {
  return encodeHeaderBlock([['x-received', String(received)]]);
}

export async function startEchoServer(
  extra: Partial<Omit<H2ServerOptions, 'onStream' | 'logger'>> = {},
): Promise<EchoServer> {
  const started: H2ServerStream[] = [];
  const aborted: H2ServerStream[] = [];
  const held: (() => void)[] = [];
  const server = createH2Server({
    ...extra,
    logger: silentLogger(),
    onStream(stream) {
      started.push(stream);
      let received = 0;
      stream.onData = (chunk) => {
        received += chunk.length;
      };
      stream.onAbort = () => {
        aborted.push(stream);
      };
      stream.onEnd = () => {
        const path = stream.header(':path') ?? '';
        if (path === '/throw') throw new Error('handler failure');
        const answer = (): void => {
          if (path.startsWith('/fat-headers/')) {
            const fat = encodeHeaderBlock([
              [':status', '200'],
              ['x-fat', 'f'.repeat(Number(path.slice(13)))],
            ]);
            stream.sendResponse(fat, Buffer.from('fat'), trailersBlock(received));
            return;
          }
          if (path.startsWith('/big/')) {
            const n = Number(path.slice(5));
            stream.sendHeaders(RESPONSE_HEADERS, false);
            stream.sendData(Buffer.alloc(n, 0x61), false);
            stream.sendHeaders(trailersBlock(received), true);
            return;
          }
          stream.sendResponse(
            RESPONSE_HEADERS,
            Buffer.from(`ok ${path} ${received}`),
            trailersBlock(received),
          );
        };
        if (path === '/hold') held.push(answer);
        else answer();
      };
    },
  });
  const port = await server.listen('127.0.0.1', 0);
  return {
    server,
    port,
    started,
    aborted,
    release() {
      for (const answer of held.splice(0)) answer();
    },
    close: (graceMs = 0) => server.close(graceMs),
  };
}
