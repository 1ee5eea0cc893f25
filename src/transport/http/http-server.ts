import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Authorizer } from '../../check/authorizer.js';
import type { TransportName } from '../../check/check-input.js';
import { deny, type HeaderList } from '../../check/decision.js';
import type { DenyCode } from '../../check/deny-codes.js';
import type { Logger } from '../../observability/logger.js';
import { LOG } from '../../observability/log-messages.js';
import type { Metrics } from '../../observability/metrics.js';
import {
  envoyHttpInput,
  jsonInput,
  nginxInput,
  traefikInput,
  type HttpCheckBase,
  type InputResult,
} from './http-check-inputs.js';
import { send, writeDecision } from './http-responses.js';
import { PROBE_PATHS, serveProbe } from './probe-endpoints.js';
import { joinRawHeaders } from './request-headers.js';
import type { TrustedProxies } from './trusted-proxies.js';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly authorizer: Authorizer;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly realm: string;
  readonly envoyPathPrefix: string;
  readonly trustedProxies: TrustedProxies;
  readonly maxBodyBytes: number;
  /** Control-loop status (sources, snapshot, last build) for GET /status. */
  readonly status?: () => unknown;
}

export interface RunningHttpServer {
  readonly port: number;
  close(): Promise<void>;
}

/** The check endpoints; see the README ("HTTP endpoints"). */
export const HTTP_PATHS = {
  nginx: '/nginx',
  traefik: '/traefik',
  json: '/v1/check',
  ...PROBE_PATHS,
} as const;

/**
 * HTTP check server for NGINX auth_request, Traefik forwardAuth, Envoy's HTTP service mode
 * and a JSON decision API, plus health, readiness and metrics.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const server = createServer((req, res) => {
    handle(req, res, options).catch((error: unknown) => {
      // Fail closed: whatever broke, the answer to a check is an explicit 403.
      options.logger.error({ err: error }, LOG.checkFailed);
      if (!res.headersSent) {
        const decision = deny('GH_ERR_INTERNAL', String(error), { realm: options.realm });
        send(res, decision.status, decision.headers, decision.body);
      } else {
        res.destroy();
      }
    });
  });
  // Longer than the usual proxy idle timeouts, so a proxy never reuses a socket we closed.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ host: options.host, port }, LOG.httpListening);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: HttpServerOptions,
): Promise<void> {
  const url = req.url ?? '/';
  const pathname = url.split('?', 1)[0] ?? '/';
  const prefix = options.envoyPathPrefix;

  if (pathname === prefix || pathname.startsWith(`${prefix}/`)) {
    await check(req, res, options, 'http-envoy', (base) => envoyHttpInput(base, prefix));
    return;
  }
  switch (pathname) {
    case HTTP_PATHS.nginx:
      await check(req, res, options, 'nginx', nginxInput);
      return;
    case HTTP_PATHS.traefik:
      await check(req, res, options, 'traefik', traefikInput);
      return;
    case HTTP_PATHS.json:
      await decideJson(req, res, options);
      return;
    default:
      // Probes stay here too for existing setups; kubelet should use probes.port.
      if (await serveProbe(pathname, res, options)) return;
      send(res, 404, [['content-type', 'text/plain']], 'not found\n');
  }
}

async function check(
  req: IncomingMessage,
  res: ServerResponse,
  options: HttpServerOptions,
  transport: Exclude<TransportName, 'grpc' | 'json'>,
  toInput: (base: HttpCheckBase) => InputResult,
): Promise<void> {
  const denyHere = (code: DenyCode, reason: string): void => {
    refuse(res, options, transport, code, reason);
  };
  // Envoy's HTTP mode carries the original path in the URL; the others in forwarded headers.
  const usesForwardedHeaders = transport !== 'http-envoy';
  const peerTrusted = options.trustedProxies.isTrusted(req.socket.remoteAddress);
  if (usesForwardedHeaders && !peerTrusted) {
    // Its X-Forwarded-Uri / X-Original-URI could name any path: never authorize on them.
    options.logger.warn(
      { peer: req.socket.remoteAddress, transport },
      LOG.untrustedForwardedHeaders,
    );
    denyHere(
      'GH_ERR_UNTRUSTED_PROXY',
      `peer ${req.socket.remoteAddress ?? '?'} is not a trusted proxy`,
    );
    return;
  }
  const body = await readBody(req, options.maxBodyBytes);
  if (body === undefined) {
    denyHere('GH_ERR_BODY_TOO_LARGE', 'request body over http.maxBodyBytes');
    return;
  }
  const built = toInput({ req, headers: joinRawHeaders(req.rawHeaders), body, peerTrusted });
  if (!built.ok) {
    denyHere('GH_ERR_INVALID_REQUEST', built.reason);
    return;
  }
  const decision = await options.authorizer.check(built.input);
  writeDecision(res, decision, built.input.transport);
}

/**
 * A call refused by the HTTP door itself, before the pipeline: answered from the deny
 * table like any deny (the same code and status on every door), logged and counted like
 * the pipeline's own.
 */
function refuse(
  res: ServerResponse,
  options: HttpServerOptions,
  transport: Exclude<TransportName, 'grpc'>,
  code: DenyCode,
  reason: string,
  headers?: HeaderList,
): void {
  const decision = deny(code, reason, { realm: options.realm, headers });
  options.logger.info({ transport, code, reason }, LOG.checkDenied);
  options.metrics.decisions.inc({ transport, code });
  writeDecision(res, decision, transport);
}

/**
 * POST /v1/check: answers the decision as JSON (200). A call that is not a check request
 * is refused with a deny-table answer (405, 413, 400), as the other doors refuse theirs.
 */
async function decideJson(
  req: IncomingMessage,
  res: ServerResponse,
  options: HttpServerOptions,
): Promise<void> {
  const json = (status: number, value: unknown): void => {
    send(res, status, [['content-type', 'application/json']], JSON.stringify(value));
  };
  if (req.method !== 'POST') {
    // RFC 9110 section 15.5.6: a 405 lists the methods the target takes.
    refuse(res, options, 'json', 'GH_ERR_METHOD_NOT_ALLOWED', `method ${req.method ?? '?'}`, [
      ['allow', 'POST'],
    ]);
    return;
  }
  const body = await readBody(req, options.maxBodyBytes);
  if (body === undefined) {
    refuse(res, options, 'json', 'GH_ERR_BODY_TOO_LARGE', 'request body over http.maxBodyBytes');
    return;
  }
  const built = jsonInput(req, body);
  if (!built.ok) {
    refuse(res, options, 'json', 'GH_ERR_INVALID_REQUEST', built.reason);
    return;
  }
  const decision = await options.authorizer.check(built.input);
  json(
    200,
    decision.allowed
      ? {
          allowed: true,
          code: decision.code,
          status: 200,
          api: decision.api ?? null,
          revision: decision.revision,
          upstreamHeaders: Object.fromEntries(decision.upstreamHeaders),
          upstreamHeadersToRemove: decision.upstreamHeadersToRemove,
          responseHeaders: Object.fromEntries(decision.responseHeaders),
        }
      : {
          allowed: false,
          code: decision.code,
          status: decision.status,
          reason: decision.reason,
          api: decision.api ?? null,
          revision: decision.revision ?? null,
          headers: Object.fromEntries(decision.headers),
          body: decision.body,
        },
  );
}

/** The request body as text, or undefined when it is longer than maxBytes. */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
