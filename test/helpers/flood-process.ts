/**
 * A flood of checks from a process of its own (so its work does not share Gatehouse's event
 * loop, as Envoy's or NGINX's would not): keeps `concurrency` checks in flight, each answer
 * sending the next, until told to stop. Started by flood.ts with an IPC channel:
 *   parent -> { start: FloodSpec }, then { stop: true }
 *   child  -> { running: true } once `concurrency` checks are in flight, then { result }.
 *
 * gRPC: real @grpc/grpc-js channels speaking ext_authz v3. HTTP: `concurrency` keep-alive
 * connections (undici), one request at a time on each, as a proxy's connection pool does.
 */
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import { Pool } from 'undici';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import type {
  CheckRequestMessage,
  CheckResponseMessage,
} from '../../src/transport/grpc/wire-types.js';
import { probeOnce, type FloodResult, type FloodSpec, type OutcomeLatencies } from './flood.js';

/**
 * No check may hang the flood forever: a call past this is counted as a client-side timeout.
 * Long, because tests hold checks on purpose for the length of a flood.
 */
const CALL_TIMEOUT_MS = 60_000;

type Outcome = string;

class Tally {
  readonly latenciesMs = new Map<Outcome, number[]>();
  add(outcome: Outcome, startedAt: number): void {
    const latency = performance.now() - startedAt;
    const list = this.latenciesMs.get(outcome);
    if (list === undefined) this.latenciesMs.set(outcome, [latency]);
    else list.push(latency);
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

function latencies(values: readonly number[]): OutcomeLatencies {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? 0,
  };
}

function summarize(tally: Tally, durationMs: number): FloodResult {
  const outcomes: Record<Outcome, OutcomeLatencies> = {};
  for (const [outcome, values] of tally.latenciesMs) outcomes[outcome] = latencies(values);
  return {
    outcomes,
    all: latencies([...tally.latenciesMs.values()].flat()),
    durationMs,
  };
}

function grpcRequest(spec: FloodSpec): CheckRequestMessage {
  const headers: Record<string, string> = {
    ':authority': 'api.example.com',
    ':path': spec.path,
    ':method': 'GET',
    ...(spec.token === undefined ? {} : { authorization: `Bearer ${spec.token}` }),
  };
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 50000 } } },
      request: {
        http: {
          id: 'flood',
          method: 'GET',
          path: spec.path,
          host: 'api.example.com',
          scheme: 'https',
          protocol: 'HTTP/2',
          headers,
        },
      },
    },
  };
}

interface Flood {
  /** Sends nothing more; the checks in flight still get their answers. */
  stopSending(): void;
  /** Checks sent and not yet answered. */
  inFlight(): number;
  /** Stops sending and resolves once every check in flight has been answered. */
  stop(): Promise<void>;
}

function grpcFlood(spec: FloodSpec, tally: Tally, onRunning: () => void): Flood {
  const check = loadProtos().authorization.Check;
  const channels = Array.from(
    { length: spec.channels ?? 1 },
    // A distinct option per channel keeps grpc-js from sharing one subchannel (connection).
    (_, i) => new Client(spec.target, credentials.createInsecure(), { 'grpc.flood_channel': i }),
  );
  const request = grpcRequest(spec);
  let stopping = false;
  let inFlight = 0;
  let started = 0;
  let drained: () => void = () => undefined;
  const fire = (): void => {
    const channel = channels[started++ % channels.length];
    if (channel === undefined) return;
    inFlight++;
    const startedAt = performance.now();
    channel.makeUnaryRequest(
      check.path,
      check.requestSerialize,
      check.responseDeserialize,
      request,
      { deadline: Date.now() + CALL_TIMEOUT_MS },
      (error: ServiceError | null, response?: CheckResponseMessage) => {
        inFlight--;
        if (error !== null) {
          tally.add(`grpc-error-${String(error.code)}`, startedAt);
          if (process.env.FLOOD_DEBUG === '1') process.stderr.write(`${error.details}\n`);
        } else if (response?.status.code === 0) tally.add('allowed', startedAt);
        else tally.add(response?.status.message ?? 'no-status', startedAt);
        if (!stopping) fire();
        else if (inFlight === 0) drained();
      },
    );
  };
  for (let i = 0; i < spec.concurrency; i++) fire();
  onRunning();
  return {
    stopSending: () => {
      stopping = true;
    },
    inFlight: () => inFlight,
    stop: () =>
      new Promise<void>((resolve) => {
        stopping = true;
        drained = () => {
          for (const channel of channels) channel.close();
          resolve();
        };
        if (inFlight === 0) drained();
      }),
  };
}

function httpFlood(spec: FloodSpec, tally: Tally, onRunning: () => void): Flood {
  const pool = new Pool(spec.target, {
    connections: spec.concurrency,
    pipelining: 1,
    headersTimeout: CALL_TIMEOUT_MS,
    bodyTimeout: CALL_TIMEOUT_MS,
    connectTimeout: CALL_TIMEOUT_MS,
  });
  const headers = spec.token === undefined ? {} : { authorization: `Bearer ${spec.token}` };
  let stopping = false;
  let inFlight = 0;
  const one = async (): Promise<void> => {
    const startedAt = performance.now();
    inFlight++;
    try {
      const response = await pool.request({ method: 'GET', path: spec.path, headers });
      const text = await response.body.text();
      if (response.statusCode === 200) {
        tally.add('allowed', startedAt);
        return;
      }
      let code = 'no-code';
      try {
        const error = (JSON.parse(text) as { error?: unknown }).error;
        if (typeof error === 'string') code = error;
      } catch {
        // Not our JSON deny body: keep 'no-code'.
      }
      tally.add(`${String(response.statusCode)} ${code}`, startedAt);
    } catch (error) {
      tally.add(`http-error-${(error as { code?: string }).code ?? 'unknown'}`, startedAt);
    } finally {
      inFlight--;
    }
  };
  const loop = async (): Promise<void> => {
    while (!stopping) await one();
  };
  const loops = Array.from({ length: spec.concurrency }, loop);
  onRunning();
  return {
    stopSending: () => {
      stopping = true;
    },
    inFlight: () => inFlight,
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
      await pool.close();
    },
  };
}

let flood: Flood | undefined;
let tally = new Tally();
let startedAt = 0;

/** Probes as kubelet sends them: every intervalMs, a new connection to each URL. */
function probeFlood(spec: FloodSpec, tally: Tally, onRunning: () => void): Flood {
  let stopping = false;
  let inFlight = 0;
  const pending: Array<Promise<void>> = [];
  const round = (): void => {
    for (const url of spec.urls ?? []) {
      inFlight++;
      const startedAt = performance.now();
      pending.push(
        probeOnce(url, 1000).then((sample) => {
          inFlight--;
          const { port, pathname } = new URL(url);
          tally.add(`${String(sample.status ?? 'timeout')} :${port}${pathname}`, startedAt);
        }),
      );
    }
  };
  const timer = setInterval(round, spec.intervalMs ?? 50);
  round();
  onRunning();
  const stopSending = (): void => {
    if (!stopping) clearInterval(timer);
    stopping = true;
  };
  return {
    stopSending,
    inFlight: () => inFlight,
    stop: async () => {
      stopSending();
      await Promise.all(pending);
    },
  };
}

const FLOODS = { grpc: grpcFlood, http: httpFlood, probe: probeFlood } as const;

process.on(
  'message',
  (message: { start?: FloodSpec; stop?: true; pause?: true; inFlight?: true }) => {
    if (message.pause === true) {
      flood?.stopSending();
      process.send?.({ paused: true });
      return;
    }
    if (message.inFlight === true) {
      process.send?.({ inFlight: flood?.inFlight() ?? 0 });
      return;
    }
    if (message.start !== undefined) {
      const spec = message.start;
      tally = new Tally();
      startedAt = performance.now();
      const running = (): void => {
        process.send?.({ running: true });
      };
      flood = FLOODS[spec.kind](spec, tally, running);
    } else if (message.stop === true) {
      const durationMs = performance.now() - startedAt;
      void (flood?.stop() ?? Promise.resolve()).then(() => {
        process.send?.({ result: summarize(tally, durationMs) }, undefined, {}, () => {
          process.disconnect();
        });
      });
    }
  },
);
