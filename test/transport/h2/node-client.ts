import { connect, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';

/** node:http2's client (nghttp2) as the real peer of the h2 server tests. */

export interface Answer {
  readonly status: number | undefined;
  readonly body: Buffer;
  readonly trailers: Record<string, string | string[] | undefined>;
  readonly rstCode: number;
}

export function request(session: ClientHttp2Session, path: string, body?: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const stream = session.request(
      {
        ':method': body === undefined ? 'GET' : 'POST',
        ':path': path,
        'x-test': 'Value With Spaces',
      },
      { endStream: body === undefined },
    );
    let status: number | undefined;
    let trailers: Answer['trailers'] = {};
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => {
      status = headers[':status'];
    });
    stream.on('trailers', (t: Answer['trailers']) => {
      trailers = t;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => undefined);
    stream.on('close', () => {
      resolve({ status, body: Buffer.concat(chunks), trailers, rstCode: stream.rstCode });
    });
    stream.on('aborted', () => undefined);
    if (body !== undefined) stream.end(body);
  });
}

export function h2c(port: number, options: SecureClientSessionOptions = {}): ClientHttp2Session {
  const session = connect(`http://127.0.0.1:${port}`, options);
  session.on('error', () => undefined);
  return session;
}
