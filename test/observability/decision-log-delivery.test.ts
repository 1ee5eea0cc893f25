import type { Client } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { askDoor, DOORS, type Door } from '../helpers/check-doors.js';
import { DecisionLogReceiver as Receiver } from '../helpers/decision-log-receiver.js';
import { metricValue } from '../helpers/status-and-metrics.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { waitFor } from '../helpers/wait-for.js';
import { connect, LogSink } from '../transport/grpc/grpc-test-client.js';

/** The fields of an OPA decision-log event this test reads. */
interface LoggedEvent {
  decision_id: string;
  timestamp: string;
  path: string;
  labels: Record<string, string>;
  bundles: { gatehouse: { revision: string } };
  api: string;
  result: { allowed: boolean; headers: Record<string, string> };
  metrics: Record<string, number>;
  input: {
    attributes: { request: { http: { path: string; headers: Record<string, string> } } };
  };
  erased: string[];
  masked: string[];
}

describe('decision logs: a receiver that goes down, is slow and comes back', () => {
  const receiver = new Receiver();
  const logs = new LogSink();
  let t: TestGatehouse;
  let grpc: Client;
  let token: string;
  /** The deny's code, as the first door answered it: the same on every door, up or down. */
  let denyCode: string | undefined;

  beforeAll(async () => {
    await receiver.start();
    t = await startTestGatehouse({
      logger: createLogger(
        { level: 'warn' },
        {
          write: (line: string) => {
            logs.write(line);
          },
        },
      ),
      config: {
        decisionLogs: {
          service: { url: receiver.url, timeoutMs: 5000 },
          labels: { env: 'test' },
          mask: [
            '/input/attributes/request/http/headers/x-api-key',
            { op: 'upsert', path: '/input/attributes/request/http/headers/x-tenant', value: '***' },
          ],
          maxBatchRecords: 5,
          flushIntervalMs: 50,
          maxBufferedRecords: 20,
          backoffMinMs: 20,
          backoffMaxMs: 200,
        },
      },
    });
    grpc = connect(Number(t.grpcAddress.split(':')[1]));
    token = await t.issuer.sign();
  });

  afterAll(async () => {
    grpc.close();
    await t.close();
    await receiver.stop();
  });

  const ask = (door: Door, allowed: boolean) =>
    askDoor(
      door,
      { grpc, httpBase: t.httpBase },
      {
        method: 'GET',
        // A deny carries an (invalid) token in the query: the log must not show it either.
        path: allowed ? '/orders' : '/orders?access_token=leaky',
        headers: {
          ...(allowed ? { authorization: `Bearer ${token}` } : {}),
          'x-api-key': 'k-123',
          'x-tenant': 'acme',
          'x-request-id': `req-${door}`,
        },
      },
    );

  it('delivers every decision exactly once or counts it as dropped, and never changes one', async () => {
    let decided = 0;
    // Up: two decisions per door, one allow and one deny.
    for (const door of DOORS) {
      expect((await ask(door, true)).code).toBe('GH_OK');
      denyCode ??= (await ask(door, false)).code;
      if (door !== 'grpc') expect((await ask(door, false)).code).toBe(denyCode);
      decided += 2;
    }
    await waitFor('the first records', () => receiver.records.length === decided);

    // Down: more decisions than the buffer holds; each still answered as before.
    await receiver.stop();
    for (let i = 0; i < 50; i++) {
      const door = DOORS[i % DOORS.length] ?? 'json';
      const answer = await ask(door, i % 2 === 0);
      expect(answer.code).toBe(i % 2 === 0 ? 'GH_OK' : denyCode);
      decided += 1;
    }
    await waitFor(
      'drops past the buffer',
      async () =>
        (await metricValue(
          t.probesBase,
          'gatehouse_decision_logs_dropped_total{sink="service",reason="buffer_full"}',
        )) > 0,
    );
    expect(
      await metricValue(
        t.probesBase,
        'gatehouse_decision_logs_upload_failures_total{sink="service",reason="ECONNREFUSED"}',
      ),
    ).toBeGreaterThan(0);

    // Slow: the receiver is back but takes 2 s per batch; checks do not wait for it.
    receiver.delayMs = 2000;
    await receiver.start();
    for (let i = 0; i < 10; i++) {
      const started = Date.now();
      const answer = await ask('json', true);
      expect(answer.code).toBe('GH_OK');
      expect(Date.now() - started).toBeLessThan(1500);
      decided += 1;
    }

    // Back to normal: everything left is delivered.
    receiver.delayMs = 0;
    await waitFor(
      'the buffer to drain',
      async () =>
        (await metricValue(
          t.probesBase,
          'gatehouse_decision_logs_buffered_records{sink="service"}',
        )) === 0,
      30_000,
    );

    const ids = receiver.records.map((record) => String(record.decision_id));
    expect(new Set(ids).size).toBe(ids.length);
    const sent = await metricValue(
      t.probesBase,
      'gatehouse_decision_logs_sent_total{sink="service"}',
    );
    const dropped = await metricValue(
      t.probesBase,
      'gatehouse_decision_logs_dropped_total{sink="service",reason="buffer_full"}',
    );
    expect(sent).toBe(receiver.records.length);
    expect(dropped).toBeGreaterThan(0);
    expect(sent + dropped).toBe(decided);
    // Every drop was logged, with its count (one line per second at most).
    const loggedDrops = (): number =>
      logs.lines
        .filter((line) => line.msg === 'decision log records dropped')
        .reduce(
          (total, line) => total + ((line.dropped as Record<string, number>).buffer_full ?? 0),
          0,
        );
    await waitFor('every drop in the log', () => loggedDrops() === dropped, 5000);
    for (const request of receiver.requests) {
      expect(request).toEqual({ encoding: 'gzip', type: 'application/json' });
    }
  }, 60_000);

  it('records are OPA decision-log events with credentials and masked paths taken out', () => {
    const allow = receiver.records.find((record) => record.code === 'GH_OK');
    const deny = receiver.records.find((record) => record.code === denyCode);
    expect(allow).toBeDefined();
    expect(deny).toBeDefined();
    const event = allow as unknown as LoggedEvent;
    expect(event.decision_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(event.timestamp)).not.toBeNaN();
    expect(event.path).toBe('gatehouse/check');
    expect(event.labels.env).toBe('test');
    expect(event.labels.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(event.labels.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(event.bundles.gatehouse.revision).toBe(t.gatehouse.store.current()?.revision);
    expect(event.api).toBe('orders.list');
    expect(event.result.allowed).toBe(true);
    expect(event.result.headers['x-user-sub']).toBe('alice');
    expect(event.metrics.timer_server_handler_ns).toBeGreaterThan(0);
    expect(event.metrics.timer_rego_query_eval_ns).toBeGreaterThan(0);
    const http = event.input.attributes.request.http;
    expect(http.headers.authorization).toBeUndefined();
    expect(http.headers['x-api-key']).toBeUndefined();
    expect(http.headers['x-tenant']).toBe('***');
    expect(http.path).toBe('/orders');
    expect(event.erased).toEqual(
      expect.arrayContaining([
        '/input/attributes/request/http/headers/authorization',
        '/input/attributes/request/http/headers/x-api-key',
      ]),
    );
    expect(event.masked).toEqual(['/input/attributes/request/http/headers/x-tenant']);
    expect(JSON.stringify(receiver.records)).not.toContain(token);
    expect(JSON.stringify(receiver.records)).not.toContain('leaky');
    expect(deny?.reason).toEqual(expect.any(String));
    expect((deny?.result as { http_status: number }).http_status).toBe(401);
    const denied = (deny as { input: { attributes: { request: { http: { path: string } } } } })
      .input.attributes.request.http;
    expect(denied.path).toBe('/orders?access_token=[redacted]');
    const transports = new Set(receiver.records.map((record) => record.transport));
    expect(transports).toEqual(new Set(['grpc', 'http-envoy', 'json', 'nginx', 'traefik']));
  });
});
