import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { checkInput } from './check-input-factory.js';

// The event-loop-delay shed of AdmissionControl, on a real Gatehouse (the admission wrapper
// every transport calls): while the loop runs late, a check is denied at once with
// GH_ERR_OVERLOADED; once the loop flows again, checks are decided as before. The flood
// version of this (thousands of real calls) is test/e2e/overload.test.ts.

let t: TestGatehouse;
beforeAll(async () => {
  t = await startTestGatehouse({ config: { limits: { maxEventLoopDelayMs: 50 } } });
});
afterAll(async () => {
  await t.close();
});

/** Keeps the event loop busy, as a burst of synchronous work in front of the checks does. */
function stallFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

const publicCheck = checkInput({ path: '/public/status', host: 'localhost', method: 'GET' });

async function rejectedByDelay(): Promise<number> {
  const metrics = await (await fetch(`${t.httpBase}/metrics`)).text();
  const line = metrics
    .split('\n')
    .find(
      (row) =>
        row.startsWith('gatehouse_checks_rejected_total{') && row.includes('event_loop_delay'),
    );
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('shedding while the event loop is late (limits.maxEventLoopDelayMs)', () => {
  it('a check after a 200 ms stall is denied at once with GH_ERR_OVERLOADED, 429 and Retry-After', async () => {
    const before = await t.gatehouse.admission.check(publicCheck);
    expect(before.code).toBe('GH_OK');
    const rejectedBefore = await rejectedByDelay();

    stallFor(200);
    const during = await t.gatehouse.admission.check(publicCheck);
    expect(during.allowed).toBe(false);
    expect(during.code).toBe('GH_ERR_OVERLOADED');
    if (!during.allowed) {
      expect(during.status).toBe(429);
      expect(during.headers).toContainEqual(['retry-after', '1']);
    }
    expect(await rejectedByDelay()).toBe(rejectedBefore + 1);
  });

  it('once the loop flows again, checks are decided as before', async () => {
    stallFor(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await t.gatehouse.admission.check(publicCheck);
    expect(after.code).toBe('GH_OK');
  });
});
