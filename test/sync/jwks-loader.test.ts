import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeySetError } from '../../src/auth/issuer-keys.js';
import { verifyJwt } from '../../src/auth/jwt-verifier.js';
import type { IssuerConfig } from '../../src/config/schema.js';
import { loadIssuerKeys } from '../../src/sync/jwks-loader.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/token-factory.js';

// A real HTTP server publishing a JWKS, read by the control loop's loader.

let issuer: TestIssuer;
let server: Server;
let base: string;
const routes = new Map<string, { status: number; body: string }>();

beforeAll(async () => {
  issuer = await createTestIssuer();
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  routes.set('/jwks', { status: 200, body: JSON.stringify(issuer.jwks) });
  routes.set('/down', { status: 500, body: 'oops' });
  routes.set('/garbage', { status: 200, body: '<html>' });
  routes.set('/huge', {
    status: 200,
    body: JSON.stringify({ keys: [], pad: 'x'.repeat(2_000_000) }),
  });
  routes.set('/private', {
    status: 200,
    body: JSON.stringify({ keys: [await exportJWK(privateKey)] }),
  });
  server = createServer((req, res) => {
    const route = routes.get(req.url ?? '');
    res.statusCode = route?.status ?? 404;
    res.end(route?.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function config(path: string): IssuerConfig {
  return {
    issuer: issuer.issuer,
    audiences: [TEST_AUDIENCE],
    algorithms: ['RS256'],
    jwksUrl: `${base}${path}`,
    jwksRefreshIntervalS: 300,
    discovery: false,
    unknownKidCooldownS: 30,
    useClientAuth: false,
  };
}

const LOAD = { timeoutMs: 2000, maxBytes: 1024 * 1024, env: {} };

describe('loadIssuerKeys from a JWKS URL', () => {
  it('loads the keys, and tokens signed by them verify', async () => {
    const keys = await loadIssuerKeys(config('/jwks'), LOAD);
    expect(keys.keyIds).toEqual([issuer.kid]);
    const result = await verifyJwt(await issuer.sign(), new Map([[issuer.issuer, keys]]), {
      issuers: undefined,
      audiences: undefined,
      maxTokenBytes: 8192,
      defaultClockSkewS: 30,
    });
    expect(result.ok).toBe(true);
  });

  it.each([
    ['/down', /HTTP 500/],
    ['/garbage', /not valid JSON/],
    ['/huge', /over the \d+-byte limit/],
    ['/private', /private or symmetric key material/],
    ['/missing', /HTTP 404/],
  ])('%s is refused with a KeySetError', async (path, message) => {
    const error = await loadIssuerKeys(config(path), LOAD).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeySetError);
    expect((error as Error).message).toMatch(message);
  });
});
