import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { firstExecutable, onPath, startProcess } from './managed-process.js';

/**
 * A real Envoy (the pinned release from scripts/install-envoy.sh) for end-to-end tests,
 * running a shipped deploy/envoy bootstrap with only its socket addresses and ports moved
 * to loopback: the listener and admin on port 0, each cluster on the port of the server the
 * test started. Everything else in the file runs as shipped.
 */

const run = promisify(execFile);

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PROJECT_ENVOY = path.join(PROJECT_ROOT, '.tools', 'bin', 'envoy');
export const DEPLOY_ENVOY = path.join(PROJECT_ROOT, 'deploy', 'envoy');

/** How long Envoy may take to load its config and report ready, in milliseconds. */
const START_TIMEOUT_MS = 20_000;
const POLL_INTERVAL_MS = 50;

export interface StartEnvoyOptions {
  /** A bootstrap file, e.g. path.join(DEPLOY_ENVOY, 'envoy-grpc.yaml'). */
  readonly bootstrap: string;
  /** The listener the clients connect to; its port is discovered after start. */
  readonly listener: string;
  /**
   * Every cluster in the file, by name, with the 127.0.0.1 port it must reach. A cluster in
   * the file that is not named here is an error: nothing may reach a port the test did
   * not choose.
   */
  readonly clusters: Readonly<Record<string, number>>;
}

export interface RunningEnvoy {
  /** `http://127.0.0.1:PORT` of the listener, no trailing slash. */
  readonly baseUrl: string;
  /** `http://127.0.0.1:PORT` of the admin interface. */
  readonly adminUrl: string;
  /** Envoy's own log (--log-path), for failure messages. */
  log(): Promise<string>;
  /** SIGTERM to the pid this helper started, SIGKILL after a grace period; removes the temp dir. */
  stop(): Promise<void>;
}

/** The project's .tools/bin/envoy, then `envoy` on PATH. Throws, naming the installer, when neither runs. */
export async function findEnvoy(): Promise<string> {
  const found = await firstExecutable([PROJECT_ENVOY, ...onPath('envoy')]);
  if (found !== undefined) return found;
  throw new Error(
    `envoy not found (looked at ${PROJECT_ENVOY} and on PATH). The Envoy end-to-end tests ` +
      'run a real Envoy: run "bash scripts/install-envoy.sh" (or "npm run setup") once.',
  );
}

/** `envoy --mode validate` on a file as it is: the config loads, nothing is bound. */
export async function validateBootstrap(
  file: string,
): Promise<{ readonly ok: boolean; readonly output: string }> {
  const binary = await findEnvoy();
  try {
    const { stdout, stderr } = await run(
      binary,
      ['--mode', 'validate', '-c', file, '--disable-hot-restart', '--log-level', 'warn'],
      { timeout: 30_000 },
    );
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${failed.message}\n${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

type Yaml = Record<string, unknown>;

/**
 * The shipped bootstrap with its addresses moved: admin and `listener` to 127.0.0.1:0,
 * every cluster endpoint to 127.0.0.1:<port from `clusters`>, and an ext_authz
 * http_service server_uri to the port of its cluster. Nothing else changes.
 */
export function localizeBootstrap(
  text: string,
  options: Pick<StartEnvoyOptions, 'listener' | 'clusters'>,
): string {
  const doc = parse(text) as Yaml;
  const admin = field(doc, 'admin');
  setSocketAddress(field(admin, 'address'), 0);

  const resources = field(doc, 'static_resources');
  const listeners = list(resources, 'listeners');
  const listener = listeners.find((entry) => entry.name === options.listener);
  if (listener === undefined) throw new Error(`no listener named ${options.listener}`);
  if (listeners.length !== 1) throw new Error('expected exactly one listener');
  setSocketAddress(field(listener, 'address'), 0);

  const clusters = list(resources, 'clusters');
  const named = new Set(Object.keys(options.clusters));
  for (const cluster of clusters) {
    const name = String(cluster.name);
    const port = options.clusters[name];
    if (port === undefined) throw new Error(`cluster ${name} has no port in the test`);
    named.delete(name);
    const endpoints = list(field(cluster, 'load_assignment'), 'endpoints');
    for (const group of endpoints) {
      for (const lb of list(group, 'lb_endpoints')) {
        setSocketAddress(field(field(lb, 'endpoint'), 'address'), port);
      }
    }
  }
  if (named.size > 0) throw new Error(`no cluster named ${[...named].join(', ')}`);

  // ext_authz http_service: server_uri.uri must name the same host and port as its cluster.
  walk(doc, (node) => {
    const uri = node.server_uri;
    if (!isRecord(uri)) return;
    const port = options.clusters[String(uri.cluster)];
    if (port === undefined)
      throw new Error(`server_uri names unknown cluster ${String(uri.cluster)}`);
    const url = new URL(String(uri.uri));
    url.hostname = '127.0.0.1';
    url.port = String(port);
    uri.uri = url.origin;
  });
  return stringify(doc);
}

/** Starts Envoy on the localized bootstrap and waits until its admin says it is ready. */
export async function startEnvoy(options: StartEnvoyOptions): Promise<RunningEnvoy> {
  const binary = await findEnvoy();
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-envoy-'));
  const configFile = path.join(dir, path.basename(options.bootstrap));
  const logFile = path.join(dir, 'envoy.log');
  const adminAddressFile = path.join(dir, 'admin-address');
  const readLog = (): Promise<string> => readFile(logFile, 'utf8').catch(() => '');
  try {
    await writeFile(
      configFile,
      localizeBootstrap(await readFile(options.bootstrap, 'utf8'), options),
    );
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  // The access log goes to stdout; nobody reads it here.
  const started = await startProcess({
    name: 'envoy',
    binary,
    args: [
      '-c',
      configFile,
      // Several Envoys on one host: no shared memory between them, and a base id of its own.
      '--disable-hot-restart',
      '--base-id',
      String(uniqueBaseId()),
      // Envoy writes the admin address it bound (port 0) here, once it listens.
      '--admin-address-path',
      adminAddressFile,
      '--log-path',
      logFile,
      '--log-level',
      'info',
      '--concurrency',
      '1',
      '--drain-time-s',
      '0',
    ],
    startTimeoutMs: START_TIMEOUT_MS,
    pollIntervalMs: POLL_INTERVAL_MS,
    ready: async () => {
      const adminUrl = await adminUrlFrom(adminAddressFile);
      if (adminUrl === undefined || !(await isReady(adminUrl))) return undefined;
      const port = await listenerPort(adminUrl, options.listener);
      return port === undefined ? undefined : { adminUrl, port };
    },
  });
  if (started.ok) {
    return {
      baseUrl: `http://127.0.0.1:${started.value.port}`,
      adminUrl: started.value.adminUrl,
      log: readLog,
      stop: async () => {
        await started.process.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const log = await readLog();
  await rm(dir, { recursive: true, force: true });
  throw new Error(
    `${started.why}\n--- envoy log ---\n${log}${started.stderr === '' ? '' : `--- stderr ---\n${started.stderr}`}`,
  );
}

let instances = 0;
/** Distinct per process and per instance (Envoy's --base-id is a uint32). */
function uniqueBaseId(): number {
  instances += 1;
  return ((process.pid % 400_000) * 10_000 + instances) % 4_000_000_000;
}

async function adminUrlFrom(file: string): Promise<string | undefined> {
  const text = (await readFile(file, 'utf8').catch(() => '')).trim();
  return text === '' ? undefined : `http://${text}`;
}

/** GET /ready: 200 "LIVE" once the server is initialized and its listeners accept. */
async function isReady(adminUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${adminUrl}/ready`);
    return response.status === 200 && (await response.text()).trim() === 'LIVE';
  } catch {
    return false;
  }
}

/** The port Envoy bound for `name` (the file asks for port 0), from GET /listeners. */
async function listenerPort(adminUrl: string, name: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${adminUrl}/listeners?format=json`);
    const body = (await response.json()) as {
      listener_statuses?: {
        name?: string;
        local_address?: { socket_address?: { port_value?: number } };
      }[];
    };
    const status = body.listener_statuses?.find((entry) => entry.name === name);
    const port = status?.local_address?.socket_address?.port_value;
    return port === undefined || port === 0 ? undefined : port;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Yaml {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(node: Yaml, key: string): Yaml {
  const value = node[key];
  if (!isRecord(value)) throw new Error(`bootstrap: expected an object at ${key}`);
  return value;
}

function list(node: Yaml, key: string): Yaml[] {
  const value = node[key];
  if (!Array.isArray(value) || !value.every(isRecord))
    throw new Error(`bootstrap: expected a list of objects at ${key}`);
  return value;
}

function setSocketAddress(address: Yaml, port: number): void {
  const socket = field(address, 'socket_address');
  socket.address = '127.0.0.1';
  socket.port_value = port;
}

function walk(node: unknown, visit: (node: Yaml) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, visit);
  } else if (isRecord(node)) {
    visit(node);
    for (const value of Object.values(node)) walk(value, visit);
  }
}
