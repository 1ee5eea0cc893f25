import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleSink } from '../../src/observability/decision-log/console-sink.js';
import { ServiceSink } from '../../src/observability/decision-log/service-sink.js';
import { DecisionLogShipper } from '../../src/observability/decision-log/shipper.js';
import type { DecisionLogSink } from '../../src/observability/decision-log/sink.js';
import { silentLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { waitFor } from '../helpers/wait-for.js';

const BATCHING = {
  maxBatchRecords: 3,
  maxBatchBytes: 64 * 1024,
  flushIntervalMs: 20,
  maxBufferedRecords: 10,
  backoffMinMs: 10,
  backoffMaxMs: 50,
};

function shipper(sink: DecisionLogSink, metrics: Metrics): DecisionLogShipper<number> {
  return new DecisionLogShipper<number>({
    ...BATCHING,
    sink,
    encode: (n) => JSON.stringify({ decision_id: String(n) }),
    metrics,
    logger: silentLogger(),
  });
}

async function series(metrics: Metrics, name: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }
});

async function answering(status: number): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(status).end());
  });
  servers.push(server);
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/logs`;
}

describe('decision-log shipper: every record is sent or counted as dropped', () => {
  it('a receiver that refuses batches for good (400) has them counted as rejected, not retried forever', async () => {
    const metrics = new Metrics();
    const queue = shipper(new ServiceSink({ url: await answering(400), timeoutMs: 2000 }), metrics);
    for (let i = 0; i < 7; i++) queue.enqueue(i);
    await waitFor(
      'all rejected',
      async () =>
        (await series(
          metrics,
          'gatehouse_decision_logs_dropped_total{sink="service",reason="rejected"}',
        )) === 7,
    );
    expect(await series(metrics, 'gatehouse_decision_logs_sent_total{sink="service"}')).toBe(0);
    await queue.close(1000);
  });

  it('stopping with a dead receiver counts what is left as dropped at shutdown', async () => {
    const metrics = new Metrics();
    // Port 9 (discard) on loopback: nothing listens, connections are refused.
    const queue = shipper(
      new ServiceSink({ url: 'http://127.0.0.1:9/logs', timeoutMs: 2000 }),
      metrics,
    );
    for (let i = 0; i < 8; i++) queue.enqueue(i);
    await waitFor(
      'an upload failure',
      async () =>
        (await series(
          metrics,
          'gatehouse_decision_logs_upload_failures_total{sink="service",reason="ECONNREFUSED"}',
        )) > 0,
    );
    await queue.close(500);
    queue.enqueue(99); // after close: counted too
    expect(
      await series(
        metrics,
        'gatehouse_decision_logs_dropped_total{sink="service",reason="shutdown"}',
      ),
    ).toBe(9);
    expect(await series(metrics, 'gatehouse_decision_logs_buffered_records{sink="service"}')).toBe(
      0,
    );
  });

  it('the console sink writes one JSON line per record, in order', async () => {
    const metrics = new Metrics();
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    const queue = shipper(new ConsoleSink(stream), metrics);
    for (let i = 0; i < 5; i++) queue.enqueue(i);
    await queue.close(1000);
    const lines = chunks.join('').trimEnd().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { decision_id: string }).decision_id)).toEqual([
      '0',
      '1',
      '2',
      '3',
      '4',
    ]);
    expect(await series(metrics, 'gatehouse_decision_logs_sent_total{sink="console"}')).toBe(5);
  });
});
