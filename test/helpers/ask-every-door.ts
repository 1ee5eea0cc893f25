import type { Client } from '@grpc/grpc-js';
import { request } from 'undici';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import type { CheckRequestMessage } from '../../src/transport/grpc/wire-types.js';
import { unary } from '../transport/grpc/grpc-test-client.js';

/**
 * One request (GET api.example.com/orders/42 with a bearer token) asked of Gatehouse
 * through every door a proxy uses, and what each answered, as the proxy sees it.
 */
export interface DoorAnswer {
  readonly door: 'grpc' | 'envoy' | 'json' | 'nginx' | 'traefik';
  /** The HTTP status the client gets (gRPC: the denied_response status, 200 when OK). */
  readonly status: number;
  /** The gRPC status code (gRPC only). */
  readonly grpcCode?: number;
  /** GH_OK or the deny code, from the body or the gRPC status message. */
  readonly code: string;
  readonly challenge: string | undefined;
}

const protos = loadProtos();
const HOST = 'api.example.com';
const PATH = '/orders/42';

/** /nginx and /traefik need the caller in http.trustedProxies: ['127.0.0.1/32']. */
export async function askEveryDoor(
  grpcClient: Client,
  httpBase: string,
  token: string,
): Promise<DoorAnswer[]> {
  const authorization = `Bearer ${token}`;
  return [
    await askGrpc(grpcClient, authorization),
    await askHttp('envoy', `${httpBase}/envoy${PATH}`, { host: HOST, authorization }),
    await askJson(httpBase, authorization),
    await askHttp('nginx', `${httpBase}/nginx`, {
      authorization,
      'x-original-uri': PATH,
      'x-original-method': 'GET',
      'x-original-host': HOST,
    }),
    await askHttp('traefik', `${httpBase}/traefik`, {
      authorization,
      'x-forwarded-method': 'GET',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': HOST,
      'x-forwarded-uri': PATH,
    }),
  ];
}

async function askGrpc(client: Client, authorization: string): Promise<DoorAnswer> {
  const message: CheckRequestMessage = {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 50000 } } },
      request: {
        http: {
          id: 'keys',
          method: 'GET',
          path: PATH,
          host: HOST,
          scheme: 'https',
          protocol: 'HTTP/2',
          headers: { ':authority': HOST, ':path': PATH, ':method': 'GET', authorization },
        },
      },
    },
  };
  const result = await unary(client, protos.authorization.Check, message);
  if (result.error !== undefined)
    throw new Error(`gRPC error ${result.error.code}: never expected`);
  const response = result.response;
  const denied = response.denied_response;
  return {
    door: 'grpc',
    status: denied === undefined || denied === null ? 200 : denied.status.code,
    grpcCode: response.status.code,
    code: response.status.code === 0 ? 'GH_OK' : response.status.message,
    challenge: denied?.headers.find((h) => h.header.key === 'www-authenticate')?.header.value,
  };
}

async function askHttp(
  door: 'envoy' | 'nginx' | 'traefik',
  url: string,
  headers: Record<string, string>,
): Promise<DoorAnswer> {
  const response = await request(url, { method: 'GET', headers });
  const text = await response.body.text();
  const challenge = response.headers['www-authenticate'];
  return {
    door,
    status: response.statusCode,
    code: response.statusCode === 200 ? 'GH_OK' : (JSON.parse(text) as { error: string }).error,
    challenge: Array.isArray(challenge) ? challenge.join(', ') : challenge,
  };
}

async function askJson(httpBase: string, authorization: string): Promise<DoorAnswer> {
  const response = await request(`${httpBase}/v1/check`, {
    method: 'POST',
    body: JSON.stringify({ method: 'GET', path: PATH, host: HOST, headers: { authorization } }),
  });
  const answer = (await response.body.json()) as {
    code: string;
    status: number;
    headers?: Record<string, string>;
  };
  return {
    door: 'json',
    status: answer.status,
    code: answer.code,
    challenge: answer.headers?.['www-authenticate'],
  };
}
