import type { Client } from '@grpc/grpc-js';
import { request } from 'undici';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import type { CheckRequestMessage } from '../../src/transport/grpc/wire-types.js';
import { unary } from '../transport/grpc/grpc-test-client.js';

/**
 * One request asked through each of Gatehouse's check doors, with the answer reduced to what
 * the proxy on that door acts on: the status, the deny code, the headers it sets upstream and
 * (where the protocol has a way) the headers it removes.
 */

export type Door = 'grpc' | 'envoy' | 'json' | 'nginx' | 'traefik';
export const DOORS: readonly Door[] = ['grpc', 'envoy', 'json', 'nginx', 'traefik'];

export interface DoorRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
}

export interface DoorAnswer {
  readonly allowed: boolean;
  /** HTTP status the client (or proxy) gets: 200 on an allow. */
  readonly status: number;
  /** gRPC CheckResponse.status.code (grpc door only). */
  readonly grpcCode: number | undefined;
  /** The deny code (GH_OK on an allow where the door says so). */
  readonly code: string | undefined;
  /** Headers set on the upstream request, lower-case names (first value of each). */
  readonly set: Readonly<Record<string, string>>;
  /** Headers the proxy is told to remove; undefined where the protocol has no way (NGINX, Traefik). */
  readonly removed: readonly string[] | undefined;
}

const HOST = 'api.example.com';
const protos = loadProtos();

export async function askDoor(
  door: Door,
  target: { readonly grpc: Client; readonly httpBase: string },
  req: DoorRequest,
): Promise<DoorAnswer> {
  const headers = req.headers ?? {};
  switch (door) {
    case 'grpc':
      return viaGrpc(target.grpc, req.method, req.path, headers);
    case 'envoy':
      return viaHttp(`${target.httpBase}/envoy${req.path}`, req.method, { ...headers, host: HOST });
    case 'nginx':
      return viaHttp(`${target.httpBase}/nginx`, 'GET', {
        ...headers,
        'x-original-uri': req.path,
        'x-original-method': req.method,
        'x-original-host': HOST,
      });
    case 'traefik':
      return viaHttp(`${target.httpBase}/traefik`, 'GET', {
        ...headers,
        'x-forwarded-uri': req.path,
        'x-forwarded-method': req.method,
        'x-forwarded-host': HOST,
      });
    case 'json':
      return viaJson(target.httpBase, req.method, req.path, headers);
  }
}

async function viaGrpc(
  client: Client,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<DoorAnswer> {
  const message: CheckRequestMessage = {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 50000 } } },
      request: {
        http: {
          id: 'doors',
          method,
          path,
          host: HOST,
          scheme: 'https',
          protocol: 'HTTP/2',
          headers: { ':authority': HOST, ':path': path, ':method': method, ...headers },
        },
      },
    },
  };
  const result = await unary(client, protos.authorization.Check, message);
  if (result.error !== undefined)
    throw new Error(`gRPC error ${result.error.code}: never expected`);
  const response = result.response;
  const ok = response.ok_response;
  const set: Record<string, string> = {};
  for (const option of ok?.headers ?? []) {
    const name = option.header.key.toLowerCase();
    set[name] ??= option.header.value;
  }
  const allowed = response.status.code === 0;
  return {
    allowed,
    status: allowed ? 200 : (response.denied_response?.status.code ?? 0),
    grpcCode: response.status.code,
    code: allowed ? 'GH_OK' : response.status.message,
    set,
    removed: allowed ? [...(ok?.headers_to_remove ?? [])] : undefined,
  };
}

/** Response headers that are Gatehouse's own or HTTP's, not headers for the upstream. */
const NOT_UPSTREAM = new Set([
  'content-length',
  'content-type',
  'date',
  'connection',
  'keep-alive',
  'x-envoy-auth-headers-to-remove',
]);

async function viaHttp(
  url: string,
  method: string,
  headers: Record<string, string>,
): Promise<DoorAnswer> {
  const response = await request(url, { method, headers });
  const body = await response.body.text();
  const allowed = response.statusCode === 200;
  const set: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined || NOT_UPSTREAM.has(name)) continue;
    set[name] = Array.isArray(value) ? (value[0] ?? '') : value;
  }
  const removeHeader = response.headers['x-envoy-auth-headers-to-remove'];
  const isEnvoy = url.includes('/envoy/');
  return {
    allowed,
    status: response.statusCode,
    grpcCode: undefined,
    code: allowed ? 'GH_OK' : errorCode(body),
    set: allowed ? set : {},
    removed:
      isEnvoy && allowed
        ? typeof removeHeader === 'string'
          ? removeHeader.split(',')
          : []
        : undefined,
  };
}

async function viaJson(
  httpBase: string,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<DoorAnswer> {
  const response = await request(`${httpBase}/v1/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ method, path, host: HOST, headers }),
  });
  const decision = (await response.body.json()) as {
    allowed: boolean;
    code: string;
    status: number;
    upstreamHeaders?: Record<string, string>;
    upstreamHeadersToRemove?: string[];
  };
  return {
    allowed: decision.allowed,
    status: decision.status,
    grpcCode: undefined,
    code: decision.code,
    set: decision.upstreamHeaders ?? {},
    removed: decision.allowed ? (decision.upstreamHeadersToRemove ?? []) : undefined,
  };
}

function errorCode(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    return typeof parsed.error === 'string' ? parsed.error : undefined;
  } catch {
    return undefined;
  }
}
