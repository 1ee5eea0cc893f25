import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileWasm, PolicyCompileError, type RegoFile } from '../../src/policy/compile-wasm.js';
import { findOpa, type OpaBinary } from '../../src/policy/opa-binary.js';
import { WasmPolicy } from '../../src/policy/wasm-policy.js';

// The real opa CLI compiling real Rego.

const FILES: RegoFile[] = [
  {
    path: 'demo/policy.rego',
    content: 'package demo\n\ndefault allow := false\n\nallow if input.user == data.owner\n',
  },
];

let opa: OpaBinary;
beforeAll(async () => {
  opa = await findOpa(undefined);
});

describe('compileWasm', () => {
  it('compiles once, then serves the same inputs from the content-hash cache', async () => {
    const cacheDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cache-'));
    const options = { opa, cacheDir, timeoutMs: 60_000 };
    const first = await compileWasm(FILES, ['demo/allow'], options);
    const second = await compileWasm(FILES, ['demo/allow'], options);
    expect(first.fromCache).toBe(false);
    expect(second.fromCache).toBe(true);
    expect(second.hash).toBe(first.hash);
    expect(await readdir(cacheDir)).toEqual([`${first.hash}.wasm`]);

    const changed = await compileWasm(
      [{ path: 'demo/policy.rego', content: `${FILES[0]?.content ?? ''}\n# changed\n` }],
      ['demo/allow'],
      options,
    );
    expect(changed.fromCache).toBe(false);
    expect(changed.hash).not.toBe(first.hash);
  });

  it('evaluates the compiled module with data', async () => {
    const cacheDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cache-'));
    const compiled = await compileWasm(FILES, ['demo/allow'], { opa, cacheDir, timeoutMs: 60_000 });
    const policy = await WasmPolicy.load(compiled.wasm, { owner: 'alice' }, compiled.hash);
    const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
    expect(policy.evaluate('demo/allow', encode({ user: 'alice' }))).toEqual([{ result: true }]);
    expect(policy.evaluate('demo/allow', encode({ user: 'bob' }))).toEqual([{ result: false }]);
  });

  it('reports a syntax error with the file and line, relative to the policy folder', async () => {
    const cacheDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cache-'));
    const broken = [{ path: 'bad.rego', content: 'package bad\n\nallow if {{{\n' }];
    const error = await compileWasm(broken, ['bad/allow'], {
      opa,
      cacheDir,
      timeoutMs: 60_000,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyCompileError);
    expect((error as Error).message).toMatch(/bad\.rego:\d+/);
  });
});
