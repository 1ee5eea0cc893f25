import type { Client } from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askDoor, DOORS, type Door } from '../helpers/check-doors.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { connect } from '../transport/grpc/grpc-test-client.js';

/**
 * /metrics after a known number of checks on every door, on a Gatehouse that answered
 * nothing else: each per-check series (now tallied and handed to prom-client when scraped,
 * src/observability/metrics-tally.ts) says exactly how many checks it saw. An operator
 * alerting on denies, or on a door's latency, reads these lines.
 */

/** The `transport` label each door's checks carry. */
const TRANSPORT: Record<Door, string> = {
  grpc: 'grpc',
  envoy: 'http-envoy',
  json: 'json',
  nginx: 'nginx',
  traefik: 'traefik',
};
const ALLOWED_PER_DOOR = 7;
const DENIED_PER_DOOR = 4;

describe('/metrics after N checks on every door', () => {
  let t: TestGatehouse;
  let grpc: Client;
  let lines: Map<string, number>;

  beforeAll(async () => {
    t = await startTestGatehouse();
    grpc = connect(Number(t.grpcAddress.split(':')[1]));
    const token = await t.issuer.sign();
    for (const door of DOORS) {
      for (let i = 0; i < ALLOWED_PER_DOOR; i++) {
        const answer = await askDoor(
          door,
          { grpc, httpBase: t.httpBase },
          { method: 'GET', path: '/orders', headers: { authorization: `Bearer ${token}` } },
        );
        expect(answer.code).toBe('GH_OK');
      }
      for (let i = 0; i < DENIED_PER_DOOR; i++) {
        // An attacker without a credential: denied 401 at the auth phase.
        const answer = await askDoor(door, { grpc, httpBase: t.httpBase }, { path: '/orders' });
        expect(answer.code).toBe('GH_ERR_NO_CREDENTIAL');
      }
    }
    const text = await (await request(`${t.probesBase}/metrics`)).body.text();
    lines = new Map(
      text
        .split('\n')
        .filter((line) => line.startsWith('gatehouse_'))
        .map((line) => {
          const at = line.lastIndexOf(' ');
          return [line.slice(0, at), Number(line.slice(at + 1))];
        }),
    );
  });

  afterAll(async () => {
    grpc.close();
    await t.close();
  });

  const series = (name: string): number | undefined => lines.get(name);

  it.each(DOORS)('%s: allows and denies counted by transport, code and API', (door) => {
    const transport = TRANSPORT[door];
    expect(series(`gatehouse_check_decisions_total{transport="${transport}",code="GH_OK"}`)).toBe(
      ALLOWED_PER_DOOR,
    );
    expect(
      series(
        `gatehouse_check_decisions_total{transport="${transport}",code="GH_ERR_NO_CREDENTIAL"}`,
      ),
    ).toBe(DENIED_PER_DOOR);
    expect(
      series(`gatehouse_decisions_total{transport="${transport}",code="GH_OK",api="orders.list"}`),
    ).toBe(ALLOWED_PER_DOOR);
    expect(
      series(
        `gatehouse_decisions_total{transport="${transport}",code="GH_ERR_NO_CREDENTIAL",api="orders.list"}`,
      ),
    ).toBe(DENIED_PER_DOOR);
  });

  it.each(DOORS)('%s: one check duration per check, buckets cumulative up to +Inf', (door) => {
    const transport = TRANSPORT[door];
    const checks = ALLOWED_PER_DOOR + DENIED_PER_DOOR;
    expect(series(`gatehouse_check_duration_seconds_count{transport="${transport}"}`)).toBe(checks);
    expect(
      series(`gatehouse_check_duration_seconds_bucket{le="+Inf",transport="${transport}"}`),
    ).toBe(checks);
    const buckets = [...lines]
      .filter(
        ([name]) =>
          name.startsWith(`gatehouse_check_duration_seconds_bucket{le=`) &&
          name.endsWith(`,transport="${transport}"}`),
      )
      .map(([, value]) => value);
    expect(buckets).toHaveLength(11);
    expect([...buckets].sort((a, b) => a - b)).toEqual(buckets);
    expect(
      series(`gatehouse_check_duration_seconds_sum{transport="${transport}"}`),
    ).toBeGreaterThan(0);
  });

  it('phases: every check routed and authenticated; only the allowed ones evaluated', () => {
    const checks = DOORS.length * (ALLOWED_PER_DOOR + DENIED_PER_DOOR);
    const allowed = DOORS.length * ALLOWED_PER_DOOR;
    expect(series('gatehouse_check_phase_duration_seconds_count{phase="route"}')).toBe(checks);
    expect(series('gatehouse_check_phase_duration_seconds_count{phase="auth"}')).toBe(checks);
    expect(series('gatehouse_check_phase_duration_seconds_count{phase="evaluate"}')).toBe(allowed);
  });

  it('token cache: one lookup per check with a token, the first a miss', () => {
    const withToken = DOORS.length * ALLOWED_PER_DOOR;
    const hits = series('gatehouse_token_cache_lookups_total{result="hit"}') ?? 0;
    const misses = series('gatehouse_token_cache_lookups_total{result="miss"}') ?? 0;
    expect(hits + misses).toBe(withToken);
    expect(misses).toBe(1);
  });
});
