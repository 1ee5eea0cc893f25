import type { Client } from '@grpc/grpc-js';
import type { JWTPayload } from 'jose';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import type { HeaderValueOptionMessage } from '../../src/transport/grpc/wire-types.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { connect, unary } from '../transport/grpc/grpc-test-client.js';

// Token strictness as a client sees it, through a real Gatehouse on every door: gRPC Check
// and the HTTP endpoints /envoy, /v1/check, /nginx and /traefik. The issuer sets
// maxTokenAgeS; the verified-token cache is warm with the original of each re-spelled token.

const MAX_TOKEN_AGE_S = 3600;
const SKEW_S = 30;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const protos = loadProtos();
let t: TestGatehouse;
let client: Client;

beforeAll(async () => {
  t = await startTestGatehouse({ issuer: { maxTokenAgeS: MAX_TOKEN_AGE_S } });
  client = connect(t.gatehouse.grpcPort ?? 0);
});
afterAll(async () => {
  client.close();
  await t.close();
});

interface Attempt {
  /** The request-target the client sent: path and maybe a query. */
  readonly target: string;
  /** The Bearer token of the Authorization header; none: no header. */
  readonly token?: string;
  readonly method?: string;
  readonly body?: string;
  readonly contentType?: string;
}

interface Answer {
  readonly allowed: boolean;
  /** The HTTP status the client gets (NGINX: the one in X-Gatehouse-Status). */
  readonly status: number;
  readonly code: string | undefined;
  readonly challenge: string | undefined;
  /** The gRPC status code (gRPC door only). */
  readonly grpcCode?: number;
}

type Door = (attempt: Attempt) => Promise<Answer>;

function headersOf(attempt: Attempt): Record<string, string> {
  return {
    ...(attempt.token === undefined ? {} : { authorization: `Bearer ${attempt.token}` }),
    ...(attempt.contentType === undefined ? {} : { 'content-type': attempt.contentType }),
  };
}

function errorCode(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { error?: string }).error;
  } catch {
    return undefined;
  }
}

function grpcHeader(
  headers: readonly HeaderValueOptionMessage[] | undefined,
  name: string,
): string | undefined {
  return headers?.find((h) => h.header.key === name)?.header.value;
}

const grpc: Door = async (attempt) => {
  const method = attempt.method ?? 'GET';
  const result = await unary(client, protos.authorization.Check, {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 50000 } } },
      request: {
        http: {
          id: 'strict',
          method,
          path: attempt.target,
          host: 'api.example.com',
          scheme: 'https',
          protocol: 'HTTP/2',
          headers: {
            ':authority': 'api.example.com',
            ':path': attempt.target,
            ':method': method,
            ...headersOf(attempt),
          },
          ...(attempt.body === undefined ? {} : { body: attempt.body }),
        },
      },
    },
  });
  if (result.error !== undefined)
    throw new Error(`gRPC error ${result.error.code}: never expected`);
  const response = result.response;
  const denied = response.denied_response ?? undefined;
  return {
    allowed: response.status.code === 0,
    status: denied?.status.code ?? 200,
    code: denied === undefined ? undefined : errorCode(denied.body),
    challenge: grpcHeader(denied?.headers, 'www-authenticate'),
    grpcCode: response.status.code,
  };
};

async function http(
  path: string,
  init: { method: string; headers: Record<string, string>; body?: string },
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const response = await request(`${t.httpBase}${path}`, init);
  return {
    status: response.statusCode,
    headers: response.headers,
    body: await response.body.text(),
  };
}

function answerOf(res: { status: number; headers: Record<string, unknown>; body: string }): Answer {
  const folded = res.headers['x-gatehouse-status'];
  const status = typeof folded === 'string' ? Number(folded) : res.status;
  const challenge = res.headers['www-authenticate'];
  return {
    allowed: res.status === 200,
    status,
    code: res.status === 200 ? undefined : errorCode(res.body),
    challenge: typeof challenge === 'string' ? challenge : undefined,
  };
}

const envoy: Door = async (attempt) =>
  answerOf(
    await http(`/envoy${attempt.target}`, {
      method: attempt.method ?? 'GET',
      headers: headersOf(attempt),
      ...(attempt.body === undefined ? {} : { body: attempt.body }),
    }),
  );

const json: Door = async (attempt) => {
  const res = await http('/v1/check', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      method: attempt.method ?? 'GET',
      path: attempt.target,
      host: 'api.example.com',
      headers: headersOf(attempt),
      ...(attempt.body === undefined ? {} : { body: attempt.body }),
    }),
  });
  const decision = JSON.parse(res.body) as { allowed: boolean; code: string; status?: number };
  return {
    allowed: decision.allowed,
    status: decision.status ?? 200,
    code: decision.allowed ? undefined : decision.code,
    challenge: undefined,
  };
};

const nginx: Door = async (attempt) =>
  answerOf(
    await http('/nginx', {
      method: 'GET',
      headers: {
        'x-original-uri': attempt.target,
        'x-original-method': attempt.method ?? 'GET',
        ...headersOf(attempt),
      },
    }),
  );

const traefik: Door = async (attempt) =>
  answerOf(
    await http('/traefik', {
      method: 'GET',
      headers: {
        'x-forwarded-uri': attempt.target,
        'x-forwarded-method': attempt.method ?? 'GET',
        'x-forwarded-host': 'api.example.com',
        'x-forwarded-proto': 'https',
        ...headersOf(attempt),
      },
    }),
  );

const DOORS: ReadonlyArray<readonly [string, Door]> = [
  ['gRPC Check', grpc],
  ['/envoy', envoy],
  ['/v1/check', json],
  ['/nginx', nginx],
  ['/traefik', traefik],
];
/** The doors that carry the request body (NGINX auth_request and Traefik forwardAuth do not). */
const BODY_DOORS = DOORS.filter(([name]) => ['gRPC Check', '/envoy', '/v1/check'].includes(name));

function expectInvalidToken(answer: Answer, code: string): void {
  expect(answer).toMatchObject({ allowed: false, status: 401, code });
  if (answer.challenge !== undefined) expect(answer.challenge).toMatch(/error="invalid_token"/);
  if (answer.grpcCode !== undefined) expect(answer.grpcCode).toBe(16);
}

function expectInvalidRequest(answer: Answer): void {
  expect(answer).toMatchObject({ allowed: false, status: 400, code: 'GH_ERR_INVALID_REQUEST' });
  if (answer.challenge !== undefined) expect(answer.challenge).toMatch(/error="invalid_request"/);
  if (answer.grpcCode !== undefined) expect(answer.grpcCode).toBe(7);
}

const nowS = (): number => Math.floor(Date.now() / 1000);

describe.each(DOORS)('%s', (_, door) => {
  it('re-encoded signature with non-zero trailing bits is refused, with the original cached', async () => {
    const token = await t.issuer.sign();
    expect((await door({ target: '/orders/42', token })).allowed).toBe(true);
    expect((await door({ target: '/orders/42', token })).allowed).toBe(true);
    // RS256: 342 characters, 4 unused bits in the last one; set the lowest.
    const last = BASE64URL.indexOf(token.charAt(token.length - 1));
    const respelled = `${token.slice(0, -1)}${BASE64URL.charAt((last & ~0b1111) | 1)}`;
    expect(Buffer.from(respelled.split('.')[2] ?? '', 'base64url')).toEqual(
      Buffer.from(token.split('.')[2] ?? '', 'base64url'),
    );
    expectInvalidToken(
      await door({ target: '/orders/42', token: respelled }),
      'GH_ERR_TOKEN_MALFORMED',
    );
  });

  it('padded signature is refused', async () => {
    const token = await t.issuer.sign();
    expectInvalidToken(
      await door({ target: '/orders/42', token: `${token}==` }),
      'GH_ERR_TOKEN_MALFORMED',
    );
  });

  it('token in header and access_token query parameter is a 400', async () => {
    const token = await t.issuer.sign();
    expectInvalidRequest(await door({ target: `/orders/42?access_token=${token}`, token }));
    expectInvalidRequest(await door({ target: '/orders/42?expand=items&access_token=', token }));
  });

  it('token in header and a percent-encoded access%5Ftoken query parameter is a 400', async () => {
    const token = await t.issuer.sign();
    expectInvalidRequest(await door({ target: `/orders/42?access%5Ftoken=${token}`, token }));
  });

  it('the same token with another query parameter is still allowed', async () => {
    const token = await t.issuer.sign();
    expect((await door({ target: '/orders/42?expand=items&token_hint=x', token })).allowed).toBe(
      true,
    );
  });

  it('iat in the future beyond skew', async () => {
    const token = await t.issuer.sign({ iat: nowS() + SKEW_S + 120 });
    expectInvalidToken(await door({ target: '/orders/42', token }), 'GH_ERR_TOKEN_NOT_YET_VALID');
  });

  it('token older than maxTokenAgeS', async () => {
    // exp is still an hour away: only the age limit refuses it.
    const token = await t.issuer.sign({
      iat: nowS() - MAX_TOKEN_AGE_S - SKEW_S - 60,
      exp: nowS() + 3600,
    });
    expectInvalidToken(await door({ target: '/orders/42', token }), 'GH_ERR_TOKEN_EXPIRED');
  });

  it('token without iat where the issuer sets maxTokenAgeS', async () => {
    // undefined drops the claim the token factory sets (JSON has no undefined).
    const token = await t.issuer.sign({ iat: undefined } as unknown as JWTPayload);
    expectInvalidToken(await door({ target: '/orders/42', token }), 'GH_ERR_TOKEN_CLAIMS');
  });
});

describe.each(BODY_DOORS)('%s, with the request body', (_, door) => {
  const form = 'application/x-www-form-urlencoded';

  it('token in header and access_token form body parameter is a 400', async () => {
    const token = await t.issuer.sign();
    expectInvalidRequest(
      await door({ target: '/orders/42', token, body: `access_token=${token}`, contentType: form }),
    );
    expectInvalidRequest(
      await door({
        target: '/orders/42',
        token,
        body: `note=hi&access%5Ftoken=${token}`,
        contentType: `${form}; charset=utf-8`,
      }),
    );
  });

  it('access_token in a body that is not form-encoded is just data', async () => {
    const token = await t.issuer.sign();
    const answer = await door({
      target: '/orders/42',
      token,
      body: `access_token=${token}`,
      contentType: 'text/plain',
    });
    expect(answer.allowed).toBe(true);
  });
});

describe('a token only in the query is no credential (Gatehouse reads the header only)', () => {
  it.each(DOORS)('%s: 401 GH_ERR_NO_CREDENTIAL', async (_, door) => {
    const token = await t.issuer.sign();
    const answer = await door({ target: `/orders/42?access_token=${token}` });
    expect(answer).toMatchObject({ allowed: false, status: 401, code: 'GH_ERR_NO_CREDENTIAL' });
    if (answer.challenge !== undefined) expect(answer.challenge).toBe('Bearer realm="test"');
  });
});
