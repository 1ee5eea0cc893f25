import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';

/**
 * Both sides of a real proxy (Envoy, NGINX) in front of Gatehouse: an upstream that records
 * what the proxy forwarded, and a client that sends the request-target byte for byte.
 */

export interface UpstreamHit {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

export interface ClientResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface RecordingUpstream {
  readonly server: Server;
  readonly port: number;
  /** Every request the upstream received, oldest first. */
  readonly hits: UpstreamHit[];
  /** Closes the server and any connection the proxy keeps open. */
  close(): Promise<void>;
}

/**
 * A node:http server on a free loopback port that answers 200 and records every request it
 * receives. `echo`: the body is the hit as JSON, so the client sees what arrived; otherwise
 * the text `upstream`.
 */
export async function startRecordingUpstream(
  options: { readonly echo?: boolean } = {},
): Promise<RecordingUpstream> {
  const hits: UpstreamHit[] = [];
  const server = createServer((req, res) => {
    const hit: UpstreamHit = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    hits.push(hit);
    if (options.echo === true) {
      const body = JSON.stringify(hit);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 8 });
    res.end('upstream');
  });
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/**
 * One GET with the request-target sent byte for byte as given (node:http does not normalize
 * `path`; fetch would resolve `..`, `%2e%2e` and `//` before sending).
 */
export function rawGet(
  baseUrl: string,
  target: string,
  headers: OutgoingHttpHeaders = {},
): Promise<ClientResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: hostname, port, path: target, method: 'GET', headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** `Authorization: Bearer <token>`. */
export function bearer(token: string): OutgoingHttpHeaders {
  return { authorization: `Bearer ${token}` };
}

/** Gatehouse's count of `transport`'s decisions with `code`, from its /metrics. */
export async function countedDecisions(
  gatehouseHttpBase: string,
  transport: string,
  code: string,
): Promise<number> {
  const text = await (await fetch(`${gatehouseHttpBase}/metrics`)).text();
  return text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('gatehouse_check_decisions_total{') &&
        line.includes(`transport="${transport}"`) &&
        line.includes(`code="${code}"`),
    )
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** A proxy in front of a recording upstream, asking a Gatehouse that labels it `transport`. */
export interface ProxyPath {
  readonly proxyBaseUrl: string;
  readonly upstream: RecordingUpstream;
  readonly gatehouseHttpBase: string;
  readonly transport: string;
}

export interface ThroughProxy {
  /** What the client got. */
  readonly res: ClientResponse;
  /** What the upstream received; undefined when the proxy did not forward the request. */
  readonly seen: UpstreamHit | undefined;
  /** How many more decisions with `code` Gatehouse counted for the transport (1: it decided). */
  readonly counted: number;
}

/**
 * The request through the proxy: what the client got, whether (and as what) the upstream
 * was reached, and whether Gatehouse decided on it with `code`. A request reaches the
 * upstream at most once.
 */
export async function throughProxy(
  path: ProxyPath,
  target: string,
  headers: OutgoingHttpHeaders,
  code: string,
): Promise<ThroughProxy> {
  const count = (): Promise<number> =>
    countedDecisions(path.gatehouseHttpBase, path.transport, code);
  const before = await count();
  const hitsBefore = path.upstream.hits.length;
  const res = await rawGet(path.proxyBaseUrl, target, headers);
  const counted = (await count()) - before;
  expect(path.upstream.hits.length - hitsBefore).toBeLessThanOrEqual(1);
  return { res, seen: path.upstream.hits[hitsBefore], counted };
}
