import type { OutgoingHttpHeaders } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEPLOY_ENVOY,
  startEnvoy,
  validateBootstrap,
  type RunningEnvoy,
} from '../helpers/envoy.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { itDeniesEachAttack } from '../helpers/proxy-deny-cases.js';
import {
  bearer,
  rawGet,
  startRecordingUpstream,
  throughProxy,
  type RecordingUpstream,
  type ThroughProxy,
} from '../helpers/through-proxy.js';

/**
 * The shipped deploy/envoy bootstraps, end to end, on a real Envoy: a client speaks HTTP to
 * Envoy, Envoy asks a real Gatehouse (fixture policies compiled by the real opa), and a real
 * upstream records what it receives. Both modes run the same cases (envoy-grpc.test.ts,
 * envoy-http.test.ts); each asserts what the client and the upstream saw, and the deny code
 * Gatehouse counted for the mode's transport.
 */

export interface EnvoyMode {
  /** The bootstrap in deploy/envoy. */
  readonly file: 'envoy-grpc.yaml' | 'envoy-http.yaml';
  /** Gatehouse's transport label for this mode, in gatehouse_check_decisions_total. */
  readonly transport: 'grpc' | 'http-envoy';
  /** The cluster that reaches Gatehouse in the file. */
  readonly gatehouseCluster: string;
  /** Which Gatehouse port that cluster needs. */
  readonly gatehousePort: (t: TestGatehouse) => number;
  /** Policy headers besides x-user-sub that this mode's file passes upstream. */
  readonly extraUpstreamHeaders: Readonly<Record<string, string>>;
}

export function describeEnvoyMode(mode: EnvoyMode): void {
  const bootstrap = path.join(DEPLOY_ENVOY, mode.file);

  it(`deploy/envoy/${mode.file} as shipped passes envoy --mode validate`, async () => {
    const result = await validateBootstrap(bootstrap);
    expect(result.output).toContain('OK');
    expect(result.ok).toBe(true);
  });

  describe(`deploy/envoy/${mode.file} in front of a real Gatehouse`, () => {
    let t: TestGatehouse;
    let envoy: RunningEnvoy;
    let upstream: RecordingUpstream;
    let reader: string;
    const cleanups: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      t = await startTestGatehouse();
      cleanups.unshift(() => t.close());
      upstream = await startRecordingUpstream();
      cleanups.unshift(() => upstream.close());
      envoy = await startEnvoy({
        bootstrap,
        listener: 'ingress',
        clusters: { [mode.gatehouseCluster]: mode.gatehousePort(t), app: upstream.port },
      });
      cleanups.unshift(() => envoy.stop());
      reader = await t.issuer.sign();
    });
    afterAll(async () => {
      for (const cleanup of cleanups) await cleanup();
    });

    /** All of this mode's decisions, whatever the code. */
    async function allDecisions(): Promise<number> {
      const text = await (await fetch(`${t.httpBase}/metrics`)).text();
      return text
        .split('\n')
        .filter(
          (line) =>
            line.startsWith('gatehouse_check_decisions_total{') &&
            line.includes(`transport="${mode.transport}"`),
        )
        .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    }

    /** The request through Envoy: what the client got, what the upstream saw, what Gatehouse counted. */
    const through = (
      target: string,
      headers: OutgoingHttpHeaders,
      code: string,
    ): Promise<ThroughProxy> =>
      throughProxy(
        {
          proxyBaseUrl: envoy.baseUrl,
          upstream,
          gatehouseHttpBase: t.httpBase,
          transport: mode.transport,
        },
        target,
        headers,
        code,
      );

    describe('allowed requests reach the upstream with the policy headers', () => {
      it('a reader GET /orders/42 reaches the upstream with x-user-sub from the policy', async () => {
        const { res, seen, counted } = await through(
          '/orders/42',
          { ...bearer(reader), 'x-internal-debug': 'on' },
          'GH_OK',
        );
        expect(res.status).toBe(200);
        expect(res.body).toBe('upstream');
        expect(counted).toBe(1);
        expect(seen).toMatchObject({ method: 'GET', url: '/orders/42' });
        expect(seen?.headers['x-user-sub']).toBe('alice');
        for (const [name, value] of Object.entries(mode.extraUpstreamHeaders)) {
          expect(seen?.headers[name]).toBe(value);
        }
        // The policy's request_headers_to_remove.
        expect(seen?.headers['x-internal-debug']).toBeUndefined();
      });

      it('spoofed x-user-sub with a valid token: the upstream sees the policy value only', async () => {
        const { res, seen } = await through(
          '/orders/42',
          { ...bearer(reader), 'x-user-sub': 'admin' },
          'GH_OK',
        );
        expect(res.status).toBe(200);
        expect(seen?.headers['x-user-sub']).toBe('alice');
      });

      it('spoofed identity headers on a public API: Envoy strips them before anyone sees them', async () => {
        // /public/{page} is auth mode none with no claimsToHeaders: nothing in Gatehouse's
        // answer names these headers, so only the header_mutation filter removes them.
        const { res, seen, counted } = await through(
          '/public/docs?x=1',
          { 'x-user-sub': 'admin', 'x-user-roles': 'admin', 'x-tenant': 'acme' },
          'GH_OK',
        );
        expect(res.status).toBe(200);
        expect(counted).toBe(1);
        expect(seen?.url).toBe('/public/docs?x=1');
        expect(seen?.headers['x-user-sub']).toBeUndefined();
        expect(seen?.headers['x-user-roles']).toBeUndefined();
        expect(seen?.headers['x-tenant']).toBeUndefined();
      });

      it('spoofed x-user-sub on /profile: the claim mapping decides, not the client', async () => {
        const token = await t.issuer.sign({ sub: 'bob', roles: ['reader'] });
        const { res, seen } = await through(
          '/profile',
          { ...bearer(token), 'x-user-sub': 'admin' },
          'GH_OK',
        );
        expect(res.status).toBe(200);
        expect(seen?.headers['x-user-sub']).toBe('bob');
      });

      it('dot segments and double slashes: the upstream gets the normalized path Gatehouse decided on', async () => {
        const { res, seen } = await through('//public/./a/../docs', {}, 'GH_OK');
        expect(res.status).toBe(200);
        expect(seen?.url).toBe('/public/docs');
      });
    });

    describe('401, 403 and 400: denied requests never reach the upstream', () => {
      // Envoy passes Gatehouse's JSON deny body through to the client.
      itDeniesEachAttack('envoy', () => ({ through, issuer: t.issuer, reader }), {
        bodyNamesTheCode: true,
      });

      it.each(['/public%2Fadmin', '/public%2fadmin', '/public%5Cadmin'])(
        'encoded slash %s: Envoy rejects it with 400 before asking Gatehouse',
        async (target) => {
          const before = await allDecisions();
          const hitsBefore = upstream.hits.length;
          const res = await rawGet(envoy.baseUrl, target, bearer(reader));
          expect(res.status).toBe(400);
          expect(await allDecisions()).toBe(before);
          expect(upstream.hits.length).toBe(hitsBefore);
        },
      );
    });
  });

  describe(`deploy/envoy/${mode.file} with Gatehouse gone`, () => {
    it('Gatehouse stopped: Envoy denies with 403 (failure_mode_allow: false), the upstream never sees it', async () => {
      const cleanups: (() => Promise<void>)[] = [];
      try {
        const t = await startTestGatehouse();
        let gatehouseOpen = true;
        cleanups.unshift(async () => {
          if (gatehouseOpen) await t.close();
        });
        const upstream = await startRecordingUpstream();
        cleanups.unshift(() => upstream.close());
        const envoy = await startEnvoy({
          bootstrap,
          listener: 'ingress',
          clusters: { [mode.gatehouseCluster]: mode.gatehousePort(t), app: upstream.port },
        });
        cleanups.unshift(() => envoy.stop());
        const reader = await t.issuer.sign();

        // Up: allowed. Then Gatehouse is stopped, and the same request is a deny.
        expect((await rawGet(envoy.baseUrl, '/orders/42', bearer(reader))).status).toBe(200);
        expect(upstream.hits).toHaveLength(1);
        await t.close();
        gatehouseOpen = false;
        for (const target of ['/orders/42', '/public/docs']) {
          const res = await rawGet(envoy.baseUrl, target, bearer(reader));
          expect(res.status).toBe(403);
        }
        expect(upstream.hits).toHaveLength(1);
      } finally {
        for (const cleanup of cleanups) await cleanup();
      }
    });
  });
}
