import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { checkInput, bearer } from '../check/check-input-factory.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';

// Real policy folders, real opa compiles, real swaps.

const ADMIN_FOR_READERS = `package test.admin

allow if "reader" in input.token.roles
`;

let t: TestGatehouse | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function adminAllowedForReader(gatehouse: TestGatehouse): Promise<boolean> {
  const token = await gatehouse.issuer.sign();
  const decision = await gatehouse.gatehouse.pipeline.check(
    checkInput({ path: '/admin', headers: bearer(token) }),
  );
  return decision.allowed;
}

describe('snapshot swaps', () => {
  it('a policy change is compiled and swapped in whole, with a new revision', async () => {
    t = await startTestGatehouse();
    const before = t.gatehouse.store.current()?.revision;
    expect(await adminAllowedForReader(t)).toBe(false);

    await writeFile(path.join(t.policyDir, 'admin.rego'), ADMIN_FOR_READERS);
    expect(await t.gatehouse.reloadPolicies()).toBe(true);

    expect(t.gatehouse.store.current()?.revision).not.toBe(before);
    expect(await adminAllowedForReader(t)).toBe(true);
  });

  it('a compile failure keeps the previous snapshot serving', async () => {
    t = await startTestGatehouse();
    const before = t.gatehouse.store.current()?.revision;
    await appendFile(path.join(t.policyDir, 'admin.rego'), '\nallow if {{{ not rego\n');

    expect(await t.gatehouse.reloadPolicies()).toBe(false);

    expect(t.gatehouse.store.current()?.revision).toBe(before);
    const token = await t.issuer.sign();
    const decision = await t.gatehouse.pipeline.check(checkInput({ headers: bearer(token) }));
    expect(decision.allowed).toBe(true);
    expect(decision.revision).toBe(before);
  });

  it('an invalid catalog keeps the previous snapshot serving', async () => {
    t = await startTestGatehouse();
    const before = t.gatehouse.store.current()?.revision;
    await writeFile(
      path.join(t.policyDir, 'catalog.yaml'),
      'services:\n  - name: x\n    apis: [{ id: a, method: GET, path: /a/{ }]\n',
    );
    expect(await t.gatehouse.reloadPolicies()).toBe(false);
    expect(t.gatehouse.store.current()?.revision).toBe(before);
  });

  it('a catalog naming a package without an allow rule is rejected', async () => {
    t = await startTestGatehouse();
    const before = t.gatehouse.store.current()?.revision;
    await appendFile(
      path.join(t.policyDir, 'catalog.yaml'),
      '  - name: ghost\n    apis:\n      - { id: ghost.get, method: GET, path: /ghost, policy: test.does_not_exist }\n',
    );
    expect(await t.gatehouse.reloadPolicies()).toBe(false);
    expect(t.gatehouse.store.current()?.revision).toBe(before);
  });

  it('a catalog accepting an issuer that is not configured is rejected (a typo would reject every token)', async () => {
    t = await startTestGatehouse();
    const before = t.gatehouse.store.current()?.revision;
    await appendFile(
      path.join(t.policyDir, 'catalog.yaml'),
      '  - name: typo\n    apis:\n      - { id: typo.get, method: GET, path: /typo, auth: { issuers: [https://isuer.typo] } }\n',
    );
    expect(await t.gatehouse.reloadPolicies()).toBe(false);
    expect(t.gatehouse.store.current()?.revision).toBe(before);
  });

  it('watches the folder and swaps when a file changes', async () => {
    t = await startTestGatehouse({
      config: {
        policies: { watch: true, watchDebounceMs: 50, compileCacheDir: '.gatehouse/cache' },
      },
    });
    const before = t.gatehouse.store.current()?.revision;
    await writeFile(path.join(t.policyDir, 'admin.rego'), ADMIN_FOR_READERS);
    const deadline = Date.now() + 20_000;
    while (t.gatehouse.store.current()?.revision === before && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(t.gatehouse.store.current()?.revision).not.toBe(before);
    expect(await adminAllowedForReader(t)).toBe(true);
  });
});

describe('no snapshot at start', () => {
  it('starts, is not ready, and denies every check explicitly', async () => {
    const { cp, mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { FIXTURE_POLICIES } = await import('../helpers/test-gatehouse.js');
    const broken = path.join(await mkdtemp(path.join(tmpdir(), 'gatehouse-broken-')), 'policies');
    await cp(FIXTURE_POLICIES, broken, { recursive: true });
    await writeFile(path.join(broken, 'global.rego'), 'package test.global\n\nallow if {{{\n');

    t = await startTestGatehouse({ policySource: broken });
    expect(t.gatehouse.ready).toBe(false);
    const ready = await request(`${t.httpBase}/readyz`);
    expect(ready.statusCode).toBe(503);
    await ready.body.dump();
    const check = await request(`${t.httpBase}/envoy/public/docs`);
    expect(check.statusCode).toBe(403);
    expect(JSON.parse(await check.body.text())).toMatchObject({ error: 'GH_ERR_NO_SNAPSHOT' });
  });
});
