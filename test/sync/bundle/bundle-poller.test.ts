import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BundleError } from '../../../src/sync/bundle/bundle-error.js';
import { BundlePoller, type BundlePollerOptions } from '../../../src/sync/bundle/bundle-poller.js';
import type { Bundle } from '../../../src/sync/bundle/read-bundle.js';
import { startBundleServer, type BundleServer } from './helpers/bundle-server.js';
import { pemKeyPair, type PemKeyPair } from './helpers/keys.js';
import { opaBuild, writeKeyFile } from './helpers/opa-cli.js';
import { specsOf, tarGz } from './helpers/tar-writer.js';

const POLICY = 'package orders\n\nallow if input.method == "GET"\n';
const LONG_POLL_TYPE = 'application/vnd.openpolicyagent.bundles';

let dir: string;
let keys: PemKeyPair;
let bundleV1: Buffer;
let bundleV2: Buffer;
let signedBundle: Buffer;
let server: BundleServer;
const pollers: BundlePoller[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-poller-test-'));
  keys = pemKeyPair('rsa');
  const keyFile = await writeKeyFile(dir, 'signing.pem', keys.privatePem);
  bundleV1 = await opaBuild({ 'orders/policy.rego': POLICY, 'orders/data.json': '{"v": 1}' }, [
    '--revision',
    'v1',
  ]);
  bundleV2 = await opaBuild({ 'orders/policy.rego': POLICY, 'orders/data.json': '{"v": 2}' }, [
    '--revision',
    'v2',
  ]);
  signedBundle = await opaBuild({ 'orders/policy.rego': POLICY }, [
    '--revision',
    'signed',
    '--signing-key',
    keyFile,
  ]);
  server = await startBundleServer();
});

afterEach(() => {
  for (const poller of pollers.splice(0)) poller.stop();
  vi.useRealTimers();
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

interface Harness {
  readonly poller: BundlePoller;
  readonly bundles: Array<{ bundle: Bundle; etag: string | undefined }>;
  readonly errors: Error[];
}

/** A poller on the test server; activation accepted unless `accept` says otherwise. */
function harness(
  options: Partial<BundlePollerOptions> & { accept?: (call: number) => boolean } = {},
): Harness {
  const bundles: Harness['bundles'] = [];
  const errors: Error[] = [];
  const { accept, ...rest } = options;
  const poller = new BundlePoller({
    url: server.url,
    pollMinDelayS: 60,
    pollMaxDelayS: 120,
    requestTimeoutMs: 2000,
    backoffBaseMs: 1000,
    backoffMaxMs: 60_000,
    random: () => 0.5,
    onBundle: (bundle, etag) => {
      bundles.push({ bundle, etag });
      return Promise.resolve(accept?.(bundles.length) ?? true);
    },
    onError: (error) => {
      errors.push(error);
    },
    ...rest,
  });
  pollers.push(poller);
  return { poller, bundles, errors };
}

/** Milliseconds from now until the next poll is due. */
function dueInMs(poller: BundlePoller): number {
  const next = poller.status().nextAttemptAt;
  if (next === undefined) throw new Error('no next attempt scheduled');
  return next.getTime() - Date.now();
}

const ok = (body: Buffer, etag?: string, headers: Record<string, string> = {}) => ({
  status: 200,
  headers: {
    'content-type': 'application/gzip',
    ...(etag === undefined ? {} : { etag }),
    ...headers,
  },
  body,
});

describe('BundlePoller: downloads and ETags', () => {
  it('downloads a bundle, reads it and hands it over with its ETag', async () => {
    server.reply(() => ok(bundleV1, '"v1"'));
    const { poller, bundles, errors } = harness();

    await poller.pollNow();

    expect(errors).toEqual([]);
    expect(bundles).toHaveLength(1);
    expect(bundles[0]?.etag).toBe('"v1"');
    expect(bundles[0]?.bundle.revision).toBe('v1');
    expect(bundles[0]?.bundle.data).toEqual({ orders: { v: 1 } });
    expect(poller.status()).toMatchObject({
      url: server.url,
      etag: '"v1"',
      revision: 'v1',
      consecutiveFailures: 0,
      lastError: undefined,
    });
    expect(poller.status().lastSuccessAt).toBeInstanceOf(Date);
    // A regular poll is due between the minimum and maximum delay.
    expect(dueInMs(poller)).toBeGreaterThan(60_000 - 1000);
    expect(dueInMs(poller)).toBeLessThanOrEqual(120_000);
  });

  it('sends If-None-Match with the accepted ETag; a 304 does not call onBundle', async () => {
    server.reply((_, headers) =>
      headers['if-none-match'] === '"v1"' ? { status: 304 } : ok(bundleV1, '"v1"'),
    );
    const { poller, bundles, errors } = harness();
    const before = server.requests.length;

    await poller.pollNow();
    await poller.pollNow();

    expect(server.requests[before]?.headers['if-none-match']).toBeUndefined();
    expect(server.requests[before + 1]?.headers['if-none-match']).toBe('"v1"');
    expect(bundles).toHaveLength(1);
    expect(errors).toEqual([]);
    expect(poller.status().consecutiveFailures).toBe(0);
  });

  it('delivers a changed bundle when the ETag changes', async () => {
    let version = 1;
    server.reply((_, headers) => {
      const etag = `"v${version}"`;
      if (headers['if-none-match'] === etag) return { status: 304 };
      return ok(version === 1 ? bundleV1 : bundleV2, etag);
    });
    const { poller, bundles } = harness();

    await poller.pollNow();
    version = 2;
    await poller.pollNow();

    expect(bundles.map((entry) => entry.bundle.revision)).toEqual(['v1', 'v2']);
    expect(poller.status()).toMatchObject({ etag: '"v2"', revision: 'v2' });
  });

  it('a rejected onBundle keeps the ETag unremembered, so the next poll downloads again', async () => {
    server.reply((_, headers) =>
      headers['if-none-match'] === '"v1"' ? { status: 304 } : ok(bundleV1, '"v1"'),
    );
    const { poller, bundles, errors } = harness({ accept: (call) => call > 1 });
    const before = server.requests.length;

    await poller.pollNow();
    expect(poller.status()).toMatchObject({ etag: undefined, consecutiveFailures: 1 });
    expect(poller.status().lastError).toMatch(/bundle revision "v1" was not activated/);
    await poller.pollNow();
    await poller.pollNow();

    expect(server.requests[before + 1]?.headers['if-none-match']).toBeUndefined();
    expect(server.requests[before + 2]?.headers['if-none-match']).toBe('"v1"');
    expect(bundles).toHaveLength(2);
    expect(errors).toEqual([]);
    expect(poller.status()).toMatchObject({ etag: '"v1"', consecutiveFailures: 0 });
  });

  it('asks the headers supplier before every request (a fresh bearer token each time)', async () => {
    server.reply(() => ok(bundleV1, '"v1"'));
    let issued = 0;
    const { poller } = harness({
      headers: () => Promise.resolve({ Authorization: `Bearer token-${++issued}` }),
    });
    const before = server.requests.length;

    await poller.pollNow();
    await poller.pollNow();

    expect(server.requests[before]?.headers.authorization).toBe('Bearer token-1');
    expect(server.requests[before + 1]?.headers.authorization).toBe('Bearer token-2');
  });

  it('sends requests through the given dispatcher (where an mTLS Agent goes)', async () => {
    server.reply(() => ok(bundleV1));
    const seen: string[] = [];
    const agent = new Agent();
    const dispatcher: Dispatcher = agent.compose((dispatch) => (options, handler) => {
      seen.push(options.path);
      return dispatch(options, handler);
    });
    const { poller, bundles } = harness({ dispatcher });

    await poller.pollNow();

    expect(seen).toEqual(['/bundles/gatehouse.tar.gz']);
    expect(bundles).toHaveLength(1);
    await agent.close();
  });

  it('accepts a signed bundle and refuses an unsigned one when verification is configured', async () => {
    const verification = { key: keys.publicPem, algorithm: 'RS256' } as const;
    server.reply(() => ok(signedBundle));
    const signed = harness({ verification });
    await signed.poller.pollNow();
    expect(signed.bundles[0]?.bundle.verified).toBe(true);

    server.reply(() => ok(bundleV1));
    const unsigned = harness({ verification });
    await unsigned.poller.pollNow();
    expect(unsigned.bundles).toEqual([]);
    expect(unsigned.errors[0]).toBeInstanceOf(BundleError);
    expect((unsigned.errors[0] as BundleError).code).toBe('GH_BUNDLE_SIGNATURE_INVALID');
    expect(unsigned.errors[0]?.message).toMatch(
      new RegExp(`^bundle ${escape(server.url)}: the bundle is not signed`),
    );
  });
});

/** Each row: how the server misbehaves, and what onError must say. */
const FAILURES: ReadonlyArray<{
  name: string;
  setup: () => Promise<{ url?: string; reply?: Parameters<BundleServer['reply']>[0] }>;
  code: BundleError['code'];
  message: RegExp;
  options?: Partial<BundlePollerOptions>;
}> = [
  {
    name: 'server down (connection refused)',
    setup: async () => {
      const down = await startBundleServer();
      await down.close();
      return { url: down.url };
    },
    code: 'GH_BUNDLE_DOWNLOAD_FAILED',
    message: /ECONNREFUSED/,
  },
  {
    name: 'server slower than the request timeout',
    setup: () => Promise.resolve({ reply: () => ({ ...ok(bundleV1), delayMs: 1500 }) }),
    code: 'GH_BUNDLE_DOWNLOAD_FAILED',
    message: /UND_ERR_HEADERS_TIMEOUT/,
    options: { requestTimeoutMs: 200 },
  },
  {
    name: 'HTTP 500',
    setup: () => Promise.resolve({ reply: () => ({ status: 500, body: 'boom' }) }),
    code: 'GH_BUNDLE_DOWNLOAD_FAILED',
    message: /the server answered HTTP 500, expected 200 or 304/,
  },
  {
    name: 'garbage body',
    setup: () => Promise.resolve({ reply: () => ok(Buffer.from('<html>oops</html>')) }),
    code: 'GH_BUNDLE_INVALID',
    message: /not a valid gzip stream/,
  },
  {
    name: 'truncated tarball',
    setup: () => Promise.resolve({ reply: () => ok(bundleV1.subarray(0, bundleV1.length - 20)) }),
    code: 'GH_BUNDLE_INVALID',
    message: /not a valid gzip stream: unexpected end of file/,
  },
  {
    name: 'oversized tarball',
    setup: () => Promise.resolve({ reply: () => ok(bundleV1) }),
    code: 'GH_BUNDLE_DOWNLOAD_FAILED',
    message: /body (of \d+ bytes )?is over the 100-byte limit/,
    options: {
      limits: {
        maxCompressedBytes: 100,
        maxUncompressedBytes: 1 << 20,
        maxFiles: 100,
        maxFileBytes: 1 << 20,
      },
    },
  },
  {
    name: 'tarball with a ../ path',
    setup: () =>
      Promise.resolve({ reply: () => ok(tarGz(specsOf({ '../../etc/evil.rego': POLICY }))) }),
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /entry "\.\.\/\.\.\/etc\/evil\.rego" has a "\.\." segment/,
  },
  {
    name: 'tarball with a symlink',
    setup: () =>
      Promise.resolve({
        reply: () => ok(tarGz([{ path: '/data.json', type: '2', linkTarget: '/etc/passwd' }])),
      }),
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /entry "\/data\.json" is a symbolic link/,
  },
  {
    name: 'tarball with an absolute path',
    setup: () => Promise.resolve({ reply: () => ok(tarGz(specsOf({ '//etc/cron.d/evil': 'x' }))) }),
    code: 'GH_BUNDLE_UNSAFE_PATH',
    message: /entry "\/\/etc\/cron\.d\/evil" is an absolute path/,
  },
];

describe('BundlePoller: failures go to onError and back off', () => {
  for (const failure of FAILURES) {
    it(failure.name, async () => {
      const { url, reply } = await failure.setup();
      if (reply !== undefined) server.reply(reply);
      const { poller, errors, bundles } = harness({
        ...(url === undefined ? {} : { url }),
        ...failure.options,
      });

      const delays: number[] = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        await poller.pollNow();
        delays.push(dueInMs(poller));
      }

      expect(bundles).toEqual([]);
      expect(errors).toHaveLength(3);
      const error = errors[0] as BundleError;
      expect(error).toBeInstanceOf(BundleError);
      expect(error.code).toBe(failure.code);
      expect(error.message).toMatch(failure.message);
      // The message names where the bundle came from.
      expect(error.message).toContain(url ?? server.url);
      const status = poller.status();
      expect(status.consecutiveFailures).toBe(3);
      expect(status.lastError).toBe(errors[2]?.message);
      expect(status.lastErrorAt).toBeInstanceOf(Date);
      // 1000, 1600, 2560 ms (no jitter: random is pinned), less the time since scheduling.
      const expected = [1000, 1600, 2560];
      delays.forEach((delay, i) => {
        expect(delay).toBeLessThanOrEqual(expected[i] ?? 0);
        expect(delay).toBeGreaterThan((expected[i] ?? 0) - 150);
      });
    });
  }

  it('recovery: a success after failures resets the backoff', async () => {
    let calls = 0;
    server.reply(() => (++calls <= 2 ? { status: 503 } : ok(bundleV1, '"v1"')));
    const { poller, bundles, errors } = harness();

    await poller.pollNow();
    await poller.pollNow();
    expect(poller.status().consecutiveFailures).toBe(2);
    await poller.pollNow();

    expect(errors).toHaveLength(2);
    expect(bundles).toHaveLength(1);
    const status = poller.status();
    expect(status.consecutiveFailures).toBe(0);
    expect(status.lastError).toMatch(/HTTP 503/);
    expect(status.lastSuccessAt?.getTime()).toBeGreaterThanOrEqual(
      status.lastErrorAt?.getTime() ?? Infinity,
    );
    expect(dueInMs(poller)).toBeGreaterThan(60_000 - 1000);
  });

  it('an onBundle that throws goes to onError; an onError that throws does not end the loop', async () => {
    server.reply(() => ok(bundleV1, '"v1"'));
    const seen: Error[] = [];
    const poller = new BundlePoller({
      url: server.url,
      onBundle: () => Promise.reject(new Error('snapshot store is closed')),
      onError: (error) => {
        seen.push(error);
        throw new Error('logger exploded');
      },
    });
    pollers.push(poller);

    await expect(poller.pollNow()).resolves.toBeUndefined();
    await expect(poller.pollNow()).resolves.toBeUndefined();

    expect(seen.map((error) => error.message)).toEqual([
      'snapshot store is closed',
      'snapshot store is closed',
    ]);
    expect(poller.status().consecutiveFailures).toBe(2);
  });

  it('a failing headers supplier is a failed attempt, not a crash', async () => {
    const { poller, errors } = harness({
      headers: () => Promise.reject(new Error('token endpoint unreachable')),
    });

    await poller.pollNow();

    expect(errors[0]?.message).toMatch(
      /the request headers supplier failed: token endpoint unreachable/,
    );
    expect((errors[0] as BundleError).code).toBe('GH_BUNDLE_DOWNLOAD_FAILED');
  });
});

describe('BundlePoller: long polling', () => {
  it('sends Prefer: wait=N and waits past requestTimeoutMs for a server that holds the request', async () => {
    server.reply(() => ({
      ...ok(bundleV1, '"v1"', { 'content-type': LONG_POLL_TYPE }),
      delayMs: 1000,
    }));
    const { poller, bundles, errors } = harness({ longPollingTimeoutS: 3, requestTimeoutMs: 300 });
    const before = server.requests.length;

    await poller.pollNow();

    expect(errors).toEqual([]);
    expect(server.requests[before]?.headers.prefer).toBe('modes=snapshot;wait=3');
    expect(bundles).toHaveLength(1);
    // The server said it long-polls: the next request goes out at once.
    expect(poller.status().longPolling).toBe(true);
    expect(dueInMs(poller)).toBeLessThanOrEqual(0);
  });

  it('a held 304 is followed by the next long poll at once', async () => {
    server.reply((_, headers) =>
      headers['if-none-match'] === '"v1"'
        ? { status: 304, delayMs: 1100 }
        : ok(bundleV1, '"v1"', { 'content-type': LONG_POLL_TYPE }),
    );
    const { poller, bundles } = harness({ longPollingTimeoutS: 1, requestTimeoutMs: 500 });

    await poller.pollNow();
    await poller.pollNow();

    expect(bundles).toHaveLength(1);
    expect(dueInMs(poller)).toBeLessThanOrEqual(0);
  });

  it('does not spin on a server that answers 304 at once despite the wait', async () => {
    server.reply((_, headers) =>
      headers['if-none-match'] === '"v1"'
        ? { status: 304 }
        : ok(bundleV1, '"v1"', { 'content-type': LONG_POLL_TYPE }),
    );
    const { poller } = harness({ longPollingTimeoutS: 30 });

    await poller.pollNow();
    await poller.pollNow();

    expect(dueInMs(poller)).toBeGreaterThan(60_000 - 1000);
  });

  it('falls back to regular polling when the server does not answer with the long-poll type', async () => {
    server.reply(() => ok(bundleV1, '"v1"'));
    const { poller } = harness({ longPollingTimeoutS: 30 });

    await poller.pollNow();

    expect(poller.status().longPolling).toBe(false);
    expect(dueInMs(poller)).toBeGreaterThan(60_000 - 1000);
  });

  it('without long polling, Prefer only names the snapshot mode', async () => {
    server.reply(() => ok(bundleV1));
    const { poller } = harness();
    const before = server.requests.length;

    await poller.pollNow();

    expect(server.requests[before]?.headers.prefer).toBe('modes=snapshot');
  });
});

describe('BundlePoller: start and stop', () => {
  it('start() polls at once, then again after each delay; stop() ends it', async () => {
    server.reply((_, headers) =>
      headers['if-none-match'] === '"v1"' ? { status: 304 } : ok(bundleV1, '"v1"'),
    );
    const { poller, bundles } = harness({ pollMinDelayS: 0.05, pollMaxDelayS: 0.1 });
    const before = server.requests.length;

    poller.start();
    await vi.waitFor(
      () => {
        expect(server.requests.length - before).toBeGreaterThanOrEqual(3);
      },
      { timeout: 5000, interval: 20 },
    );
    poller.stop();
    await sleep(50); // let an attempt that was already answered finish
    const afterStop = server.requests.length;
    await sleep(300);

    expect(server.requests.length).toBe(afterStop);
    expect(bundles).toHaveLength(1);
    expect(poller.status().nextAttemptAt).toBeUndefined();
  });

  it('stop() aborts a request in flight, without reporting an error', async () => {
    server.reply(() => ({ status: 200, hang: true }));
    const { poller, errors } = harness({ requestTimeoutMs: 30_000 });
    const before = server.requests.length;

    const polling = poller.pollNow();
    await vi.waitFor(() => {
      expect(server.requests.length).toBe(before + 1);
    });
    poller.stop();

    await polling;
    await server.requests[before]?.closed;
    expect(errors).toEqual([]);
    expect(poller.status().consecutiveFailures).toBe(0);
  });

  it('backs off on the clock: fake timers, a failing attempt every 1, 1.6, 2.56 ... s, capped', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const attemptsAt: number[] = [];
    const start = Date.now();
    const { poller, errors } = harness({
      backoffBaseMs: 1000,
      backoffMaxMs: 5000,
      headers: () => {
        attemptsAt.push(Date.now() - start);
        return Promise.reject(new Error('no token yet'));
      },
    });

    poller.start();
    await vi.advanceTimersByTimeAsync(20_000);
    poller.stop();

    // Every attempt fails before any network I/O, so the schedule is exact.
    expect(attemptsAt.slice(0, 7)).toEqual([0, 1000, 2600, 5160, 9256, 14256, 19256]);
    expect(errors).toHaveLength(attemptsAt.length);
    expect(poller.status().consecutiveFailures).toBe(attemptsAt.length);
  });
});

describe('BundlePoller: options', () => {
  const table: Array<[string, Partial<BundlePollerOptions>, RegExp]> = [
    [
      'a URL with credentials',
      { url: 'https://user:pw@pap.example/b.tar.gz' },
      /must not carry credentials/,
    ],
    ['a non-HTTP URL', { url: 'file:///etc/bundle.tar.gz' }, /url must be http or https/],
    ['not a URL', { url: 'pap.example/b' }, /is not a URL/],
    [
      'max delay below min',
      { pollMinDelayS: 10, pollMaxDelayS: 5 },
      /pollMaxDelayS \(5\) must not be below pollMinDelayS \(10\)/,
    ],
    [
      'fractional long-poll seconds',
      { longPollingTimeoutS: 1.5 },
      /longPollingTimeoutS must be a positive whole number/,
    ],
    ['zero timeout', { requestTimeoutMs: 0 }, /requestTimeoutMs must be a positive number/],
    ['backoff max below base', { backoffBaseMs: 2000, backoffMaxMs: 1000 }, /backoffMaxMs/],
  ];
  for (const [name, options, message] of table) {
    it(`refuses ${name}`, () => {
      let caught: unknown;
      try {
        harness(options);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(BundleError);
      expect((caught as BundleError).code).toBe('GH_BUNDLE_OPTIONS_INVALID');
      expect((caught as BundleError).message).toMatch(message);
    });
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
