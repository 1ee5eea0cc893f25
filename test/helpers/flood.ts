import { fork, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';

/** What flood-process.ts sends: `concurrency` checks kept in flight against `target`. */
export interface FloodSpec {
  /** `probe`: not checks but kubelet-like probes of `urls`, every `intervalMs`. */
  readonly kind: 'grpc' | 'http' | 'probe';
  /** gRPC: "127.0.0.1:port"; HTTP: "http://127.0.0.1:port"; probe: unused. */
  readonly target: string;
  readonly concurrency: number;
  /** The checked path: gRPC the request's path, HTTP the URL path (e.g. /envoy/orders/42). */
  readonly path: string;
  readonly token?: string | undefined;
  /** gRPC only: HTTP/2 connections to spread the calls over; default 1. */
  readonly channels?: number;
  /** probe only: the URLs, each probed with a new connection every intervalMs (default 50). */
  readonly urls?: readonly string[];
  readonly intervalMs?: number;
}

export interface OutcomeLatencies {
  readonly count: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface FloodResult {
  /** By outcome: "allowed", a deny code (gRPC), "<status> <code>" (HTTP), or an error. */
  readonly outcomes: Readonly<Record<string, OutcomeLatencies>>;
  readonly all: OutcomeLatencies;
  readonly durationMs: number;
}

export interface RunningFlood {
  /** Stops sending; the checks in flight still get their answers. */
  stopSending(): Promise<void>;
  /** Checks sent and not yet answered. */
  inFlight(): Promise<number>;
  /** Stops sending, waits for the answers in flight and returns the tally. */
  stop(): Promise<FloodResult>;
}

const FLOOD_PROCESS = fileURLToPath(new URL('./flood-process.ts', import.meta.url));

/** Starts a flood from a child process (tsx) and resolves once it is running. */
export async function startFlood(spec: FloodSpec): Promise<RunningFlood> {
  const child: ChildProcess = fork(FLOOD_PROCESS, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code) => {
      reject(new Error(`flood process exited (${String(code)}) before reporting`));
    });
  });
  const nextMessage = <T>(pick: (message: Record<string, unknown>) => T | undefined): Promise<T> =>
    Promise.race([
      exited,
      new Promise<T>((resolve) => {
        const listener = (message: Record<string, unknown>): void => {
          const value = pick(message);
          if (value === undefined) return;
          child.off('message', listener);
          resolve(value);
        };
        child.on('message', listener);
      }),
    ]);
  exited.catch(() => undefined);
  const running = nextMessage((m) => (m.running === true ? true : undefined));
  child.send({ start: spec });
  await running;
  return {
    stopSending: async () => {
      const paused = nextMessage((m) => (m.paused === true ? true : undefined));
      child.send({ pause: true });
      await paused;
    },
    inFlight: async () => {
      const count = nextMessage((m) => (typeof m.inFlight === 'number' ? m.inFlight : undefined));
      child.send({ inFlight: true });
      return count;
    },
    stop: async () => {
      const result = nextMessage((m) => m.result as FloodResult | undefined);
      child.send({ stop: true });
      return result;
    },
  };
}

export interface ProbeSample {
  readonly status: number | undefined;
  readonly latencyMs: number;
}

/**
 * One probe as kubelet makes it: a new connection (no keep-alive), GET, read the answer.
 * A probe that does not answer within timeoutMs has status undefined.
 */
export function probeOnce(url: string, timeoutMs = 5000): Promise<ProbeSample> {
  const startedAt = performance.now();
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => {
        resolve({ status: res.statusCode, latencyMs: performance.now() - startedAt });
      });
    });
    const fail = (): void => {
      req.destroy();
      resolve({ status: undefined, latencyMs: performance.now() - startedAt });
    };
    req.on('timeout', fail);
    req.on('error', fail);
    req.end();
  });
}

/** Latency percentile (nearest rank) of the samples, in milliseconds. */
export function latencyPercentile(samples: readonly ProbeSample[], p: number): number {
  const sorted = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
