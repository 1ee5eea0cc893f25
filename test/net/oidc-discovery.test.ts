import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverIssuer, parseMetadata, wellKnownUrl } from '../../src/net/oidc-discovery.js';
import { DiscoveryError } from '../../src/net/oidc-errors.js';
import {
  createSigningKey,
  ORDERS_JWT_ACCESS_TOKENS,
  startAuthorizationServer,
  type AuthorizationServer,
} from '../helpers/authorization-server.js';

const OPTIONS = { timeoutMs: 2000, maxBytes: 64 * 1024 };

async function discoveryError(issuer: string): Promise<DiscoveryError> {
  const error = await discoverIssuer(issuer, OPTIONS).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(DiscoveryError);
  return error as DiscoveryError;
}

describe('wellKnownUrl (OIDC Discovery 1.0 section 4.1)', () => {
  it.each([
    ['https://a', 'https://a/.well-known/openid-configuration'],
    ['https://a/', 'https://a/.well-known/openid-configuration'],
    ['https://a/b', 'https://a/b/.well-known/openid-configuration'],
    ['https://a/b/', 'https://a/b/.well-known/openid-configuration'],
    ['https://a:8443/realms/x', 'https://a:8443/realms/x/.well-known/openid-configuration'],
  ])('%s -> %s', (issuer, url) => {
    expect(wellKnownUrl(issuer)).toBe(url);
  });
});

describe('parseMetadata', () => {
  const issuer = 'https://op.example';
  const url = wellKnownUrl(issuer);
  const parse = (document: unknown): unknown => {
    try {
      return parseMetadata(issuer, url, Buffer.from(JSON.stringify(document)));
    } catch (error) {
      return (error as DiscoveryError).code;
    }
  };

  it.each([
    ['an array', [], 'GH_OIDC_METADATA_INVALID'],
    ['no issuer', { jwks_uri: 'https://op.example/jwks' }, 'GH_OIDC_ISSUER_MISMATCH'],
    [
      'another issuer',
      { issuer: 'https://evil.example', jwks_uri: 'https://evil.example/jwks' },
      'GH_OIDC_ISSUER_MISMATCH',
    ],
    [
      'a trailing slash',
      { issuer: `${issuer}/`, jwks_uri: 'https://op.example/jwks' },
      'GH_OIDC_ISSUER_MISMATCH',
    ],
    [
      'another case',
      { issuer: 'https://OP.example', jwks_uri: 'https://op.example/jwks' },
      'GH_OIDC_ISSUER_MISMATCH',
    ],
    ['no jwks_uri', { issuer }, 'GH_OIDC_METADATA_INVALID'],
    [
      'a plain-http jwks_uri',
      { issuer, jwks_uri: 'http://op.example/jwks' },
      'GH_OIDC_METADATA_INVALID',
    ],
    [
      'a jwks_uri with credentials',
      { issuer, jwks_uri: 'https://u:p@op.example/jwks' },
      'GH_OIDC_METADATA_INVALID',
    ],
    ['a relative jwks_uri', { issuer, jwks_uri: '/jwks' }, 'GH_OIDC_METADATA_INVALID'],
    [
      'a non-string token_endpoint',
      { issuer, jwks_uri: 'https://op.example/jwks', token_endpoint: 7 },
      'GH_OIDC_METADATA_INVALID',
    ],
  ])('refuses a document with %s', (_name, document, code) => {
    expect(parse(document)).toBe(code);
  });

  it('accepts loopback http and keeps the endpoints', () => {
    expect(
      parse({
        issuer,
        jwks_uri: 'http://127.0.0.1:8080/jwks',
        token_endpoint: 'https://op.example/token',
        introspection_endpoint: 'https://op.example/introspect',
        ignored: true,
      }),
    ).toEqual({
      issuer,
      jwksUri: 'http://127.0.0.1:8080/jwks',
      tokenEndpoint: 'https://op.example/token',
      introspectionEndpoint: 'https://op.example/introspect',
    });
  });

  it('refuses a body that is not JSON', () => {
    expect(() => parseMetadata(issuer, url, Buffer.from('<html>'))).toThrow(/not valid JSON/);
  });
});

describe('discoverIssuer against oidc-provider', () => {
  let root: AuthorizationServer;
  let mounted: AuthorizationServer;
  let impostor: AuthorizationServer;

  beforeAll(async () => {
    const keys = [await createSigningKey('discovery-key')];
    root = await startAuthorizationServer({
      ...ORDERS_JWT_ACCESS_TOKENS,
      keys,
    });
    mounted = await startAuthorizationServer({
      ...ORDERS_JWT_ACCESS_TOKENS,
      keys,
      mountPath: '/tenants/acme',
    });
    // A provider that says it is another issuer than the URL it is reached at.
    impostor = await startAuthorizationServer({
      ...ORDERS_JWT_ACCESS_TOKENS,
      keys,
      advertisedIssuer: (origin) => origin.replace('127.0.0.1', 'localhost'),
    });
  });
  afterAll(async () => {
    await Promise.all([root.stop(), mounted.stop(), impostor.stop()]);
  });

  it('reads jwks_uri, token_endpoint and introspection_endpoint', async () => {
    const metadata = await discoverIssuer(root.issuer, OPTIONS);
    expect(metadata).toEqual({
      issuer: root.issuer,
      jwksUri: `${root.issuer}/jwks`,
      tokenEndpoint: `${root.issuer}/token`,
      introspectionEndpoint: `${root.issuer}/token/introspection`,
    });
    expect(root.hits('/.well-known/openid-configuration')).toBe(1);
  });

  it('appends the well-known suffix after an issuer path', async () => {
    const metadata = await discoverIssuer(mounted.issuer, OPTIONS);
    expect(mounted.issuer).toMatch(/\/tenants\/acme$/);
    expect(metadata.jwksUri).toBe(`${mounted.issuer}/jwks`);
    expect(mounted.hits('/.well-known/openid-configuration')).toBe(1);
  });

  it('refuses metadata naming another issuer (mix-up / impersonation)', async () => {
    const error = await discoveryError(impostor.origin);
    expect(error.code).toBe('GH_OIDC_ISSUER_MISMATCH');
    expect(error.message).toContain(impostor.issuer);
  });

  it('refuses a configured issuer that differs only by a trailing slash', async () => {
    // The document is found (section 4.1 drops the slash) but names the issuer without it.
    expect((await discoveryError(`${root.issuer}/`)).code).toBe('GH_OIDC_ISSUER_MISMATCH');
  });

  it('sends the supplied headers (a bearer token for a protected metadata endpoint)', async () => {
    await discoverIssuer(root.issuer, {
      ...OPTIONS,
      headers: () => Promise.resolve({ authorization: 'Bearer metadata-reader' }),
    });
    expect(root.lastHeaders('/.well-known/openid-configuration')?.authorization).toBe(
      'Bearer metadata-reader',
    );
  });

  it('reports an unreachable issuer as GH_OIDC_DISCOVERY_FAILED', async () => {
    expect((await discoveryError(`${root.origin}/nowhere`)).code).toBe('GH_OIDC_DISCOVERY_FAILED');
  });

  it.each([
    ['plain http to a remote host', 'http://op.example'],
    ['a query', 'https://op.example/?tenant=a'],
    ['a fragment', 'https://op.example/#a'],
    ['not a URL', 'op.example'],
  ])('refuses an issuer with %s before any request', async (_name, issuer) => {
    expect((await discoveryError(issuer)).code).toBe('GH_OIDC_ISSUER_INVALID');
  });
});
