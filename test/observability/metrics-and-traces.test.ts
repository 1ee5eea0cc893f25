import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { askDoor, DOORS } from '../helpers/check-doors.js';
import { metricValue } from '../helpers/status-and-metrics.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { waitFor } from '../helpers/wait-for.js';
import { connect, LogSink } from '../transport/grpc/grpc-test-client.js';

/** An OTLP span as OTLP/HTTP JSON encodes it (ids in hex), the fields read here. */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: { stringValue?: string; boolValue?: boolean } }>;
}

interface OtlpExport {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
    scopeSpans: Array<{ spans: OtlpSpan[] }>;
  }>;
}

/** A real OTLP/HTTP receiver: POST /v1/traces with the JSON encoding of the protobuf. */
class OtlpReceiver {
  readonly spans: OtlpSpan[] = [];
  readonly services: string[] = [];
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (req.url === '/v1/traces' && req.headers['content-type'] === 'application/json') {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport;
          for (const resource of body.resourceSpans) {
            const name = resource.resource.attributes.find((a) => a.key === 'service.name');
            this.services.push(name?.value.stringValue ?? '');
            for (const scope of resource.scopeSpans) this.spans.push(...scope.spans);
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    const server = this.server;
    await new Promise<void>((resolve) => {
      server.listen(0, '127.0.0.1', resolve);
    });
    return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/v1/traces`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const traceparent = (traceId: string): string => `00-${traceId}-${PARENT_ID}-01`;

describe('metrics, check log lines and OpenTelemetry traces', () => {
  const otlp = new OtlpReceiver();
  const logs = new LogSink();
  let t: TestGatehouse;
  let grpc: Client;
  let token: string;

  beforeAll(async () => {
    const endpoint = await otlp.start();
    t = await startTestGatehouse({
      logger: createLogger(
        { level: 'info' },
        {
          write: (line: string) => {
            logs.write(line);
          },
        },
      ),
      config: { tracing: { otlpEndpoint: endpoint, serviceName: 'gatehouse-test' } },
    });
    grpc = connect(Number(t.grpcAddress.split(':')[1]));
    token = await t.issuer.sign();
  });

  afterAll(async () => {
    grpc.close();
    await t.close();
    await otlp.stop();
  });

  it("continues the proxy's traceparent into a span per check with a child per phase, on every door", async () => {
    const traceIds = DOORS.map(
      (_, index) => `${TRACE_ID.slice(0, 30)}${String(index).padStart(2, '0')}`,
    );
    for (const [index, door] of DOORS.entries()) {
      const answer = await askDoor(
        door,
        { grpc, httpBase: t.httpBase },
        {
          method: 'GET',
          path: '/orders',
          headers: {
            authorization: `Bearer ${token}`,
            traceparent: traceparent(traceIds[index] ?? TRACE_ID),
          },
        },
      );
      expect(answer.code).toBe('GH_OK');
    }
    await waitFor(
      'a check span per door',
      () => otlp.spans.filter((span) => span.name === 'gatehouse.check').length >= DOORS.length,
    );
    expect(otlp.services).toContain('gatehouse-test');
    for (const traceId of traceIds) {
      const inTrace = otlp.spans.filter((span) => span.traceId === traceId);
      const check = inTrace.find((span) => span.name === 'gatehouse.check');
      expect(check?.parentSpanId).toBe(PARENT_ID);
      expect(check?.kind).toBe(2); // SPAN_KIND_SERVER
      const children = inTrace.filter((span) => span.parentSpanId === check?.spanId);
      expect(children.map((span) => span.name).sort()).toEqual([
        'gatehouse.auth',
        'gatehouse.evaluate',
        'gatehouse.route',
      ]);
      for (const child of children) {
        expect(BigInt(child.startTimeUnixNano)).toBeGreaterThanOrEqual(
          BigInt(check?.startTimeUnixNano ?? '0'),
        );
        expect(BigInt(child.endTimeUnixNano)).toBeLessThanOrEqual(
          BigInt(check?.endTimeUnixNano ?? '0'),
        );
      }
      const code = check?.attributes.find((a) => a.key === 'gatehouse.code');
      expect(code?.value.stringValue).toBe('GH_OK');
    }
  });

  it('a deny log line carries the request id and the trace id', async () => {
    const answer = await askDoor(
      'json',
      { grpc, httpBase: t.httpBase },
      {
        method: 'GET',
        path: '/orders',
        headers: { 'x-request-id': 'req-77', traceparent: traceparent(TRACE_ID) },
      },
    );
    expect(answer.code).toBe('GH_ERR_NO_CREDENTIAL');
    const line = logs.lines.find(
      (entry) => entry.msg === 'check denied' && entry.request_id === 'req-77',
    );
    expect(line?.trace_id).toBe(TRACE_ID);
    expect(line?.level).toBe(30);
  });

  it('exports decisions by API, phase latencies, token cache, sources, snapshot and event-loop series', async () => {
    const before = await metricValue(
      t.probesBase,
      'gatehouse_decisions_total{transport="json",code="GH_OK",api="orders.list"}',
    );
    for (let i = 0; i < 3; i++) {
      const answer = await askDoor(
        'json',
        { grpc, httpBase: t.httpBase },
        { method: 'GET', path: '/orders', headers: { authorization: `Bearer ${token}` } },
      );
      expect(answer.code).toBe('GH_OK');
    }
    const unknown = await askDoor(
      'json',
      { grpc, httpBase: t.httpBase },
      { method: 'GET', path: '/nowhere', headers: { authorization: `Bearer ${token}` } },
    );
    expect(unknown.code).toBe('GH_ERR_API_UNKNOWN');
    const base = t.probesBase;
    expect(
      await metricValue(
        base,
        'gatehouse_decisions_total{transport="json",code="GH_OK",api="orders.list"}',
      ),
    ).toBe(before + 3);
    expect(
      await metricValue(
        base,
        'gatehouse_decisions_total{transport="json",code="GH_ERR_API_UNKNOWN",api="(none)"}',
      ),
    ).toBe(1);
    for (const phase of ['route', 'auth', 'evaluate']) {
      expect(
        await metricValue(base, `gatehouse_check_phase_duration_seconds_count{phase="${phase}"}`),
      ).toBeGreaterThanOrEqual(3);
    }
    // The same token again and again: the verified-token cache answers.
    expect(
      await metricValue(base, 'gatehouse_token_cache_lookups_total{result="hit"}'),
    ).toBeGreaterThan(0);
    expect(
      await metricValue(base, 'gatehouse_token_cache_lookups_total{result="miss"}'),
    ).toBeGreaterThan(0);
    expect(await metricValue(base, 'gatehouse_snapshot_active')).toBe(1);
    expect(await metricValue(base, 'gatehouse_snapshot_apis')).toBe(
      t.gatehouse.store.current()?.catalog.apis.length,
    );
    expect(await metricValue(base, 'gatehouse_snapshot_age_seconds')).toBeGreaterThanOrEqual(0);
    const text = await (await request(`${base}/metrics`)).body.text();
    expect(text).toMatch(
      /gatehouse_source_last_success_timestamp_seconds\{source="policy",kind="folder"\} \d+/,
    );
    expect(text).toContain(
      `gatehouse_source_consecutive_failures{source="${t.issuer.issuer}",kind="issuer_keys"} 0`,
    );
    expect(text).toContain(
      `gatehouse_snapshot_info{revision="${t.gatehouse.store.current()?.revision ?? ''}"`,
    );
    expect(text).toMatch(/gatehouse_event_loop_delay_seconds\{quantile="0.99"\} [\d.e-]+/);
  });
});
