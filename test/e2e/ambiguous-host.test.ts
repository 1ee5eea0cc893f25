import type { Client } from '@grpc/grpc-js';
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckInput } from '../../src/check/check-input.js';
import type { Decision } from '../../src/decision/decision.js';
import { loadProtos } from '../../src/transport/grpc/load-protos.js';
import { checkInput } from '../check/check-input-factory.js';
import { askDoor, DOORS, type Door, type DoorAnswer } from '../helpers/check-doors.js';
import { writeHostCatalog, type HostCatalog } from '../helpers/host-catalog.js';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';
import {
  DEFAULT_PORT,
  anyCase,
  malformedAround,
  malformedStandalone,
  port,
  scheme,
} from '../routes/host-spellings.js';
import { connect, unary } from '../transport/grpc/grpc-test-client.js';

// Ambiguous hosts used to be "unknown hosts" and fell through to the any-host routes. Here a
// real Gatehouse serves /ledger/{id} twice: internal.ledger on internal.example.com (token
// required) and open.ledger on any host (no token). A host that is not one clean authority
// must be a 400 GH_ERR_HOST_INVALID on every door, never open.ledger's allow.

const protos = loadProtos();
let catalog: HostCatalog;
let t: TestGatehouse;
let grpc: Client;
let token: string;

beforeAll(async () => {
  catalog = await writeHostCatalog();
  t = await startTestGatehouse({ policySource: catalog.dir });
  grpc = connect(t.gatehouse.grpcPort ?? 0);
  token = await t.issuer.sign();
});
afterAll(async () => {
  grpc.close();
  await t.close();
  await catalog.remove();
});

const INTERNAL = 'internal.example.com';

function pipeline(overrides: Partial<CheckInput>): Promise<Decision> {
  return t.gatehouse.pipeline.check(
    checkInput({ path: '/ledger/7', host: INTERNAL, ...overrides }),
  );
}

function upstream(decision: Decision, name: string): string | undefined {
  return decision.allowed ? decision.upstreamHeaders.find(([n]) => n === name)?.[1] : undefined;
}

describe('the weaker any-host API is what an ambiguous host would reach', () => {
  it('a clean internal host gets the host-specific API, which wants a token', async () => {
    expect(await pipeline({})).toMatchObject({
      allowed: false,
      code: 'GH_ERR_NO_CREDENTIAL',
      api: { id: 'internal.ledger' },
    });
  });

  it('another host gets the any-host API, which wants nothing', async () => {
    const decision = await pipeline({ host: 'other.example' });
    expect(decision).toMatchObject({ allowed: true, api: { id: 'open.ledger' } });
  });
});

describe('the route step, property-tested through the real pipeline', () => {
  it('every spelling of the host decides the same, and policies see the canonical host', async () => {
    const cases = fc
      .tuple(fc.constantFrom(INTERNAL, '192.0.2.10'), scheme, fc.option(port, { nil: undefined }))
      .chain(([host, schemeName, portNumber]) =>
        fc.record({
          host: fc.constant(host),
          scheme: anyCase(schemeName),
          portNumber: fc.constant(portNumber),
          spelling: fc
            .tuple(anyCase(host), fc.boolean(), fc.boolean())
            .map(([name, dot, writeDefault]) => {
              const withDot = dot ? `${name}.` : name;
              if (portNumber !== undefined) return `${withDot}:${portNumber}`;
              return writeDefault ? `${withDot}:${DEFAULT_PORT[schemeName]}` : withDot;
            }),
          path: fc.constantFrom('/ledger/7', '/ledger/%37', '//ledger/./7', '/x/../ledger/7/'),
        }),
      );
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        const decision = await pipeline({
          host: c.spelling,
          scheme: c.scheme,
          path: c.path,
          headers: { authorization: `Bearer ${token}` },
        });
        const seen =
          c.portNumber === undefined || c.portNumber === DEFAULT_PORT[lower(c.scheme)]
            ? c.host
            : `${c.host}:${c.portNumber}`;
        expect(decision).toMatchObject({ allowed: true, api: { id: 'internal.ledger' } });
        expect(upstream(decision, 'x-seen-host')).toBe(seen);
      }),
      { numRuns: 200 },
    );
  });

  it('a malformed or ambiguous host never matches an API and is always the 400 code', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(malformedAround(INTERNAL), malformedAround('192.0.2.10'), malformedStandalone),
        async (host) => {
          const decision = await pipeline({ host });
          expect(decision, JSON.stringify(host)).toMatchObject({
            allowed: false,
            code: 'GH_ERR_HOST_INVALID',
            status: 400,
          });
          expect(decision.api).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a second host value that disagrees is refused, even when each is clean', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('other.example', `${INTERNAL}:8443`, '[::1]'),
        async (other) => {
          const decision = await pipeline({ otherHostValues: [other] });
          expect(decision).toMatchObject({ code: 'GH_ERR_HOST_INVALID', status: 400 });
        },
      ),
    );
  });
});

function lower(text: string): 'http' | 'https' {
  return text.toLowerCase() === 'http' ? 'http' : 'https';
}

// ---- the doors ---------------------------------------------------------------------------

/** Each door asked for /ledger/7 with these host values (a list: written byte for byte). */
function send(door: Door, hosts: readonly string[]): Promise<DoorAnswer> {
  return askDoor(
    door,
    { grpc, httpBase: t.httpBase },
    { method: 'GET', path: '/ledger/7', host: hosts },
  );
}

function expectHostInvalid(door: Door, seen: DoorAnswer): void {
  expect(seen.code).toBe('GH_ERR_HOST_INVALID');
  expect(seen.decidedStatus).toBe(400);
  if (door === 'grpc') expect(seen.grpcCode).toBe(7); // PERMISSION_DENIED
  if (door === 'envoy' || door === 'traefik') expect(seen.httpStatus).toBe(400);
  // NGINX auth_request only understands 401 and 403 as denies.
  if (door === 'nginx') expect(seen.httpStatus).toBe(403);
  if (door === 'json') expect(seen.httpStatus).toBe(200);
}

describe.each(DOORS)('door %s', (door) => {
  it('a clean host reaches the host-specific API (401 without a token), not the open one', async () => {
    const seen = await send(door, ['Internal.Example.com.']);
    expect(seen.code).toBe('GH_ERR_NO_CREDENTIAL');
    expect(seen.decidedStatus).toBe(401);
  });

  it('two Host headers are refused with 400', async () => {
    expectHostInvalid(door, await send(door, [INTERNAL, 'other.example']));
  });

  it('host with userinfo does not fall through to the any-host API', async () => {
    expectHostInvalid(door, await send(door, [`user@${INTERNAL}`]));
  });

  it('a comma list in one host value does not fall through to the any-host API', async () => {
    expectHostInvalid(door, await send(door, [`${INTERNAL},other.example`]));
  });

  it('host with a path after it does not fall through to the any-host API', async () => {
    expectHostInvalid(door, await send(door, [`${INTERNAL}/ledger`]));
  });

  it('host with a bad port does not fall through to the any-host API', async () => {
    expectHostInvalid(door, await send(door, [`${INTERNAL}:0443`]));
  });

  it('host with an empty label does not fall through to the any-host API', async () => {
    expectHostInvalid(door, await send(door, ['internal..example.com']));
  });

  it('host with inner whitespace does not fall through to the any-host API', async () => {
    expectHostInvalid(door, await send(door, [`${INTERNAL} other.example`]));
  });

  it('an empty host is a 400 (RFC 9112 section 3.2), not the any-host API', async () => {
    expectHostInvalid(door, await send(door, ['']));
  });
});

describe('gRPC: the headers map and the host attribute must agree', () => {
  /** A Check for GET /ledger/7 with this host attribute and these headers. */
  const checkLedger = (host: string, headers: Record<string, string>) =>
    unary(grpc, protos.authorization.Check, {
      attributes: {
        request: {
          http: { method: 'GET', path: '/ledger/7', host, scheme: 'https', headers },
        },
      },
    });

  it('a :authority that names another host than attributes.request.http.host is refused with 400', async () => {
    const result = await checkLedger('other.example', {
      ':authority': INTERNAL,
      ':path': '/ledger/7',
      ':method': 'GET',
    });
    expect(result.response?.status.code).toBe(7);
    expect(result.response?.denied_response?.status.code).toBe(400);
    expect(result.response?.denied_response?.body).toContain('GH_ERR_HOST_INVALID');
  });

  it('a host header beside :authority that disagrees is refused with 400', async () => {
    const result = await checkLedger(INTERNAL, {
      ':authority': INTERNAL,
      host: 'other.example',
      ':path': '/ledger/7',
    });
    expect(result.response?.denied_response?.status.code).toBe(400);
    expect(result.response?.denied_response?.body).toContain('GH_ERR_HOST_INVALID');
  });

  it('the same authority spelled differently in :authority is fine', async () => {
    const result = await checkLedger(INTERNAL, {
      ':authority': 'INTERNAL.example.com:443',
      authorization: `Bearer ${token}`,
    });
    expect(result.response?.status.code).toBe(0);
  });
});

describe('/v1/check: a Host in "headers" must agree with "host"', () => {
  it('a headers.Host naming another host is refused with 400', async () => {
    const res = await request(`${t.httpBase}/v1/check`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        method: 'GET',
        path: '/ledger/7',
        host: 'other.example',
        headers: { Host: INTERNAL },
      }),
    });
    expect(await res.body.json()).toMatchObject({ code: 'GH_ERR_HOST_INVALID', status: 400 });
  });
});
