import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny node:http introspection endpoint whose answers a test scripts: the cases a real
 * authorization server does not produce on demand (wrong types, a hang, a past `exp`).
 */

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly form: URLSearchParams;
}

export type ScriptedAnswer =
  | {
      readonly status?: number;
      /** Default application/json. */
      readonly contentType?: string;
      /** A string is sent as it is; anything else as JSON. */
      readonly body: unknown;
      /** Wait this long before answering, in milliseconds. */
      readonly delayMs?: number;
      /** Send the body chunked, without a Content-Length. */
      readonly chunked?: boolean;
    }
  /** Never answer: the connection stays open until the server closes. */
  | 'hang';

export type Script = (request: RecordedRequest) => ScriptedAnswer;

export interface ScriptedServer {
  /** The endpoint URL: http://127.0.0.1:PORT/introspect */
  readonly endpoint: string;
  readonly requests: readonly RecordedRequest[];
  /** Replaces the script for the next requests. */
  script(script: Script): void;
  close(): Promise<void>;
}

export async function startScriptedServer(initial: Script): Promise<ScriptedServer> {
  let current = initial;
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      };
      requests.push(recorded);
      const answer = current(recorded);
      if (answer === 'hang') return;
      setTimeout(() => {
        res.statusCode = answer.status ?? 200;
        res.setHeader('content-type', answer.contentType ?? 'application/json');
        const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
        if (answer.chunked === true) res.write(text);
        res.end(answer.chunked === true ? undefined : text);
      }, answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/introspect`,
    requests,
    script(script) {
      current = script;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/** Seconds since the epoch, as NumericDate (RFC 7519 section 2). */
export function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}
