import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/**
 * A real OPA decision-log receiver: gzip'd JSON arrays POSTed to /logs. It can be down
 * (not listening: connection refused), slow (answers after a delay) or up.
 */
export class DecisionLogReceiver {
  readonly records: Array<Record<string, unknown>> = [];
  readonly requests: Array<{ encoding: string | undefined; type: string | undefined }> = [];
  delayMs = 0;
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((resolve) => {
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${String(this.port)}/logs`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    // Counted only when the answer is about to go out: what the client sees as delivered.
    if (res.destroyed) return;
    this.requests.push({
      encoding: req.headers['content-encoding'],
      type: req.headers['content-type'],
    });
    const batch = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8')) as Array<
      Record<string, unknown>
    >;
    this.records.push(...batch);
    res.writeHead(204).end();
  }
}
