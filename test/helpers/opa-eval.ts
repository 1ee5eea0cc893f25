import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findOpa } from '../../src/policy/opa-binary.js';

/**
 * The reference answer: the real `opa eval` (the pinned CLI, Go evaluator, not WASM) on
 * the same Rego and the same input. Returns the query's value, or undefined when OPA
 * finds it undefined.
 */
export async function opaEval(
  files: Readonly<Record<string, string>>,
  query: string,
  input: unknown,
): Promise<unknown> {
  const opa = await findOpa(undefined);
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-opa-eval-'));
  try {
    const args = ['eval', '--format', 'json', '--stdin-input'];
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(dir, name);
      await writeFile(file, content);
      args.push('--data', file);
    }
    args.push(query);
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(opa.path, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve(stdout);
        else reject(new Error(`opa eval exited ${String(code)}: ${stderr}${stdout}`));
      });
      child.stdin.end(JSON.stringify(input));
    });
    const parsed = JSON.parse(output) as {
      result?: Array<{ expressions: Array<{ value: unknown }> }>;
    };
    return parsed.result?.[0]?.expressions[0]?.value;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
