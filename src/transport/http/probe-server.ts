import { Worker } from 'node:worker_threads';
import type { Logger } from '../../observability/logger.js';
import { LOG } from '../../observability/log-messages.js';
import type { ProbeEndpointOptions } from './probe-endpoints.js';

/**
 * /healthz fails once the main event loop has made no progress (no timer beat, no check
 * decided) for this long: a wedged process should be restarted. Below kubelet's default 30 s
 * before a restart (periodSeconds 10 x failureThreshold 3).
 */
export const LIVENESS_STALL_MS = 10_000;

/** How often the main loop publishes its heartbeat and readiness to the probe thread. */
const HEARTBEAT_MS = 100;

/** How long /metrics and /status wait for the main loop before answering 503. */
const RELAY_TIMEOUT_MS = 5_000;

export interface ProbeServerOptions extends ProbeEndpointOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
}

export interface RunningProbeServer {
  readonly port: number;
  /**
   * Marks the main loop as alive now. The timer beats every 100 ms, but a flood can hold one
   * turn of the event loop for seconds while checks are still being answered: calling this per
   * decided check keeps a flooded process alive and lets only a wedged one go stale.
   */
  beat(): void;
  close(): Promise<void>;
}

/** Shared with the probe thread: [0] readiness (0/1), [1] last heartbeat (ms since epoch). */
const SLOT_READY = 0;
const SLOT_HEARTBEAT = 1;

interface RelayRequest {
  readonly id: number;
  readonly path: '/metrics' | '/status';
  /** The request's Accept asked for HTML (the status page). */
  readonly html?: boolean;
}

/**
 * The probe thread's code: plain JavaScript, so it runs the same from tsx, vitest and dist.
 * It answers /healthz and /readyz from the shared slots without asking the main thread, and
 * relays /metrics and /status to it.
 */
const PROBE_THREAD = `
'use strict';
const { createServer } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const { host, port, shared, stallMs, relayTimeoutMs } = workerData;
const slots = new BigInt64Array(shared);
const pending = new Map();
let nextId = 0;
parentPort.on('message', (reply) => {
  const done = pending.get(reply.id);
  if (done !== undefined) { pending.delete(reply.id); done(reply); }
});
function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
const server = createServer((req, res) => {
  const path = (req.url || '/').split('?', 1)[0];
  const beat = Number(Atomics.load(slots, ${String(SLOT_HEARTBEAT)}));
  const alive = Date.now() - beat < stallMs;
  if (path === '/healthz') {
    if (alive) send(res, 200, 'text/plain', 'ok\\n');
    else send(res, 503, 'text/plain', 'event loop stalled\\n');
  } else if (path === '/readyz') {
    const ready = alive && Atomics.load(slots, ${String(SLOT_READY)}) === 1n;
    send(res, ready ? 200 : 503, 'text/plain', ready ? 'ready\\n' : 'no snapshot loaded\\n');
  } else if (path === '/metrics' || path === '/status') {
    const id = nextId++;
    const timer = setTimeout(() => {
      pending.delete(id);
      send(res, 503, 'text/plain', 'main event loop did not answer in time\\n');
    }, relayTimeoutMs);
    pending.set(id, (reply) => {
      clearTimeout(timer);
      send(res, reply.status, reply.contentType, reply.body);
    });
    const html = /text[/]html/i.test(req.headers.accept || '');
    parentPort.postMessage({ id, path, html });
  } else {
    send(res, 404, 'text/plain', 'not found\\n');
  }
});
server.headersTimeout = 5000;
server.requestTimeout = 10000;
server.on('error', (error) => parentPort.postMessage({ error: String(error) }));
server.listen(port, host, () => parentPort.postMessage({ listening: server.address().port }));
`;

/**
 * /healthz, /readyz, /metrics and /status on a listener of their own (`probes.port`), in a
 * thread of their own. A check flood keeps the main event loop busy; a probe answered there
 * waits behind it, and kubelet restarts a healthy sidecar whose probe misses its 1 s timeout.
 * This thread answers /healthz and /readyz from what the main loop last published (every
 * 100 ms): alive while the main loop keeps beating, ready while a snapshot is active.
 */
export async function startProbeServer(options: ProbeServerOptions): Promise<RunningProbeServer> {
  const shared = new SharedArrayBuffer(2 * BigInt64Array.BYTES_PER_ELEMENT);
  const slots = new BigInt64Array(shared);
  const publish = (): void => {
    let ready = false;
    try {
      ready = options.authorizer.isReady();
    } catch {
      // A readiness that cannot tell is not ready.
    }
    Atomics.store(slots, SLOT_READY, ready ? 1n : 0n);
    Atomics.store(slots, SLOT_HEARTBEAT, BigInt(Date.now()));
  };
  publish();
  const heartbeat = setInterval(publish, HEARTBEAT_MS);
  heartbeat.unref();

  const worker = new Worker(PROBE_THREAD, {
    eval: true,
    workerData: {
      host: options.host,
      port: options.port,
      shared,
      stallMs: LIVENESS_STALL_MS,
      relayTimeoutMs: RELAY_TIMEOUT_MS,
    },
  });
  const relay = async (request: RelayRequest): Promise<void> => {
    try {
      const reply =
        request.path === '/metrics'
          ? {
              status: 200,
              contentType: options.metrics.registry.contentType,
              body: await options.metrics.registry.metrics(),
            }
          : request.html === true && options.statusPage !== undefined
            ? {
                status: 200,
                contentType: 'text/html; charset=utf-8',
                body: await options.statusPage.html(),
              }
            : {
                status: 200,
                contentType: 'application/json',
                body: JSON.stringify(options.status?.() ?? { ready: options.authorizer.isReady() }),
              };
      worker.postMessage({ id: request.id, ...reply });
    } catch (error) {
      options.logger.error({ err: error, path: request.path }, LOG.probeFailed);
      worker.postMessage({
        id: request.id,
        status: 500,
        contentType: 'text/plain',
        body: 'error\n',
      });
    }
  };

  worker.on('message', (message: RelayRequest | { listening?: number; error?: string }) => {
    if ('id' in message) void relay(message);
  });

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      worker.on('message', (message: { listening?: number; error?: string }) => {
        if (message.listening !== undefined) resolve(message.listening);
        else if (message.error !== undefined) reject(new Error(message.error));
      });
      worker.once('error', reject);
      worker.once('exit', (code) => {
        reject(new Error(`probe thread exited (${String(code)}) before listening`));
      });
    });
  } catch (error) {
    clearInterval(heartbeat);
    await worker.terminate();
    throw error;
  }
  // From here on the thread must not keep the process alive on its own.
  worker.unref();
  options.logger.info({ host: options.host, port }, LOG.probesListening);
  return {
    port,
    beat: () => {
      Atomics.store(slots, SLOT_HEARTBEAT, BigInt(Date.now()));
    },
    close: async () => {
      clearInterval(heartbeat);
      await worker.terminate();
    },
  };
}
