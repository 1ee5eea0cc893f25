import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JSONWebKeySet } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IssuerKeySource } from '../../../src/sync/oidc/issuer-key-source.js';
import { createTestIssuer } from '../../helpers/token-factory.js';
import { parseIssuerConfig } from './issuer-config.js';

// A JWKS server we control instead of oidc-provider: each request takes the next planned
// answer, and a "slow" answer trickles its body out in small chunks, every chunk well
// inside the per-request timeout, the whole well past the refresh deadline. fetchBytes
// cannot be aborted, so such a load outlives the attempt that gave up on it.

interface PlannedAnswer {
  readonly jwks: JSONWebKeySet;
  /** Milliseconds between chunks; 0 answers at once. */
  readonly trickleMs: number;
}

let server: Server;
let jwksUrl: string;
let plan: PlannedAnswer[];
let slowAnswersFinished = 0;

beforeEach(async () => {
  plan = [];
  slowAnswersFinished = 0;
  server = createServer((_req, res) => {
    const answer = plan.shift();
    if (answer === undefined) {
      res.statusCode = 500;
      res.end();
      return;
    }
    void send(res, answer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function send(res: ServerResponse, answer: PlannedAnswer): Promise<void> {
  const body = JSON.stringify(answer.jwks);
  res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
  if (answer.trickleMs === 0) {
    res.end(body);
    return;
  }
  const chunk = Math.ceil(body.length / 8);
  for (let offset = 0; offset < body.length; offset += chunk) {
    res.write(body.slice(offset, offset + chunk));
    await sleep(answer.trickleMs);
  }
  res.end();
  slowAnswersFinished += 1;
}

function source(): IssuerKeySource {
  return new IssuerKeySource({
    config: parseIssuerConfig({ issuer: 'https://issuer.test.gatehouse', jwksUrl }),
    timeoutMs: 1000,
    attemptDeadlineMs: 300,
  });
}

describe('an older load that finishes late', () => {
  it('never replaces the keys of a newer load', async () => {
    const older = await createTestIssuer(undefined, 'older-key');
    const newer = await createTestIssuer(undefined, 'newer-key');
    plan.push({ jwks: older.jwks, trickleMs: 100 }, { jwks: newer.jwks, trickleMs: 0 });
    const keys = source();
    const changes: string[][] = [];
    keys.onChange((current) => changes.push([...current.keyIds]));

    // Load 1 overruns the 300 ms deadline (its body takes about 800 ms) and is abandoned.
    expect(await keys.refresh()).toBe(false);
    expect(keys.status().lastError?.code).toBe('GH_OIDC_REFRESH_TIMEOUT');
    // Load 2 answers at once.
    expect(await keys.refresh()).toBe(true);
    expect(keys.status().keyIds).toEqual(['newer-key']);

    // Load 1 completes now, with the older key set: it is dropped.
    await vi.waitFor(() => {
      expect(keys.status().staleResults).toBe(1);
    });
    expect(slowAnswersFinished).toBe(1);
    expect(keys.status()).toMatchObject({ keyIds: ['newer-key'], fetches: 2 });
    expect(changes).toEqual([['newer-key']]);
  });

  it('is still applied when nothing newer has been', async () => {
    const only = await createTestIssuer(undefined, 'only-key');
    plan.push({ jwks: only.jwks, trickleMs: 100 });
    const keys = source();

    expect(await keys.refresh()).toBe(false);
    expect(keys.current()).toBeUndefined();
    // Its keys are the newest anyone has fetched: better than none.
    await vi.waitFor(() => {
      expect(keys.status().keyIds).toEqual(['only-key']);
    });
    expect(keys.status().staleResults).toBe(0);
  });
});
