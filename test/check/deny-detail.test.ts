import { X509Certificate, createHash } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DPOP_ERRORS, CERTIFICATE_ERRORS } from '../../src/errors/error-codes.js';
import { createLogger } from '../../src/observability/logger.js';
import { LOG } from '../../src/observability/log-messages.js';
import { athOf, createProofKey, signProof, type ProofKey } from '../auth/dpop/dpop-fixtures.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { metricValue } from '../helpers/status-and-metrics.js';
import { createTestPki, type TestPki } from '../net/oauth/certificates.js';
import { LogSink } from '../transport/grpc/grpc-test-client.js';
import { bearer, checkInput } from './check-input-factory.js';

// A deny's finer cause (which DPoP check, which certificate problem) travels as `detail`:
// in the "check denied" log line and in gatehouse_check_deny_details_total, never to the
// client. An operator can tell a replayed proof from a clock problem without the reason
// text, and the label values are a closed set.

const HOST = 'api.example.com';
const PATH = '/orders/42';
const logs = new LogSink();
let t: TestGatehouse;
let key: ProofKey;
let dpopToken: string;
let pki: TestPki;

beforeAll(async () => {
  pki = await createTestPki();
  key = await createProofKey();
  t = await startTestGatehouse({ logger: createLogger({ level: 'info' }, logs) });
  dpopToken = await t.issuer.sign({ cnf: { jkt: key.jkt } });
});
afterAll(async () => {
  await t.close();
});
beforeEach(() => {
  logs.lines.length = 0;
});

function deniedLine(): Record<string, unknown> | undefined {
  return logs.lines.find((line) => line.msg === LOG.checkDenied);
}

async function proof(overrides: Record<string, unknown> = {}): Promise<string> {
  return signProof(key, {
    claims: {
      htm: 'GET',
      htu: `https://${HOST}${PATH}`,
      iat: Math.floor(Date.now() / 1000),
      ath: athOf(dpopToken),
      ...overrides,
    },
  });
}

describe('deny detail', () => {
  it('replayed DPoP proof: GH_ERR_DPOP_PROOF with detail GH_DPOP_REPLAYED in the log line', async () => {
    const once = await proof();
    const headers = { authorization: `DPoP ${dpopToken}`, dpop: once };
    expect((await t.gatehouse.pipeline.check(checkInput({ host: HOST, headers }))).allowed).toBe(
      true,
    );
    const again = await t.gatehouse.pipeline.check(checkInput({ host: HOST, headers }));
    expect(again).toMatchObject({ allowed: false, code: 'GH_ERR_DPOP_PROOF', status: 401 });
    expect(deniedLine()).toMatchObject({ code: 'GH_ERR_DPOP_PROOF', detail: 'GH_DPOP_REPLAYED' });
    // Never to the client: the body names the deny code only.
    if (!again.allowed) expect(again.body).not.toContain('GH_DPOP_');
  });

  it('DPoP proof for another path: detail GH_DPOP_HTU', async () => {
    const forOther = await proof({ htu: `https://${HOST}/orders/43` });
    const decision = await t.gatehouse.pipeline.check(
      checkInput({ host: HOST, headers: { authorization: `DPoP ${dpopToken}`, dpop: forOther } }),
    );
    expect(decision).toMatchObject({ allowed: false, code: 'GH_ERR_DPOP_PROOF' });
    expect(deniedLine()).toMatchObject({ detail: 'GH_DPOP_HTU' });
  });

  it('certificate-bound token without a certificate: GH_ERR_TOKEN_BINDING, detail GH_CERT_REQUIRED', async () => {
    const thumbprint = createHash('sha256')
      .update(new X509Certificate(pki.client.cert).raw)
      .digest('base64url');
    const token = await t.issuer.sign({ cnf: { 'x5t#S256': thumbprint } });
    const decision = await t.gatehouse.pipeline.check(checkInput({ headers: bearer(token) }));
    expect(decision).toMatchObject({ allowed: false, code: 'GH_ERR_TOKEN_BINDING', status: 401 });
    expect(deniedLine()).toMatchObject({ detail: 'GH_CERT_REQUIRED' });
  });

  it('a deny without a finer cause has no detail', async () => {
    await t.gatehouse.pipeline.check(checkInput());
    expect(deniedLine()).toMatchObject({ code: 'GH_ERR_NO_CREDENTIAL' });
    expect(deniedLine()).not.toHaveProperty('detail');
  });

  it('DPoP-bound token downgraded to Bearer on the /envoy door: counted by detail in /metrics', async () => {
    const series =
      'gatehouse_check_deny_details_total{transport="http-envoy",code="GH_ERR_TOKEN_BINDING",detail="GH_DPOP_BOUND_TOKEN_AS_BEARER"}';
    const before = await metricValue(t.probesBase, series);
    const response = await request(`${t.httpBase}/envoy${PATH}`, {
      headers: { authorization: `Bearer ${dpopToken}` },
    });
    await response.body.text();
    expect(response.statusCode).toBe(401);
    expect(await metricValue(t.probesBase, series)).toBe(before + 1);
  });

  it('the detail label takes values from a closed set only', async () => {
    const text = await (await request(`${t.probesBase}/metrics`)).body.text();
    const closedSet = new Set([...Object.keys(DPOP_ERRORS), ...Object.keys(CERTIFICATE_ERRORS)]);
    const details = [
      ...text.matchAll(/^gatehouse_check_deny_details_total\{.*detail="([^"]+)"\}/gm),
    ];
    expect(details.length).toBeGreaterThan(0);
    for (const [, detail] of details) expect(closedSet.has(detail ?? '')).toBe(true);
  });
});
