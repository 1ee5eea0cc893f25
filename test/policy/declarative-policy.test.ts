import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileWasm } from '../../src/policy/compile-wasm.js';
import {
  compileDeclarativePolicy,
  DeclarativePolicyError,
} from '../../src/policy/declarative/compile-declarative.js';
import { findOpa, type OpaBinary } from '../../src/policy/opa-binary.js';
import { WasmPolicy } from '../../src/policy/wasm-policy.js';

// Declarative policies compiled to Rego, then by the real opa to WebAssembly, then evaluated
// by Gatehouse's evaluator: what each condition allows and refuses, and the errors a bad
// file gets.

let opa: OpaBinary;
beforeAll(async () => {
  opa = await findOpa(undefined);
});

async function load(yaml: string): Promise<WasmPolicy> {
  const rego = compileDeclarativePolicy({ path: 'p.policy.yaml', content: yaml });
  const pkg = /^package (\S+)$/m.exec(rego.content)?.[1] ?? '';
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cache-'));
  const compiled = await compileWasm([rego], [`${pkg.replaceAll('.', '/')}/allow`], {
    opa,
    cacheDir,
    timeoutMs: 60_000,
  });
  return WasmPolicy.load(compiled.wasm, {}, compiled.hash);
}

interface Request {
  readonly token?: Record<string, unknown> | null;
  readonly params?: Record<string, string>;
  readonly headers?: Record<string, string>;
  readonly method?: string;
  readonly principal?: string;
}

function decide(policy: WasmPolicy, entrypoint: string, request: Request, nowNs?: bigint): unknown {
  const input = {
    attributes: {
      request: { http: { method: request.method ?? 'GET', headers: request.headers ?? {} } },
      source: request.principal === undefined ? {} : { principal: request.principal },
    },
    token: request.token ?? null,
    api: { params: request.params ?? {} },
  };
  const result = policy.evaluate(
    entrypoint,
    new TextEncoder().encode(JSON.stringify(input)),
    nowNs,
  ) as Array<{
    result: unknown;
  }>;
  return result[0]?.result;
}

describe('conditions', () => {
  it('claim equals a path parameter: the token sub owns /users/{id}', async () => {
    const policy = await load(
      'package: users.owner\nallow:\n  claim: sub\n  equals: { param: id }\n',
    );
    expect(
      decide(policy, 'users/owner/allow', { token: { sub: 'alice' }, params: { id: 'alice' } }),
    ).toBe(true);
    expect(
      decide(policy, 'users/owner/allow', { token: { sub: 'alice' }, params: { id: 'bob' } }),
    ).toBe(false);
    expect(decide(policy, 'users/owner/allow', { token: null, params: { id: 'alice' } })).toBe(
      false,
    );
  });

  it('all, any and not combine; scope, contains, in, exists', async () => {
    const policy = await load(`package: orders.rules
allow:
  all:
    - scope: orders:read
    - any:
        - { claim: roles, contains: admin }
        - { header: X-Tenant, in: [acme, globex] }
    - not: { claim: suspended, exists: true }
`);
    const entry = 'orders/rules/allow';
    const reader = { scope: 'profile orders:read', roles: ['reader'] };
    expect(decide(policy, entry, { token: reader, headers: { 'x-tenant': 'acme' } })).toBe(true);
    expect(decide(policy, entry, { token: reader, headers: { 'x-tenant': 'initech' } })).toBe(
      false,
    );
    expect(decide(policy, entry, { token: { ...reader, roles: ['admin'] } })).toBe(true);
    expect(decide(policy, entry, { token: { scp: ['orders:read'], roles: ['admin'] } })).toBe(true);
    expect(decide(policy, entry, { token: { roles: ['admin'] } })).toBe(false);
    expect(decide(policy, entry, { token: { ...reader, roles: ['admin'], suspended: true } })).toBe(
      false,
    );
  });

  it('matches is anchored: the whole value must match', async () => {
    const policy = await load(
      'package: m\nallow:\n  claim: email\n  matches: "[a-z]+@example\\\\.com"\n',
    );
    expect(decide(policy, 'm/allow', { token: { email: 'alice@example.com' } })).toBe(true);
    expect(decide(policy, 'm/allow', { token: { email: 'alice@example.com.evil.test' } })).toBe(
      false,
    );
    expect(decide(policy, 'm/allow', { token: { email: 'x-alice@example.com' } })).toBe(false);
  });

  it('a nested claim path, method, and the client certificate subject', async () => {
    const policy = await load(`package: n
allow:
  all:
    - { claim: tenant.id, equals: t1 }
    - { method: [GET, HEAD] }
    - clientCertificate: { subject: "spiffe://example.org/ns/shop/sa/orders" }
`);
    const ok = {
      token: { tenant: { id: 't1' } },
      principal: 'spiffe://example.org/ns/shop/sa/orders',
    };
    expect(decide(policy, 'n/allow', ok)).toBe(true);
    expect(decide(policy, 'n/allow', { ...ok, method: 'POST' })).toBe(false);
    expect(
      decide(policy, 'n/allow', { ...ok, principal: 'spiffe://example.org/ns/shop/sa/other' }),
    ).toBe(false);
  });

  it('a time window in UTC, including one across midnight', async () => {
    const at = (hh: number, mm: number): bigint =>
      BigInt(Date.UTC(2026, 11, 1, hh, mm)) * 1_000_000n;
    const office = await load('package: t\nallow:\n  time: { after: "08:00", before: "18:00" }\n');
    expect(decide(office, 't/allow', {}, at(9, 30))).toBe(true);
    expect(decide(office, 't/allow', {}, at(18, 0))).toBe(false);
    expect(decide(office, 't/allow', {}, at(7, 59))).toBe(false);
    const night = await load('package: t2\nallow:\n  time: { after: "22:00", before: "06:00" }\n');
    expect(decide(night, 't2/allow', {}, at(23, 0))).toBe(true);
    expect(decide(night, 't2/allow', {}, at(5, 0))).toBe(true);
    expect(decide(night, 't2/allow', {}, at(12, 0))).toBe(false);
  });

  it('a deny block shapes the refusal: status, body and headers', async () => {
    const policy = await load(`package: d
allow: { claim: roles, contains: writer }
deny:
  status: 403
  body: "writers only"
  headers: { x-reason: writers-only }
`);
    expect(decide(policy, 'd/allow', { token: { roles: ['writer'] } })).toBe(true);
    expect(decide(policy, 'd/allow', { token: { roles: ['reader'] } })).toEqual({
      allowed: false,
      http_status: 403,
      body: 'writers only',
      headers: { 'x-reason': 'writers-only' },
    });
  });
});

describe('a bad policy file is an error naming the file, the policy and the field', () => {
  it.each([
    [
      'package: p\nallow:\n  claimm: sub\n',
      /p\.policy\.yaml \(policy p\): allow: unknown condition \(claimm\)/,
    ],
    [
      'package: p\nallow:\n  all:\n    - claim: sub\n      equal: x\n',
      /allow\.all\[0\]: claim needs exactly one of equals/,
    ],
    [
      'package: p\nallow:\n  claim: email\n  matches: "(["\n',
      /allow\.matches is not a valid regular expression/,
    ],
    ['package: p\nallow:\n  time: { after: "25:00" }\n', /allow\.time\.after must be HH:MM/],
    [
      'package: p\nallow: { scope: a }\ndeny: { status: 500 }\n',
      /deny\.status must be an integer 400-499/,
    ],
    [
      'package: "not a package"\nallow: { scope: a }\n',
      /p\.policy\.yaml: package must be a dotted Rego package name/,
    ],
    ['package: p\n', /allow is required/],
    ['package: p\nallow: { scope: a }\nextra: 1\n', /unknown field "extra"/],
  ])('%j', (content, message) => {
    expect(() => compileDeclarativePolicy({ path: 'p.policy.yaml', content })).toThrow(
      DeclarativePolicyError,
    );
    expect(() => compileDeclarativePolicy({ path: 'p.policy.yaml', content })).toThrow(message);
  });
});
