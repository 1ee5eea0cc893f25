import type { Client } from '@grpc/grpc-js';
import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  askDoor,
  BODY_DOORS as ALL_BODY_DOORS,
  DOORS as ALL_DOORS,
  type Door as DoorName,
  type DoorAnswer,
} from '../helpers/check-doors.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import { b64url } from '../helpers/token-factory.js';
import { connect } from '../transport/grpc/grpc-test-client.js';

// Token strictness as a client sees it, through a real Gatehouse on every door: gRPC Check
// and the HTTP endpoints /envoy, /v1/check, /nginx and /traefik. The issuer sets
// maxTokenAgeS; the verified-token cache is warm with the original of each re-spelled token.

const MAX_TOKEN_AGE_S = 3600;
const SKEW_S = 30;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

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

type Door = (attempt: Attempt) => Promise<DoorAnswer>;

function through(door: DoorName): Door {
  return (attempt) =>
    askDoor(
      door,
      { grpc: client, httpBase: t.httpBase },
      {
        method: attempt.method ?? 'GET',
        path: attempt.target,
        headers: {
          ...(attempt.token === undefined ? {} : { authorization: `Bearer ${attempt.token}` }),
          ...(attempt.contentType === undefined ? {} : { 'content-type': attempt.contentType }),
        },
        ...(attempt.body === undefined ? {} : { body: attempt.body }),
      },
    );
}

const NAMES: Readonly<Record<DoorName, string>> = {
  grpc: 'gRPC Check',
  envoy: '/envoy',
  json: '/v1/check',
  nginx: '/nginx',
  traefik: '/traefik',
};
const DOORS = ALL_DOORS.map((door) => [NAMES[door], through(door)] as const);
const BODY_DOORS = ALL_BODY_DOORS.map((door) => [NAMES[door], through(door)] as const);

function expectInvalidToken(answer: DoorAnswer, code: string): void {
  expect(answer).toMatchObject({ allowed: false, decidedStatus: 401, code });
  if (answer.challenge !== undefined) expect(answer.challenge).toMatch(/error="invalid_token"/);
  if (answer.grpcCode !== undefined) expect(answer.grpcCode).toBe(16);
}

function expectInvalidRequest(answer: DoorAnswer): void {
  expect(answer).toMatchObject({
    allowed: false,
    decidedStatus: 400,
    code: 'GH_ERR_INVALID_REQUEST',
  });
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

  it('a header whose alg is a number, not a string, is refused (GH_ERR_TOKEN_ALG), never an error', async () => {
    const [, payload = '', signature = ''] = (await t.issuer.sign()).split('.');
    const forged = `${b64url({ alg: 256, kid: t.issuer.kid })}.${payload}.${signature}`;
    expectInvalidToken(await door({ target: '/orders/42', token: forged }), 'GH_ERR_TOKEN_ALG');
  });

  it('a header whose typ is a number, not a string, is refused (GH_ERR_TOKEN_HEADER), never an error', async () => {
    const [, payload = '', signature = ''] = (await t.issuer.sign()).split('.');
    const forged = `${b64url({ alg: 'RS256', kid: t.issuer.kid, typ: 7 })}.${payload}.${signature}`;
    expectInvalidToken(await door({ target: '/orders/42', token: forged }), 'GH_ERR_TOKEN_HEADER');
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
    expect(answer).toMatchObject({
      allowed: false,
      decidedStatus: 401,
      code: 'GH_ERR_NO_CREDENTIAL',
    });
    if (answer.challenge !== undefined) expect(answer.challenge).toBe('Bearer realm="test"');
  });
});
