import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileWasm } from '../../src/policy/compile-wasm.js';
import { findOpa } from '../../src/policy/opa-binary.js';
import { WasmPolicy } from '../../src/policy/wasm-policy.js';

// A decision's policy levels evaluate one input parsed once into the module's heap
// (WasmPolicy.prepare) instead of opa_eval parsing the text again per level. The faster
// path must answer exactly as the per-level one, whatever the levels do with the input:
// `with input... as`, comprehensions, object.union over it, data lookups.

const FILES = [
  {
    path: 'g.rego',
    content: `package g

import rego.v1

default allow := false

allow if input.role != "banned"
`,
  },
  {
    path: 's.rego',
    content: `package s

import rego.v1

default allow := false

# Evaluates a rule under a replaced input: the outer input must not change for later levels.
allow if {
  not banned with input.role as "banned"
  input.role != "intruder"
}

banned if input.role == "banned"

headers := object.union(object.get(input, "headers", {}), {"x-level": "service"})
`,
  },
  {
    path: 'a.rego',
    content: `package a

import rego.v1

default allow := false

allow if {
  count([k | some k, _ in object.get(input, "headers", {})]) < 50
  input.role in data.roles
}

echo := input
`,
  },
];
const ENTRYPOINTS = ['g/allow', 's/allow', 's/headers', 'a/allow', 'a/echo'];

let policy: WasmPolicy;

beforeAll(async () => {
  const opa = await findOpa(undefined);
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cache-'));
  const compiled = await compileWasm(FILES, ENTRYPOINTS, { opa, cacheDir, timeoutMs: 120_000 });
  policy = await WasmPolicy.load(
    compiled.wasm,
    { roles: ['reader', 'banned', 'intruder'] },
    compiled.hash,
  );
}, 120_000);

const input = fc.record(
  {
    role: fc.oneof(fc.constantFrom('reader', 'banned', 'intruder', 'admin'), fc.string()),
    headers: fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })),
    extra: fc.jsonValue(),
  },
  { requiredKeys: ['role'] },
);

describe('one parsed input shared by every policy level', () => {
  it('decides every level as re-parsing the input per level does, in any level order', () => {
    const encoder = new TextEncoder();
    fc.assert(
      fc.property(input, fc.shuffledSubarray(ENTRYPOINTS, { minLength: 1 }), (doc, order) => {
        const bytes = encoder.encode(JSON.stringify(doc));
        const nowNs = 1_764_582_000_000_000_000n;
        const perLevel = order.map((entrypoint) => policy.evaluate(entrypoint, bytes, nowNs));
        const prepared = policy.prepare(bytes, nowNs);
        // Twice over: a level that ran before must leave the parsed input as it found it.
        const shared = [...order, ...order].map((entrypoint) => prepared.evaluate(entrypoint));
        expect(shared).toStrictEqual([...perLevel, ...perLevel]);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses to evaluate an input whose heap another evaluation reused (fails, never answers for another request)', () => {
    const encoder = new TextEncoder();
    const first = policy.prepare(encoder.encode('{"role":"reader"}'));
    expect(first.evaluate('a/allow')).toStrictEqual([{ result: true }]);
    policy.prepare(encoder.encode('{"role":"intruder"}'));
    expect(() => first.evaluate('a/allow')).toThrow(/released/);
    const second = policy.prepare(encoder.encode('{"role":"banned"}'));
    policy.evaluate('g/allow', encoder.encode('{"role":"reader"}'));
    expect(() => second.evaluate('g/allow')).toThrow(/released/);
  });

  it('refuses input the module cannot parse instead of evaluating without it', () => {
    expect(() => policy.prepare(new TextEncoder().encode('{"role":'))).toThrow(/parse/);
  });
});
