import { connect, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';

/** What a raw HTTP/2 client saw of one request: the response headers, the body, the trailers. */
export interface RawH2Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Trailers, or the headers of a Trailers-Only answer (grpc-status in the one HEADERS). */
  readonly trailers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * One POST on a fresh node:http2 (h2c) connection, bytes and headers exactly as given: for
 * the protocol faults a gRPC client library never sends (wrong content-type, truncated
 * messages, unknown compression, a grpc-timeout that does not parse).
 */
export function rawH2Call(
  port: number,
  headers: OutgoingHttpHeaders,
  body: Buffer,
): Promise<RawH2Answer> {
  const session = connect(`http://127.0.0.1:${port}`);
  return new Promise<RawH2Answer>((resolve, reject) => {
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', te: 'trailers', ...headers });
    let responseHeaders: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (received) => {
      responseHeaders = received;
    });
    stream.on('trailers', (received: IncomingHttpHeaders) => {
      trailers = received;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('close', () => {
      resolve({
        status: Number(responseHeaders[':status']),
        headers: responseHeaders,
        trailers: trailers ?? responseHeaders,
        body: Buffer.concat(chunks),
      });
    });
    stream.end(body);
  }).finally(() => {
    session.close();
  });
}
