import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_IDENTITY_HEADERS } from '../../src/config/identity-headers.js';
import { METHOD_OVERRIDE_HEADERS } from '../../src/check/method-override.js';
import { freeLoopbackPort } from './listen.js';
import { firstExecutable, onPath, startProcess } from './managed-process.js';

/**
 * A real NGINX (Debian's package, with ngx_http_auth_request_module) for end-to-end tests:
 * one process per test suite, configured in a fresh temp dir, on a free 127.0.0.1 port.
 */

export interface StartNginxOptions {
  /** The Gatehouse NGINX check endpoint, e.g. `http://127.0.0.1:PORT/nginx`. */
  readonly authUrl: string;
  /**
   * Where allowed requests go: `http://host:port` with no path, so that nginx forwards the
   * client's request-target unchanged (with a URI part, proxy_pass sends the normalized,
   * re-encoded URI instead; nginx docs, proxy_pass).
   */
  readonly upstreamUrl: string;
}

export interface RunningNginx {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  readonly baseUrl: string;
  /** SIGTERM, then SIGKILL after a grace period; waits for the exit, removes the temp dir. */
  stop(): Promise<void>;
}

/** Debian installs nginx in /usr/sbin, which is not on every user's PATH. */
const FALLBACK_BINARY = '/usr/sbin/nginx';
/** How long nginx may take to answer on its port, in milliseconds. */
const START_TIMEOUT_MS = 10_000;
/** Attempts when another process takes the free port between our probe and nginx's bind. */
const BIND_ATTEMPTS = 5;
const POLL_INTERVAL_MS = 25;

/** Locates nginx: `nginx` on PATH first, then /usr/sbin/nginx. Throws when neither exists. */
export async function findNginx(): Promise<string> {
  const found = await firstExecutable([...onPath('nginx'), FALLBACK_BINARY]);
  if (found !== undefined) return found;
  throw new Error(
    'nginx not found (looked on PATH and at /usr/sbin/nginx). The NGINX auth_request ' +
      'tests run a real nginx: run "npm run setup" (scripts/install-nginx.sh) once.',
  );
}

/**
 * The `http {}` part users copy: the protected location asks Gatehouse through
 * auth_request and forwards the verified subject; the internal location tells Gatehouse
 * which request it is deciding on. docs/integrations.md shows the same shape.
 */
export function gatehouseServerBlock(
  options: StartNginxOptions & { readonly port: number },
): string {
  return `server {
    listen 127.0.0.1:${options.port};
    server_name localhost;

    location / {
        # Every request is first sent to /_gatehouse as a subrequest; 2xx lets it through,
        # 401 and 403 are returned to the client (with the 401's WWW-Authenticate).
        auth_request /_gatehouse;
        # Every identity header (and method override header) is set from Gatehouse's answer:
        # proxy_set_header replaces any same-named header the client sent, and an empty
        # value (Gatehouse sent none) is not sent at all (ngx_http_proxy_module).
${upstreamHeaderLines()}
        # DPoP server nonces: Gatehouse's DPoP-Nonce, on the 401 and on the allow ("always"
        # adds it to error responses too; an empty value is not sent).
        auth_request_set $dpop_nonce $upstream_http_dpop_nonce;
        add_header DPoP-Nonce $dpop_nonce always;
        proxy_pass ${options.upstreamUrl};
    }

    location = /_gatehouse {
        internal;
        proxy_pass ${options.authUrl};
        # Gatehouse decides on the request line and headers; the body stays with nginx.
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        # $request_uri is the request-target exactly as the client sent it: Gatehouse
        # normalizes it itself, so nginx and Gatehouse can never disagree on the path.
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header X-Original-Method $request_method;
        proxy_set_header X-Original-Host $host;
        proxy_set_header X-Original-Proto $scheme;
        # Overwrite what the client may have sent: Gatehouse reads the source from these.
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $remote_addr;
    }
}`;
}

/**
 * Headers NGINX must take only from Gatehouse's answer: the default identity headers (which
 * include the fixture catalog's claim headers but x-tenant), x-tenant, and the method override
 * headers. One auth_request_set + proxy_set_header pair each, as docs/tokens.md says.
 */
export const NGINX_ANSWER_HEADERS: readonly string[] = [
  ...DEFAULT_IDENTITY_HEADERS,
  'x-tenant',
  ...METHOD_OVERRIDE_HEADERS,
];

function upstreamHeaderLines(): string {
  return NGINX_ANSWER_HEADERS.map((name) => {
    const variable = `$gatehouse_${name.replaceAll('-', '_')}`;
    return [
      `        auth_request_set ${variable} $upstream_http_${name.replaceAll('-', '_')};`,
      `        proxy_set_header ${name} ${variable};`,
    ].join('\n');
  }).join('\n');
}

/**
 * The http {} lines that send nginx's access log and temp files under `dir` (its compiled-in
 * defaults need root), indented for the http block.
 */
export function writableHttpPaths(dir: string): string {
  const file = (name: string): string => path.join(dir, name);
  return [
    `    access_log ${file('access.log')};`,
    `    client_body_temp_path ${file('client_body')};`,
    `    proxy_temp_path ${file('proxy')};`,
    `    fastcgi_temp_path ${file('fastcgi')};`,
    `    uwsgi_temp_path ${file('uwsgi')};`,
    `    scgi_temp_path ${file('scgi')};`,
  ].join('\n');
}

/** The whole nginx.conf: a foreground, single-process nginx that writes only under `dir`. */
export function nginxConfig(
  options: StartNginxOptions & { readonly port: number; readonly dir: string },
): string {
  const file = (name: string): string => path.join(options.dir, name);
  // Started by root without a `user` directive, nginx would use "nobody" (for its worker
  // and for the temp dirs it creates), which may not read a root-owned temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const server = gatehouseServerBlock(options)
    .split('\n')
    .map((line) => (line === '' ? line : `    ${line}`))
    .join('\n');
  return `# Written by test/helpers/nginx.ts for one test suite.
${user}daemon off;
master_process off;
pid ${file('nginx.pid')};
lock_file ${file('nginx.lock')};
error_log ${file('error.log')} info;

events {
    worker_connections 64;
}

http {
${writableHttpPaths(options.dir)}

${server}
}
`;
}

/** Starts nginx in front of `upstreamUrl`, asking `authUrl` about every request. */
export async function startNginx(options: StartNginxOptions): Promise<RunningNginx> {
  assertOrigin('upstreamUrl', options.upstreamUrl, false);
  assertOrigin('authUrl', options.authUrl, true);
  const binary = await findNginx();
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-nginx-'));
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freeLoopbackPort();
      const started = await launch(binary, dir, { ...options, port });
      if (started.ok) return started.nginx;
      if (!started.portTaken || attempt >= BIND_ATTEMPTS) throw new Error(started.message);
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

type Launch =
  | { readonly ok: true; readonly nginx: RunningNginx }
  | { readonly ok: false; readonly portTaken: boolean; readonly message: string };

async function launch(
  binary: string,
  dir: string,
  options: StartNginxOptions & { readonly port: number },
): Promise<Launch> {
  const confFile = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'error.log');
  const pidFile = path.join(dir, 'nginx.pid');
  await rm(errorLog, { force: true });
  await rm(pidFile, { force: true });
  await writeFile(confFile, nginxConfig({ ...options, dir }));

  // -p: prefix for relative paths; -e (nginx 1.19.5+): the error log used before the
  // config is read, instead of the compiled-in one (stderr or /var/log/nginx).
  const started = await startProcess({
    name: 'nginx',
    binary,
    args: ['-c', confFile, '-p', `${dir}/`, '-e', errorLog],
    startTimeoutMs: START_TIMEOUT_MS,
    pollIntervalMs: POLL_INTERVAL_MS,
    // nginx writes its pid file only after binding its listen sockets; without that check,
    // another process that took the port in the meantime would pass for nginx.
    ready: async (pid) =>
      (await wrotePid(pidFile, pid)) && (await answers(options.port)) ? true : undefined,
  });
  if (started.ok) {
    return {
      ok: true,
      nginx: {
        baseUrl: `http://127.0.0.1:${options.port}`,
        stop: async () => {
          await started.process.stop();
          await rm(dir, { recursive: true, force: true });
        },
      },
    };
  }
  const log = await readFile(errorLog, 'utf8').catch(() => '');
  return {
    ok: false,
    portTaken: /Address already in use/.test(log + started.stderr),
    message: `${started.why}\n--- ${errorLog} ---\n${log}${started.stderr === '' ? '' : `--- stderr ---\n${started.stderr}`}`,
  };
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
    socket.once('timeout', () => {
      done(false);
    });
  });
}

async function wrotePid(pidFile: string, pid: number | undefined): Promise<boolean> {
  const text = await readFile(pidFile, 'utf8').catch(() => '');
  return pid !== undefined && text.trim() === String(pid);
}

/**
 * The URLs go into nginx.conf verbatim: accept only plain `http://host:port` (plus a path
 * for the auth URL), nothing that could end the directive or start another.
 */
function assertOrigin(name: string, value: string, pathAllowed: boolean): void {
  const pattern = pathAllowed
    ? /^http:\/\/[A-Za-z0-9.-]+:\d+(\/[A-Za-z0-9._~/-]*)?$/
    : /^http:\/\/[A-Za-z0-9.-]+:\d+$/;
  if (!pattern.test(value)) {
    throw new Error(
      `startNginx: ${name} must look like http://127.0.0.1:PORT${pathAllowed ? '/path' : ' (no path, no trailing slash)'}, got ${JSON.stringify(value)}`,
    );
  }
}
