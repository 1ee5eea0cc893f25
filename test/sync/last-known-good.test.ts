import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LastKnownGoodStore, type PersistedState } from '../../src/sync/last-known-good.js';

const STATE: PersistedState = {
  savedAt: '2026-11-23T00:00:00.000Z',
  policy: {
    catalogText: 'services: []\n',
    regoFiles: [{ path: 'a.rego', content: 'package a\n\nallow := true\n' }],
    data: { x: 1 },
    sourceRevision: 'rev-7',
  },
  issuers: { 'https://issuer.example': { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] } },
};

async function freshDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'gatehouse-lkg-'));
}

const FILE = 'last-known-good.json';

function reasonOf(result: Awaited<ReturnType<LastKnownGoodStore['load']>>): string {
  if (result.ok) throw new Error('expected the load to be refused');
  return result.reason;
}

describe('LastKnownGoodStore', () => {
  it('round-trips the state', async () => {
    const store = new LastKnownGoodStore(await freshDir(), undefined);
    await store.save(STATE);
    expect(await store.load()).toEqual({ ok: true, state: STATE });
  });

  it('says when there is nothing saved', async () => {
    const result = await new LastKnownGoodStore(await freshDir(), undefined).load();
    expect(result).toMatchObject({ ok: false, missing: true });
  });

  it('ignores a corrupt file (one changed byte)', async () => {
    const dir = await freshDir();
    const store = new LastKnownGoodStore(dir, undefined);
    await store.save(STATE);
    const text = await readFile(path.join(dir, FILE), 'utf8');
    await writeFile(path.join(dir, FILE), text.replace('rev-7', 'rev-8'));
    expect(reasonOf(await store.load())).toMatch(/integrity/);
  });

  it('ignores a truncated file', async () => {
    const dir = await freshDir();
    const store = new LastKnownGoodStore(dir, undefined);
    await store.save(STATE);
    const text = await readFile(path.join(dir, FILE), 'utf8');
    await writeFile(path.join(dir, FILE), text.slice(0, text.length / 2));
    expect(await store.load()).toMatchObject({ ok: false, missing: false });
  });

  it('with an HMAC key, rejects a tampered file whose plain digest was recomputed', async () => {
    const dir = await freshDir();
    const key = Buffer.alloc(32, 7);
    const store = new LastKnownGoodStore(dir, key);
    await store.save(STATE);
    const envelope = JSON.parse(await readFile(path.join(dir, FILE), 'utf8')) as Record<
      string,
      string
    >;
    const evilPayload = (envelope.payload ?? '').replace('"x":1', '"x":2');
    const forged = {
      ...envelope,
      payload: evilPayload,
      digest: createHash('sha256').update(evilPayload).digest('hex'),
    };
    await writeFile(path.join(dir, FILE), JSON.stringify(forged));
    expect(reasonOf(await store.load())).toMatch(/integrity/);

    const downgraded = { ...forged, digestAlgorithm: 'sha256' };
    await writeFile(path.join(dir, FILE), JSON.stringify(downgraded));
    expect(reasonOf(await store.load())).toMatch(/expected hmac-sha256/);
  });

  it('with the same HMAC key, loads what it saved', async () => {
    const dir = await freshDir();
    await new LastKnownGoodStore(dir, Buffer.alloc(32, 1)).save(STATE);
    expect(await new LastKnownGoodStore(dir, Buffer.alloc(32, 1)).load()).toMatchObject({
      ok: true,
    });
    expect(await new LastKnownGoodStore(dir, Buffer.alloc(32, 2)).load()).toMatchObject({
      ok: false,
    });
  });
});
