import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the test server answers to one request. */
export interface Reply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
  /** Wait this long before answering, in milliseconds. */
  readonly delayMs?: number;
  /** Never answer (until the client gives up or the server closes). */
  readonly hang?: boolean;
}

export interface RecordedRequest {
  readonly headers: IncomingHttpHeaders;
  /** Resolves when the client's connection for this request closes. */
  readonly closed: Promise<void>;
}

export interface BundleServer {
  /** http://127.0.0.1:PORT/bundles/gatehouse.tar.gz */
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** Sets how the next requests are answered; `index` counts every request from 0. */
  reply(handler: (index: number, headers: IncomingHttpHeaders) => Reply): void;
  close(): Promise<void>;
}

/** A real node:http server on 127.0.0.1, port 0, serving whatever the test says. */
export async function startBundleServer(port = 0): Promise<BundleServer> {
  let handler: (index: number, headers: IncomingHttpHeaders) => Reply = () => ({ status: 404 });
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((request, response) => {
    const index = requests.length;
    const closed = new Promise<void>((resolve) => {
      response.once('close', () => {
        resolve();
      });
    });
    requests.push({ headers: request.headers, closed });
    const reply = handler(index, request.headers);
    if (reply.hang === true) return;
    const send = (): void => {
      if (response.destroyed) return;
      response.writeHead(reply.status, reply.headers);
      response.end(reply.body);
    };
    if (reply.delayMs === undefined) send();
    else setTimeout(send, reply.delayMs);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const actualPort = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actualPort}/bundles/gatehouse.tar.gz`,
    port: actualPort,
    requests,
    reply(next) {
      handler = next;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
