import type { Client } from '@grpc/grpc-js';
import { request } from 'undici';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import type { CheckResponseMessage } from '../../src/transport/grpc/wire-types.js';
import { unary } from '../transport/grpc/grpc-test-client.js';

/**
 * One request, asked of a running Gatehouse through each of its doors, and what a user of
 * each door sees: the HTTP status (or, for gRPC, the denied_response status), the gRPC
 * code, the deny code and the headers meant for the client.
 */

export type Door = 'grpc' | 'envoy' | 'nginx' | 'traefik' | 'json';
export const DOORS: readonly Door[] = ['grpc', 'envoy', 'nginx', 'traefik', 'json'];

export interface DoorRequest {
  readonly method: string;
  readonly host: string;
  /** Path and query. */
  readonly path: string;
  readonly scheme: 'http' | 'https';
  readonly headers: Readonly<Record<string, string>>;
}

export interface DoorAnswer {
  readonly allowed: boolean;
  /** The status the client gets: 200 on an allow. */
  readonly status: number;
  /** The gRPC status code (only for the gRPC door). */
  readonly grpcCode: number | undefined;
  /** GH_OK or the deny code. */
  readonly code: string;
  /** Headers for the client's response (deny headers, or an allow's response headers). */
  readonly clientHeaders: Readonly<Record<string, string>>;
}

const protos = loadProtos();

export async function askDoor(
  door: Door,
  target: { readonly httpBase: string; readonly grpc: Client },
  req: DoorRequest,
): Promise<DoorAnswer> {
  switch (door) {
    case 'grpc':
      return askGrpc(target.grpc, req);
    case 'json':
      return askJson(target.httpBase, req);
    default:
      return askHttp(door, target.httpBase, req);
  }
}

async function askGrpc(client: Client, req: DoorRequest): Promise<DoorAnswer> {
  const result = await unary(client, protos.authorization.Check, {
    attributes: {
      request: {
        http: {
          method: req.method,
          path: req.path,
          host: req.host,
          scheme: req.scheme,
          headers: { ...req.headers },
        },
      },
    },
  });
  const response: CheckResponseMessage | undefined = result.response;
  if (response === undefined) throw new Error('gRPC Check failed: no response');
  const code = response.status.code;
  const allowed = code === 0;
  const headers = allowed
    ? (response.ok_response?.response_headers_to_add ?? [])
    : (response.denied_response?.headers ?? []);
  return {
    allowed,
    status: allowed ? 200 : (response.denied_response?.status.code ?? 403),
    grpcCode: code,
    code: allowed ? 'GH_OK' : response.status.message,
    clientHeaders: Object.fromEntries(headers.map((h) => [h.header.key, h.header.value])),
  };
}

async function askJson(httpBase: string, req: DoorRequest): Promise<DoorAnswer> {
  const response = await request(`${httpBase}/v1/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      method: req.method,
      path: req.path,
      host: req.host,
      scheme: req.scheme,
      headers: req.headers,
    }),
  });
  const body = (await response.body.json()) as {
    allowed: boolean;
    code: string;
    status: number;
    headers?: Record<string, string>;
    responseHeaders?: Record<string, string>;
  };
  return {
    allowed: body.allowed,
    status: body.status,
    grpcCode: undefined,
    code: body.code,
    clientHeaders: (body.allowed ? body.responseHeaders : body.headers) ?? {},
  };
}

async function askHttp(
  door: 'envoy' | 'nginx' | 'traefik',
  httpBase: string,
  req: DoorRequest,
): Promise<DoorAnswer> {
  // What each proxy sends its authorizer (the loopback peer is a trusted proxy by default).
  const forwarded: Record<string, Record<string, string>> = {
    envoy: { host: req.host, 'x-forwarded-proto': req.scheme },
    nginx: {
      'x-original-uri': req.path,
      'x-original-method': req.method,
      'x-original-host': req.host,
      'x-original-proto': req.scheme,
    },
    traefik: {
      'x-forwarded-uri': req.path,
      'x-forwarded-method': req.method,
      'x-forwarded-host': req.host,
      'x-forwarded-proto': req.scheme,
    },
  };
  const url = door === 'envoy' ? `${httpBase}/envoy${req.path}` : `${httpBase}/${door}`;
  const response = await request(url, {
    method: door === 'envoy' ? req.method : 'GET',
    headers: { ...req.headers, ...forwarded[door] },
  });
  const text = await response.body.text();
  const allowed = response.statusCode === 200;
  let code = 'GH_OK';
  if (!allowed) {
    try {
      code = (JSON.parse(text) as { error: string }).error;
    } catch {
      code = `(body: ${text.slice(0, 80)})`;
    }
  }
  const clientHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (typeof value === 'string') clientHeaders[name] = value;
  }
  return { allowed, status: response.statusCode, grpcCode: undefined, code, clientHeaders };
}
