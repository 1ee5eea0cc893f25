import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateShadows } from '../../src/check/shadow-levels.js';
import { DENY_CODES } from '../../src/decision/deny-codes.js';
import { createLogger } from '../../src/observability/logger.js';
import { LOG } from '../../src/observability/log-messages.js';
import {
  askDoor,
  DOORS,
  type Door,
  type DoorAnswer,
  type DoorRequest,
} from '../helpers/check-doors.js';
import { DecisionLogReceiver } from '../helpers/decision-log-receiver.js';
import { metricValue } from '../helpers/status-and-metrics.js';
import {
  FIXTURE_POLICIES,
  startTestGatehouse,
  type TestGatehouse,
} from '../helpers/test-gatehouse.js';
import type { TestIssuer } from '../helpers/token-factory.js';
import { waitFor } from '../helpers/wait-for.js';
import { connect, LogSink } from '../transport/grpc/grpc-test-client.js';

// Shadow (dry-run) policies (docs/shadow.md) on a real Gatehouse, asked through every door:
// the answer is the one a twin Gatehouse without the shadows gives, and the shadow's verdict
// shows up in the log, the decision log and /metrics.

const SHADOW_FIXTURES = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures',
  'shadow',
);

/** The transport name each door's checks are logged and recorded under. */
const TRANSPORT: Record<Door, string> = {
  grpc: 'grpc',
  envoy: 'http-envoy',
  json: 'json',
  nginx: 'nginx',
  traefik: 'traefik',
};

/** test/fixtures/policies with test/fixtures/shadow over it; without shadows: the twin's. */
async function shadowFolder(withShadows: boolean): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-shadow-'));
  await cp(FIXTURE_POLICIES, dir, { recursive: true });
  for (const name of await readdir(SHADOW_FIXTURES)) {
    await cp(path.join(SHADOW_FIXTURES, name), path.join(dir, name));
  }
  if (!withShadows) {
    const catalog = await readFile(path.join(dir, 'catalog.yaml'), 'utf8');
    await writeFile(path.join(dir, 'catalog.yaml'), catalog.replace(/^\s*shadow: .*$/gm, ''));
  }
  return dir;
}

interface Case {
  readonly name: string;
  readonly request: (issuer: TestIssuer) => Promise<DoorRequest>;
  /** What every door answers: the enforced decision, shadows or not. */
  readonly enforced: { readonly code: string; readonly status: number };
  /** The denying policy sends its own body: /envoy, /nginx and /traefik carry no deny code. */
  readonly policyBody?: true;
}

const get = (path: string, token: string | undefined): DoorRequest => ({
  method: 'GET',
  path,
  headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
});

const CASES: readonly Case[] = [
  {
    name: 'a reader reads an order (shadow at the API would deny)',
    request: async (issuer) => get('/orders/42', await issuer.sign()),
    enforced: { code: 'GH_OK', status: 200 },
  },
  {
    name: 'a reader writes an order (shadow at the API would allow)',
    request: async (issuer) => ({
      method: 'POST',
      path: '/orders',
      headers: { authorization: `Bearer ${await issuer.sign()}` },
    }),
    enforced: { code: 'GH_ERR_POLICY_DENIED', status: 403 },
    policyBody: true,
  },
  {
    name: 'a blocked admin (the global level denies; the API shadow is still asked)',
    request: async (issuer) =>
      get('/orders/42', await issuer.sign({ sub: 'mallory', roles: ['admin'] })),
    enforced: { code: 'GH_ERR_POLICY_DENIED', status: 403 },
  },
  {
    name: 'alice reads a report (declarative service shadow allows, API shadow errors)',
    request: async (issuer) => get('/reports/7', await issuer.sign()),
    enforced: { code: 'GH_OK', status: 200 },
  },
  {
    name: 'bob reads junk (declarative service shadow denies, API shadow gives junk)',
    request: async (issuer) => get('/reports/7/junk', await issuer.sign({ sub: 'bob' })),
    enforced: { code: 'GH_OK', status: 200 },
  },
  {
    name: 'no token (denied before the policies: no shadow is asked)',
    request: () => Promise.resolve(get('/orders/42', undefined)),
    enforced: { code: 'GH_ERR_NO_CREDENTIAL', status: 401 },
  },
];

/** The answer without the wire's clock. */
function comparable(answer: DoorAnswer): DoorAnswer {
  const { date: _date, ...clientHeaders } = answer.clientHeaders;
  return { ...answer, clientHeaders };
}

describe('shadow policies: the enforced answer is unchanged and the diff is recorded', () => {
  const receiver = new DecisionLogReceiver();
  const logs = new LogSink();
  const folders: string[] = [];
  let t: TestGatehouse;
  let twin: TestGatehouse;
  let grpc: Client;
  let twinGrpc: Client;
  /** answers[case][door], from the Gatehouse with shadows. */
  const answers = new Map<string, Map<Door, DoorAnswer>>();

  beforeAll(async () => {
    await receiver.start();
    const shadowed = await shadowFolder(true);
    const plain = await shadowFolder(false);
    folders.push(shadowed, plain);
    t = await startTestGatehouse({
      policySource: shadowed,
      logger: createLogger(
        { level: 'debug' },
        {
          write: (line: string) => {
            logs.write(line);
          },
        },
      ),
      config: {
        decisionLogs: { service: { url: receiver.url, timeoutMs: 5000 }, flushIntervalMs: 50 },
      },
    });
    twin = await startTestGatehouse({ policySource: plain });
    grpc = connect(t.gatehouse.grpcPort ?? 0);
    twinGrpc = connect(twin.gatehouse.grpcPort ?? 0);
  }, 60_000);

  afterAll(async () => {
    grpc.close();
    twinGrpc.close();
    await t.close();
    await twin.close();
    await receiver.stop();
    for (const dir of folders) await rm(dir, { recursive: true, force: true });
  });

  it.each(CASES)('$name: every door answers as without the shadow', async (c) => {
    const perDoor = new Map<Door, DoorAnswer>();
    for (const door of DOORS) {
      const answer = await askDoor(door, { grpc, httpBase: t.httpBase }, await c.request(t.issuer));
      const plain = await askDoor(
        door,
        { grpc: twinGrpc, httpBase: twin.httpBase },
        await c.request(twin.issuer),
      );
      expect(comparable(answer), door).toEqual(comparable(plain));
      if (c.policyBody === undefined || door === 'grpc' || door === 'json') {
        expect(answer.code, door).toBe(c.enforced.code);
      }
      expect(answer.decidedStatus, door).toBe(c.enforced.status);
      if (door === 'grpc') {
        const grpcCode =
          c.enforced.code === 'GH_OK'
            ? 0
            : DENY_CODES[c.enforced.code as keyof typeof DENY_CODES].grpcCode;
        expect(answer.grpcCode).toBe(grpcCode);
      }
      perDoor.set(door, answer);
    }
    answers.set(c.name, perDoor);
  });

  it('the enforced deny keeps the denying policy status, body header and challenge', () => {
    const write = answers.get(CASES[1]?.name ?? '')?.get('envoy');
    // test.orders_write's own deny (x-reason: read-only), not the shadow's allow.
    expect(write?.clientHeaders['x-reason']).toBe('read-only');
    const read = answers.get(CASES[0]?.name ?? '')?.get('envoy');
    expect(read?.upstreamHeaders['x-user-sub']).toBe('alice');
  });

  it('logs each shadow verdict with its diff against the enforced decision', () => {
    const messages: readonly string[] = [LOG.shadowDiffers, LOG.shadowAgreed, LOG.shadowFailed];
    const shadowLines = logs.lines.filter((line) => messages.includes(String(line.msg)));
    for (const door of DOORS) {
      const of = (api: string, level: string) =>
        shadowLines.filter(
          (l) => l.transport === TRANSPORT[door] && l.api === api && l.shadow_level === level,
        );
      // The reader's read: allowed, the shadow would deny.
      expect(of('orders.get', 'api')).toEqual([
        expect.objectContaining({
          msg: LOG.shadowDiffers,
          level: 30,
          shadow_policy: 'shadow.admins_only',
          shadow: 'deny',
          enforced: 'allow',
          enforced_code: 'GH_OK',
          agrees: false,
        }),
        // The blocked admin: denied at the global level, the API shadow would allow.
        expect.objectContaining({
          msg: LOG.shadowDiffers,
          shadow: 'allow',
          enforced: 'deny',
          enforced_code: 'GH_ERR_POLICY_DENIED',
          enforced_level: 'global',
        }),
      ]);
      expect(of('orders.create', 'api')).toEqual([
        expect.objectContaining({
          msg: LOG.shadowDiffers,
          shadow_policy: 'shadow.readers_may_write',
          shadow: 'allow',
          enforced: 'deny',
          enforced_code: 'GH_ERR_POLICY_DENIED',
          enforced_level: 'api',
        }),
      ]);
      expect(of('reports.get', 'service')).toEqual([
        expect.objectContaining({
          msg: LOG.shadowAgreed,
          level: 20,
          shadow_policy: 'shadow.declarative_alice',
          shadow: 'allow',
          agrees: true,
        }),
      ]);
      // Errors are warnings, and the enforced allow stands.
      expect(of('reports.get', 'api')).toEqual([
        expect.objectContaining({
          msg: LOG.shadowFailed,
          level: 40,
          shadow: 'error',
          enforced: 'allow',
          shadow_reason: expect.stringContaining('test.broken_conflict failed') as unknown,
        }),
      ]);
      expect(of('reports.junk', 'service')).toEqual([
        expect.objectContaining({ msg: LOG.shadowDiffers, shadow: 'deny', enforced: 'allow' }),
      ]);
      expect(of('reports.junk', 'api')).toEqual([
        expect.objectContaining({
          msg: LOG.shadowFailed,
          shadow: 'error',
          shadow_reason: expect.stringContaining('test.broken_junk') as unknown,
        }),
      ]);
    }
    // Six APIs-and-levels per door above, two for orders.get: nothing for the no-token check.
    expect(shadowLines).toHaveLength(DOORS.length * 7);
  });

  it('writes the diff into each decision-log record', async () => {
    // Every check above, on both sides of the shadow: all six cases through every door.
    await waitFor('the decision log', () => receiver.records.length >= CASES.length * DOORS.length);
    const records = receiver.records as Array<{
      transport: string;
      api: string | null;
      code: string;
      shadows?: unknown[];
    }>;
    const forApi = (api: string) => records.filter((r) => r.api === api && r.transport === 'grpc');
    expect(forApi('orders.create')).toEqual([
      expect.objectContaining({
        code: 'GH_ERR_POLICY_DENIED',
        shadows: [
          {
            level: 'api',
            policy: 'shadow.readers_may_write',
            result: 'allow',
            enforced: 'deny',
            enforced_code: 'GH_ERR_POLICY_DENIED',
            enforced_level: 'api',
            agrees: false,
          },
        ],
      }),
    ]);
    expect(forApi('reports.junk')).toEqual([
      expect.objectContaining({
        code: 'GH_OK',
        shadows: [
          expect.objectContaining({
            level: 'service',
            policy: 'shadow.declarative_alice',
            result: 'deny',
            enforced: 'allow',
            agrees: false,
          }),
          expect.objectContaining({
            level: 'api',
            policy: 'test.broken_junk',
            result: 'error',
            reason: expect.stringContaining('test.broken_junk') as unknown,
            enforced: 'allow',
            agrees: false,
          }),
        ],
      }),
    ]);
    // The no-token deny never reached the policies: no shadow field.
    const noToken = forApi('orders.get').filter((r) => r.code === 'GH_ERR_NO_CREDENTIAL');
    expect(noToken).toHaveLength(1);
    expect(noToken[0]).not.toHaveProperty('shadows');
  });

  it('counts gatehouse_shadow_decisions_total by API, level and outcome pair', async () => {
    const series = (api: string, level: string, enforced: string, shadow: string) =>
      metricValue(
        t.probesBase,
        `gatehouse_shadow_decisions_total{api="${api}",level="${level}",enforced="${enforced}",shadow="${shadow}"}`,
      );
    const n = DOORS.length;
    expect(await series('orders.get', 'api', 'allow', 'deny')).toBe(n);
    expect(await series('orders.get', 'api', 'deny', 'allow')).toBe(n);
    // The no-token check: no shadow ran, so no deny/deny pair.
    expect(await series('orders.get', 'api', 'deny', 'deny')).toBe(0);
    expect(await series('orders.create', 'api', 'deny', 'allow')).toBe(n);
    expect(await series('reports.get', 'service', 'allow', 'allow')).toBe(n);
    expect(await series('reports.get', 'api', 'allow', 'error')).toBe(n);
    expect(await series('reports.junk', 'service', 'allow', 'deny')).toBe(n);
    expect(await series('reports.junk', 'api', 'allow', 'error')).toBe(n);
    // A Gatehouse without shadows counts none.
    const plain = await (await fetch(`${twin.probesBase}/metrics`)).text();
    expect(plain).not.toMatch(/^gatehouse_shadow_decisions_total\{/m);
  });

  it('a shadow missing from the snapshot is an error verdict, never a throw', () => {
    const snapshot = t.gatehouse.store.current();
    if (snapshot === undefined) throw new Error('no snapshot');
    const run = evaluateShadows(
      snapshot,
      [{ level: 'api', package: 'shadow.not_in_snapshot' }],
      [],
      { ok: true, verdicts: [] },
      new TextEncoder().encode('{}').buffer,
    );
    expect(run.verdicts).toEqual([
      {
        level: 'api',
        package: 'shadow.not_in_snapshot',
        outcome: 'error',
        reason: 'api policy shadow.not_in_snapshot is not in the snapshot',
      },
    ]);
  });

  it('a catalog naming a shadow package that does not exist fails the build; the last good snapshot serves on', async () => {
    const before = t.gatehouse.store.current()?.revision;
    const catalogPath = path.join(t.policyDir, 'catalog.yaml');
    const good = await readFile(catalogPath, 'utf8');
    await writeFile(
      catalogPath,
      good.replace('shadow: shadow.admins_only', 'shadow: shadow.no_such_package'),
    );
    expect(await t.gatehouse.reloadPolicies()).toBe(false);
    const status = (await (await fetch(`${t.probesBase}/status`)).json()) as {
      lastBuild: { ok: boolean; error?: string };
    };
    expect(status.lastBuild.ok).toBe(false);
    // As for an unknown enforced package: opa finds no rule for the entrypoint.
    expect(status.lastBuild.error).toContain('entrypoint "shadow/no_such_package/allow"');
    expect(t.gatehouse.store.current()?.revision).toBe(before);
    // The previous snapshot, its shadow included, still answers.
    const answer = await askDoor(
      'grpc',
      { grpc, httpBase: t.httpBase },
      get('/orders/42', await t.issuer.sign()),
    );
    expect(answer.code).toBe('GH_OK');
    expect(
      await metricValue(
        t.probesBase,
        'gatehouse_shadow_decisions_total{api="orders.get",level="api",enforced="allow",shadow="deny"}',
      ),
    ).toBe(DOORS.length + 1);
  });
});

describe('a global shadow on requests that match no API (routing.allowUnknownApis)', () => {
  let t: TestGatehouse;
  let grpc: Client;
  let dir: string;

  beforeAll(async () => {
    dir = await shadowFolder(true);
    const catalog = await readFile(path.join(dir, 'catalog.yaml'), 'utf8');
    await writeFile(
      path.join(dir, 'catalog.yaml'),
      catalog.replace(
        '  policy: test.global\n',
        '  policy: test.global\n  shadow: shadow.admins_only\n',
      ),
    );
    t = await startTestGatehouse({
      policySource: dir,
      config: { routing: { allowUnknownApis: true } },
    });
    grpc = connect(t.gatehouse.grpcPort ?? 0);
  }, 60_000);

  afterAll(async () => {
    grpc.close();
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('an unknown API allowed by the global policy is counted under api "(none)" with the shadow deny', async () => {
    const token = await t.issuer.sign();
    for (const door of DOORS) {
      const answer = await askDoor(door, { grpc, httpBase: t.httpBase }, get('/unlisted', token));
      expect(answer.code, door).toBe('GH_OK');
      expect(answer.status, door).toBe(200);
    }
    expect(
      await metricValue(
        t.probesBase,
        'gatehouse_shadow_decisions_total{api="(none)",level="global",enforced="allow",shadow="deny"}',
      ),
    ).toBe(DOORS.length);
  });
});
