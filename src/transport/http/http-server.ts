import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type ServerResponse,
} from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Authorizer } from '../../check/authorizer.js';
import type { TransportName } from '../../check/check-input.js';
import { deny, type HeaderList } from '../../decision/decision.js';
import type { DenyCode } from '../../decision/deny-codes.js';
import type { Logger } from '../../observability/logger.js';
import { LOG } from '../../observability/log-messages.js';
import type { Metrics } from '../../observability/metrics.js';
import {
  evaluationAnswer,
  evaluationToInput,
  invalidEvaluationAnswer,
  parseEvaluation,
  parseEvaluations,
  pdpMetadata,
  stopsBatch,
} from './authzen.js';
import {
  envoyHttpInput,
  jsonInput,
  nginxInput,
  traefikInput,
  type HttpCheckBase,
  type InputResult,
} from './http-check-inputs.js';
import { send, writeDecision } from './http-responses.js';
import type { StatusPage } from '../../observability/status-page.js';
import { PROBE_PATHS, serveProbe } from './probe-endpoints.js';
import { joinRawHeaders } from './request-headers.js';
import type { TlsFiles } from '../tls/tls-files.js';
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
  /** The AuthZEN access evaluation API (authzen.ts); off when undefined or disabled. */
  readonly authzen?: {
    readonly enabled: boolean;
    readonly defaultHost: string;
    readonly baseUrl?: string | undefined;
  };
  /** Control-loop status (sources, snapshot, last build) for GET /status. */
  readonly status?: () => unknown;
  /** GET /status for a browser (Accept: text/html). */
  readonly statusPage?: StatusPage | undefined;
  /** TLS (and with a client CA, mTLS) from files that reload; unset: plaintext. */
  readonly tls?: TlsFiles | undefined;
}

export interface RunningHttpServer {
  readonly port: number;
  /**
   * Graceful stop: no new connections, idle ones closed, in-flight requests answered (with
   * `Connection: close`), then every connection closed; after timeoutMs the rest are cut.
   */
  drain(timeoutMs: number): Promise<void>;
  /** Stops at once: every connection closed, in-flight requests cut. */
  close(): Promise<void>;
}

/** The check endpoints; see docs/answers.md ("HTTP endpoints"). */
export const HTTP_PATHS = {
  nginx: '/nginx',
  traefik: '/traefik',
  json: '/v1/check',
  authzenEvaluation: '/access/v1/evaluation',
  authzenEvaluations: '/access/v1/evaluations',
  authzenMetadata: '/.well-known/authzen-configuration',
  ...PROBE_PATHS,
} as const;

/**
 * HTTP check server for NGINX auth_request, Traefik forwardAuth, Envoy's HTTP service mode
 * and a JSON decision API, plus health, readiness and metrics.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let onIdle: (() => void) | undefined;
  const listener: RequestListener = (req, res) => {
    inFlight.add(res);
    // A keep-alive client must not send its next check here once the drain began.
    if (draining) res.setHeader('connection', 'close');
    res.once('close', () => {
      inFlight.delete(res);
      if (inFlight.size === 0) onIdle?.();
    });
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
  };
  const server = listen(listener, options.tls);
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
  options.logger.info(
    { host: options.host, port, tls: options.tls !== undefined },
    LOG.httpListening,
  );
  const closed = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  return {
    port,
    drain: async (timeoutMs) => {
      draining = true;
      for (const res of inFlight) {
        if (!res.headersSent) res.setHeader('connection', 'close');
      }
      const done = closed();
      server.closeIdleConnections();
      if (inFlight.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            options.logger.warn({ timeoutMs, inFlight: inFlight.size }, LOG.httpDrainForced);
            resolve();
          }, timeoutMs);
          onIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      server.closeAllConnections();
      await done;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/** Plain HTTP, or HTTPS whose secure context follows the TLS files as they change. */
function listen(listener: RequestListener, tls: TlsFiles | undefined) {
  if (tls === undefined) return createServer(listener);
  const contextOf = (material: ReturnType<TlsFiles['current']>) => ({
    cert: material.cert,
    key: material.key,
    ...(material.ca === undefined ? {} : { ca: material.ca }),
  });
  const requireClient = tls.current().ca !== undefined;
  const server = createTlsServer(
    {
      ...contextOf(tls.current()),
      minVersion: 'TLSv1.2',
      // mTLS: a client certificate issued by the CA, or no handshake.
      requestCert: requireClient,
      rejectUnauthorized: requireClient,
    },
    listener,
  );
  tls.onChange((material) => {
    server.setSecureContext(contextOf(material));
  });
  return server;
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
    case HTTP_PATHS.authzenEvaluation:
    case HTTP_PATHS.authzenEvaluations:
    case HTTP_PATHS.authzenMetadata:
      if (options.authzen?.enabled === true) {
        await serveAuthzen(pathname, req, res, options, options.authzen);
        return;
      }
      send(res, 404, [['content-type', 'text/plain']], 'not found\n');
      return;
    default:
      // Probes stay here too for existing setups; kubelet should use probes.port.
      if (await serveProbe(pathname, res, options, req.headers.accept)) return;
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
  const peerTrusted = options.trustedProxies.isTrustedSocket(req.socket);
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
  const headers = joinRawHeaders(req.rawHeaders);
  // Most checks carry no body: answered without the stream's async iterator and its hops.
  const body = hasNoBody(headers) ? '' : await readBody(req, options.maxBodyBytes);
  if (body === undefined) {
    denyHere('GH_ERR_BODY_TOO_LARGE', 'request body over http.maxBodyBytes');
    return;
  }
  const built = toInput({ req, headers, body, peerTrusted });
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
          // A policy's query_parameters_to_set / _to_remove and dynamic_metadata, for the
          // caller to apply (only when a policy sent them).
          ...(decision.queryParametersToSet === undefined
            ? {}
            : { queryParametersToSet: decision.queryParametersToSet.map(([k, v]) => [k, v]) }),
          ...(decision.queryParametersToRemove === undefined
            ? {}
            : { queryParametersToRemove: decision.queryParametersToRemove }),
          ...(decision.dynamicMetadata === undefined
            ? {}
            : { dynamicMetadata: decision.dynamicMetadata }),
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
          ...(decision.dynamicMetadata === undefined
            ? {}
            : { dynamicMetadata: decision.dynamicMetadata }),
        },
  );
}

/**
 * The AuthZEN endpoints (authzen.ts): each evaluation is one check through the same
 * authorizer, answered in the spec's shape; X-Request-ID is echoed (section 10.1).
 */
async function serveAuthzen(
  pathname: string,
  req: IncomingMessage,
  res: ServerResponse,
  options: HttpServerOptions,
  settings: NonNullable<HttpServerOptions['authzen']>,
): Promise<void> {
  const requestId = req.headers['x-request-id'];
  const json = (status: number, value: unknown): void => {
    const headers: Array<readonly [string, string]> = [['content-type', 'application/json']];
    if (typeof requestId === 'string') headers.push(['x-request-id', requestId]);
    send(res, status, headers, JSON.stringify(value));
  };
  const refuse = (status: 400 | 405, reason: string): void => {
    const decision = deny('GH_ERR_INVALID_REQUEST', reason, { realm: options.realm });
    options.logger.info({ transport: 'authzen', code: decision.code, reason }, LOG.checkDenied);
    options.metrics.decisions.inc({ transport: 'authzen', code: decision.code });
    json(status, { error: decision.code, message: reason, status });
  };
  if (pathname === HTTP_PATHS.authzenMetadata) {
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      refuse(405, 'use GET');
      return;
    }
    const host = req.headers.host ?? 'localhost';
    json(200, pdpMetadata(settings.baseUrl?.replace(/\/$/, '') ?? `http://${host}`));
    return;
  }
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    refuse(405, 'use POST');
    return;
  }
  const body = await readBody(req, options.maxBodyBytes);
  if (body === undefined) {
    refuse(400, 'request body over http.maxBodyBytes');
    return;
  }
  const batch =
    pathname === HTTP_PATHS.authzenEvaluation ? parseEvaluation(body) : parseEvaluations(body);
  if (!batch.ok) {
    refuse(400, batch.reason);
    return;
  }
  const answers: Array<Record<string, unknown>> = [];
  for (const evaluation of batch.evaluations) {
    const built = evaluationToInput(evaluation, req, settings.defaultHost);
    if (!built.ok) {
      if (batch.single) {
        refuse(400, built.reason);
        return;
      }
      answers.push(invalidEvaluationAnswer(built.reason));
      if (stopsBatch(batch.semantic, false)) break;
      continue;
    }
    const decision = await options.authorizer.check(built.input);
    answers.push(evaluationAnswer(decision));
    if (stopsBatch(batch.semantic, decision.allowed)) break;
  }
  json(200, batch.single ? answers[0] : { evaluations: answers });
}

/**
 * RFC 9112 section 6.3 (7): a request with neither Transfer-Encoding nor Content-Length has
 * a body of length zero (a request is never read until the connection closes), and so has
 * one with `Content-Length: 0`. Node's parser frames requests by the same rule, so it holds
 * no body bytes for such a request; whatever else it is (a repeated or invalid
 * Content-Length), it is read as before.
 */
function hasNoBody(headers: Readonly<Record<string, string>>): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
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
