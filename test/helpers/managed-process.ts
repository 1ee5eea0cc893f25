import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A real binary (Envoy, NGINX) that a test starts itself, waits for, and stops by the pid it
 * started, never by name: the one place that spawns, polls for readiness, and terminates.
 */

/** How long stop() waits after SIGTERM before SIGKILL, in milliseconds. */
const STOP_GRACE_MS = 5_000;

export interface StartProcessOptions<T> {
  /** What the process is, for messages: `envoy`, `nginx`. */
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly startTimeoutMs: number;
  readonly pollIntervalMs: number;
  /** Asked until it returns a value (the process is ready) or the process exits. */
  readonly ready: (pid: number | undefined) => Promise<T | undefined>;
}

export interface ManagedProcess {
  /** SIGTERM to the pid this helper started, SIGKILL after a grace period; waits for the exit. */
  stop(): Promise<void>;
}

export type ProcessStart<T> =
  | { readonly ok: true; readonly process: ManagedProcess; readonly value: T }
  | {
      readonly ok: false;
      /** Why it did not become ready: could not run, exited early, or timed out. */
      readonly why: string;
      /** What the process wrote to stderr. */
      readonly stderr: string;
    };

/** The first of `candidates` that is an executable file, else undefined. */
export async function firstExecutable(candidates: readonly string[]): Promise<string | undefined> {
  for (const candidate of candidates) {
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** `name` in each directory on PATH, in order. */
export function onPath(name: string): string[] {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => path.join(dir, name));
}

/**
 * Spawns the binary and waits until `ready` answers. On failure the process is already
 * stopped; the caller adds its own log to the message.
 */
export async function startProcess<T>(options: StartProcessOptions<T>): Promise<ProcessStart<T>> {
  const child = spawn(options.binary, options.args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  // A test worker that dies without calling stop() must not leave the process running.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    await terminate(child, exited);
    process.off('exit', killOnExit);
  };

  const deadline = Date.now() + options.startTimeoutMs;
  while (!hasExited(child) && spawnError === undefined && Date.now() < deadline) {
    const value = await options.ready(child.pid);
    if (value !== undefined) return { ok: true, process: { stop }, value };
    await sleep(options.pollIntervalMs);
  }
  const why =
    spawnError !== undefined
      ? `could not run ${options.binary}: ${spawnError.message}`
      : hasExited(child)
        ? `${options.name} exited early (code ${child.exitCode ?? 'none'}, signal ${child.signalCode ?? 'none'})`
        : `${options.name} was not ready within ${options.startTimeoutMs} ms`;
  await stop();
  return { ok: false, why, stderr };
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (hasExited(child) || child.pid === undefined) return;
  // Envoy and single-process nginx both exit on SIGTERM; SIGKILL if one hangs.
  child.kill('SIGTERM');
  const grace = sleep(STOP_GRACE_MS, 'timeout' as const);
  if ((await Promise.race([exited, grace])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
