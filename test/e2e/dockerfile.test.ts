import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Nothing builds the image in the test suite; this reads the Dockerfile as docker would
// (instructions, ARG substitution in FROM) and checks what an operator relies on.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

async function instructions(): Promise<Instruction[]> {
  const text = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
  // Continuation lines joined, comments and blank lines dropped.
  const logical = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '');
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.trim().split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
}

function argDefaults(all: readonly Instruction[]): Map<string, string> {
  const defaults = new Map<string, string>();
  for (const { keyword, args } of all) {
    const match = /^(\w+)=(\S+)$/.exec(args);
    if (keyword === 'ARG' && match?.[1] !== undefined && match[2] !== undefined) {
      defaults.set(match[1], match[2]);
    }
  }
  return defaults;
}

describe('Dockerfile', () => {
  it('the build and runtime stages use a current Node LTS (24) slim image, not Node 20', async () => {
    const all = await instructions();
    const defaults = argDefaults(all);
    const nodeStages = all
      .filter((i) => i.keyword === 'FROM')
      .map((i) => i.args.replace(/\$\{(\w+)\}/g, (_, name: string) => defaults.get(name) ?? ''))
      .filter((from) => from.startsWith('node:'));
    expect(nodeStages.length).toBe(2);
    for (const from of nodeStages) expect(from).toMatch(/^node:24-bookworm-slim /);
  });

  it('runs as a numeric non-root USER, the one the Kubernetes manifest names', async () => {
    const users = (await instructions()).filter((i) => i.keyword === 'USER');
    const last = users.at(-1)?.args ?? '';
    expect(last).toMatch(/^\d+(:\d+)?$/);
    expect(Number(last.split(':')[0])).toBeGreaterThan(0);
    const manifest = await readFile(
      path.join(ROOT, 'deploy', 'kubernetes', 'gatehouse-sidecar.yaml'),
      'utf8',
    );
    expect(manifest).toContain(`runAsUser: ${last.split(':')[0] ?? ''}`);
  });

  it('has a HEALTHCHECK that fetches /healthz on the probe port with node (no curl in slim)', async () => {
    const checks = (await instructions()).filter((i) => i.keyword === 'HEALTHCHECK');
    expect(checks).toHaveLength(1);
    expect(checks[0]?.args).toMatch(
      /CMD \["node", "-e", ".*fetch\('http:\/\/127\.0\.0\.1:9193\/healthz'\)/,
    );
  });

  it('puts opa in the runtime image and points OPA_BIN at it', async () => {
    const all = await instructions();
    expect(
      all.some(
        (i) => i.keyword === 'COPY' && i.args === '--from=opa /go/bin/opa /usr/local/bin/opa',
      ),
    ).toBe(true);
    expect(
      all.some((i) => i.keyword === 'ENV' && i.args.includes('OPA_BIN=/usr/local/bin/opa')),
    ).toBe(true);
  });
});
