import type { Client } from '@grpc/grpc-js';
import type { IncomingHttpHeaders } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { request } from 'undici';
import { requestText } from './request-text.js';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import type {
  CheckRequestMessage,
  HeaderValueOptionMessage,
} from '../../src/transport/grpc/wire-types.js';
import { unary } from '../transport/grpc/grpc-test-client.js';

/**
 * One request asked of a running Gatehouse through each of its check doors (gRPC Check,
 * /envoy, /v1/check, /nginx, /traefik), each sent the way that door's proxy sends it, and
 * the answer reduced to what a user of that door sees: the status, the gRPC code, the deny
 * code, the challenge and other headers for the client, the headers set on the upstream
 * request and (where the protocol has a way) the headers the proxy is told to remove.
 *
 * /nginx and /traefik read the X-Original-* / X-Forwarded-* headers only from a trusted
 * proxy; the loopback peer is one by default.
 */

export type Door = 'grpc' | 'envoy' | 'json' | 'nginx' | 'traefik';
export const DOORS: readonly Door[] = ['grpc', 'envoy', 'json', 'nginx', 'traefik'];
/** The doors that carry the request body (NGINX auth_request and Traefik forwardAuth do not). */
export const BODY_DOORS: readonly Door[] = ['grpc', 'envoy', 'json'];

export const DEFAULT_HOST = 'api.example.com';

export interface DoorRequest {
  /** Default GET. */
  readonly method?: string;
  /** Path and query, as the client sent them. */
  readonly path: string;
  /**
   * The host the client named; default api.example.com. A list: the request carries each
   * value (two Host headers, two X-Forwarded-Host headers, a second gRPC :authority, a comma
   * list on /v1/check), written byte for byte on the HTTP doors.
   */
  readonly host?: string | readonly string[];
  /** Sent as the proxy's proto header (X-Forwarded-Proto, X-Original-Proto) when given; gRPC: default https. */
  readonly scheme?: 'http' | 'https';
  readonly headers?: Readonly<Record<string, string>>;
  /** The request body, on the doors that carry one (BODY_DOORS). */
  readonly body?: string;
}

export interface DoorAnswer {
  readonly door: Door;
  readonly allowed: boolean;
  /**
   * The status the door's proxy acts on, 200 on an allow: the HTTP status (HTTP doors), the
   * denied_response status (gRPC), the decision's status (/v1/check).
   */
  readonly status: number;
  /**
   * The deny's status as Gatehouse decided it: `status`, except on /nginx, whose
   * auth_request knows only 401 and 403 and gets the status folded, with the decided one in
   * X-Gatehouse-Status.
   */
  readonly decidedStatus: number;
  /** The HTTP status on the wire (HTTP doors; /v1/check answers 200 with the decision). */
  readonly httpStatus: number | undefined;
  /** CheckResponse.status.code (gRPC door only). */
  readonly grpcCode: number | undefined;
  /** GH_OK on an allow, else the deny code. */
  readonly code: string;
  /** WWW-Authenticate for the client, if any. */
  readonly challenge: string | undefined;
  /** Headers for the client's response (a deny's headers, or an allow's response headers); lower-case names. */
  readonly clientHeaders: Readonly<Record<string, string>>;
  /** Headers set on the upstream request (allows only), lower-case names, first value of each. */
  readonly upstreamHeaders: Readonly<Record<string, string>>;
  /** Headers the proxy is told to remove (allows only); undefined where the protocol has no way (NGINX, Traefik). */
  readonly removedHeaders: readonly string[] | undefined;
}

export interface DoorTarget {
  readonly grpc: Client;
  readonly httpBase: string;
}

/** GET /orders/42 with a Bearer token: the request most suites ask. */
export function bearerRequest(token: string, path = '/orders/42'): DoorRequest {
  return { method: 'GET', path, headers: { authorization: `Bearer ${token}` } };
}

export function askDoor(door: Door, target: DoorTarget, req: DoorRequest): Promise<DoorAnswer> {
  switch (door) {
    case 'grpc':
      return askGrpc(target.grpc, req);
    case 'json':
      return askJson(target.httpBase, req);
    default:
      return askHttp(door, target.httpBase, req);
  }
}

/** The same request through every door, one after the other, in DOORS order. */
export async function askEveryDoor(target: DoorTarget, req: DoorRequest): Promise<DoorAnswer[]> {
  const answers: DoorAnswer[] = [];
  for (const door of DOORS) answers.push(await askDoor(door, target, req));
  return answers;
}

const protos = loadProtos();

function hostsOf(req: DoorRequest): readonly string[] {
  const host = req.host ?? DEFAULT_HOST;
  return typeof host === 'string' ? [host] : host;
}

function lowerCaseKeys(entries: Iterable<readonly [string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of entries) out[name.toLowerCase()] ??= value;
  return out;
}

function headerMap(options: readonly HeaderValueOptionMessage[] | undefined) {
  return lowerCaseKeys((options ?? []).map((o) => [o.header.key, o.header.value] as const));
}

/** Envoy's CheckRequest for this request (what ext_authz sends, attribute_context.proto). */
function checkRequest(req: DoorRequest): CheckRequestMessage {
  const method = req.method ?? 'GET';
  const [host = '', ...others] = hostsOf(req);
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 50000 } } },
      request: {
        http: {
          id: 'doors',
          method,
          path: req.path,
          host,
          scheme: req.scheme ?? 'https',
          protocol: 'HTTP/2',
          headers: {
            // A second host value travels as :authority, beside the host attribute.
            ':authority': others.length > 0 ? others.join(',') : host,
            ':path': req.path,
            ':method': method,
            ...req.headers,
          },
          ...(req.body === undefined ? {} : { body: req.body }),
        },
      },
    },
  };
}

async function askGrpc(client: Client, req: DoorRequest): Promise<DoorAnswer> {
  const result = await unary(client, protos.authorization.Check, checkRequest(req));
  // Fail closed means a decision, never a gRPC error.
  if (result.error !== undefined)
    throw new Error(`gRPC error ${result.error.code}: never expected`);
  const response = result.response;
  const ok = response.ok_response ?? undefined;
  const denied = response.denied_response ?? undefined;
  const allowed = response.status.code === 0;
  const clientHeaders = headerMap(allowed ? ok?.response_headers_to_add : denied?.headers);
  return {
    door: 'grpc',
    allowed,
    status: allowed ? 200 : (denied?.status.code ?? 403),
    decidedStatus: allowed ? 200 : (denied?.status.code ?? 403),
    httpStatus: undefined,
    grpcCode: response.status.code,
    code: allowed ? 'GH_OK' : response.status.message,
    challenge: clientHeaders['www-authenticate'],
    clientHeaders,
    upstreamHeaders: allowed ? headerMap(ok?.headers) : {},
    removedHeaders: allowed ? [...(ok?.headers_to_remove ?? [])] : undefined,
  };
}

async function askJson(httpBase: string, req: DoorRequest): Promise<DoorAnswer> {
  const response = await request(`${httpBase}/v1/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      method: req.method ?? 'GET',
      path: req.path,
      host: hostsOf(req).join(','),
      ...(req.scheme === undefined ? {} : { scheme: req.scheme }),
      headers: req.headers ?? {},
      ...(req.body === undefined ? {} : { body: req.body }),
    }),
  });
  const decision = (await response.body.json()) as {
    allowed: boolean;
    code: string;
    status: number;
    headers?: Record<string, string>;
    responseHeaders?: Record<string, string>;
    upstreamHeaders?: Record<string, string>;
    upstreamHeadersToRemove?: string[];
  };
  const clientHeaders = lowerCaseKeys(
    Object.entries((decision.allowed ? decision.responseHeaders : decision.headers) ?? {}),
  );
  return {
    door: 'json',
    allowed: decision.allowed,
    status: decision.status,
    decidedStatus: decision.status,
    httpStatus: response.statusCode,
    grpcCode: undefined,
    code: decision.code,
    challenge: clientHeaders['www-authenticate'],
    clientHeaders,
    upstreamHeaders: decision.allowed
      ? lowerCaseKeys(Object.entries(decision.upstreamHeaders ?? {}))
      : {},
    removedHeaders: decision.allowed ? (decision.upstreamHeadersToRemove ?? []) : undefined,
  };
}

/** What each proxy sends its authorizer besides the client's headers. */
function forwardedHeaders(
  door: 'envoy' | 'nginx' | 'traefik',
  req: DoorRequest,
): Array<readonly [string, string]> {
  const method = req.method ?? 'GET';
  const hosts = hostsOf(req);
  const proto = (name: string): Array<readonly [string, string]> =>
    req.scheme === undefined ? [] : [[name, req.scheme]];
  switch (door) {
    // Envoy's HTTP ext_authz forwards the request itself under a path prefix.
    case 'envoy':
      return [...hosts.map((h) => ['host', h] as const), ...proto('x-forwarded-proto')];
    case 'nginx':
      return [
        ['x-original-uri', req.path],
        ['x-original-method', method],
        ...hosts.map((h) => ['x-original-host', h] as const),
        ...proto('x-original-proto'),
      ];
    case 'traefik':
      return [
        ['x-forwarded-uri', req.path],
        ['x-forwarded-method', method],
        ...hosts.map((h) => ['x-forwarded-host', h] as const),
        ...proto('x-forwarded-proto'),
      ];
  }
}

/** Response headers that are HTTP's own or the Envoy protocol's, not headers for the upstream. */
const NOT_UPSTREAM = new Set([
  'content-length',
  'content-type',
  'date',
  'connection',
  'keep-alive',
  'x-envoy-auth-headers-to-remove',
]);

async function askHttp(
  door: 'envoy' | 'nginx' | 'traefik',
  httpBase: string,
  req: DoorRequest,
): Promise<DoorAnswer> {
  const url = door === 'envoy' ? `${httpBase}/envoy${req.path}` : `${httpBase}/${door}`;
  const method = door === 'envoy' ? (req.method ?? 'GET') : 'GET';
  const body = door === 'envoy' ? req.body : undefined;
  const lines = [...Object.entries(req.headers ?? {}), ...forwardedHeaders(door, req)];
  // Host values given as a list are written byte for byte (two Host headers and the like).
  const response =
    typeof req.host === 'object'
      ? await rawHttp(url, method, lines)
      : await viaUndici(url, method, lines, body);
  const allowed = response.status === 200;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const upstreamHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined || NOT_UPSTREAM.has(name)) continue;
    upstreamHeaders[name] = Array.isArray(value) ? (value[0] ?? '') : value;
  }
  const folded = headers['x-gatehouse-status'];
  const toRemove = headers['x-envoy-auth-headers-to-remove'];
  return {
    door,
    allowed,
    status: response.status,
    decidedStatus: folded === undefined ? response.status : Number(folded),
    httpStatus: response.status,
    grpcCode: undefined,
    code: allowed ? 'GH_OK' : errorCode(response.body),
    challenge: headers['www-authenticate'],
    clientHeaders: headers,
    upstreamHeaders: allowed ? upstreamHeaders : {},
    removedHeaders:
      door === 'envoy' && allowed ? (toRemove === undefined ? [] : toRemove.split(',')) : undefined,
  };
}

interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function viaUndici(
  url: string,
  method: string,
  lines: ReadonlyArray<readonly [string, string]>,
  body: string | undefined,
): Promise<HttpResponse> {
  return requestText(url, { method, headers: Object.fromEntries(lines), body });
}

/** One HTTP/1.1 request written byte for byte: undici would not send two Host headers. */
function rawHttp(
  url: string,
  method: string,
  lines: ReadonlyArray<readonly [string, string]>,
): Promise<HttpResponse> {
  const { hostname, port, pathname, search } = new URL(url);
  // The front door's own Host, unless the request names its hosts in Host headers (/envoy).
  const own = lines.some(([name]) => name === 'host') ? [] : [`host: ${hostname}:${port}`];
  const head = [...own, ...lines.map(([name, value]) => `${name}: ${value}`), 'connection: close'];
  return new Promise((resolve, reject) => {
    const socket = connectTcp(Number(port), hostname);
    let data = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      socket.write(
        `${method} ${pathname}${search} HTTP/1.1\r\n${head.map((l) => `${l}\r\n`).join('')}\r\n`,
      );
    });
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('error', reject);
    socket.on('end', () => {
      const [top = '', body = ''] = data.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = top.split('\r\n');
      const headers: IncomingHttpHeaders = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
  });
}

function errorCode(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // Not JSON: named below, so a failing assertion shows what came back.
  }
  return `(body: ${body.slice(0, 80)})`;
}
