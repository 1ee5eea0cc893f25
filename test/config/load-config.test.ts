import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_IDENTITY_HEADERS } from '../../src/config/identity-headers.js';
import { ConfigError, parseConfig } from '../../src/config/load-config.js';

const ISSUER = { issuer: 'https://issuer.example', audiences: ['api'], jwksFile: 'keys/jwks.json' };

function problems(raw: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    parseConfig(raw, '/etc/gatehouse', env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('parseConfig', () => {
  it('fills the documented defaults and resolves paths against the config folder', () => {
    const config = parseConfig({ issuers: [ISSUER] }, '/etc/gatehouse', {});
    expect(config.grpc.port).toBe(9191);
    expect(config.http.port).toBe(9192);
    expect(config.http.trustedProxies).toEqual(['127.0.0.0/8', '::1/128']);
    expect(config.routing.allowUnknownApis).toBe(false);
    expect(config.tokens).toEqual({
      maxTokenBytes: 8192,
      clockSkewS: 30,
      cacheMaxEntries: 10_000,
      cacheMaxTtlS: 300,
      dpop: {
        algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
        iatWindowS: 60,
        replayCacheMaxEntries: 100_000,
        nonce: { lifetimeS: 120 },
      },
    });
    expect(config.policies.dir).toBe(path.resolve('/etc/gatehouse/policies'));
    expect(config.issuers[0]?.jwksFile).toBe('/etc/gatehouse/keys/jwks.json');
    expect(config.issuers[0]?.algorithms).toEqual(['RS256', 'ES256']);
    expect(Object.isFrozen(config.grpc)).toBe(true);
  });

  it('routing: identity headers default to the common list, lower-cased; overrides are stripped', () => {
    const defaults = parseConfig({ issuers: [ISSUER] }, '/etc/gatehouse', {});
    expect(defaults.routing.identityHeaders).toEqual([...DEFAULT_IDENTITY_HEADERS]);
    expect(defaults.routing.identityHeaders).toEqual(
      expect.arrayContaining(['x-user-sub', 'x-forwarded-user', 'remote-user']),
    );
    expect(defaults.routing.methodOverride).toBe('strip');
    const own = parseConfig(
      { routing: { identityHeaders: ['X-Employee-Id'], methodOverride: 'authorize' } },
      '/etc/gatehouse',
      {},
    );
    expect(own.routing.identityHeaders).toEqual(['x-employee-id']);
    expect(own.routing.methodOverride).toBe('authorize');
  });

  it('refuses an identity header that is not a header name, and an unknown override mode', () => {
    expect(problems({ routing: { identityHeaders: ['x-user\r\nx-admin'] } })).toEqual([
      expect.stringContaining('routing.identityHeaders.0'),
    ]);
    expect(problems({ routing: { methodOverride: 'honour' } })).toEqual([
      expect.stringContaining('routing.methodOverride'),
    ]);
  });

  it('names the option of every problem', () => {
    expect(problems({ grpc: { port: 'x' }, htp: {} })).toEqual([
      expect.stringMatching(/^grpc\.port: /),
      expect.stringMatching(/^\(top level\): Unrecognized key: "htp"/),
    ]);
  });

  it('never accepts alg none', () => {
    expect(problems({ issuers: [{ ...ISSUER, algorithms: ['none'] }] })).toEqual([
      expect.stringMatching(/^issuers\.0\.algorithms\.0: .*"none" is never accepted/),
    ]);
  });

  it('refuses HS* algorithms without a shared secret (key confusion, RFC 8725 3.1)', () => {
    expect(problems({ issuers: [{ ...ISSUER, algorithms: ['RS256', 'HS256'] }] })).toEqual([
      expect.stringMatching(/^issuers\.0\.algorithms: HS\* algorithms need hmacSecretEnv/),
    ]);
  });

  it('requires the HMAC secret to be present and long enough', () => {
    const issuer = {
      issuer: 'https://h.example',
      audiences: ['api'],
      algorithms: ['HS256'],
      hmacSecretEnv: 'SECRET',
    };
    expect(problems({ issuers: [issuer] }, { SECRET: 'short' })).toEqual([
      expect.stringMatching(/^issuers\.0\.hmacSecretEnv: .*at least 32 bytes/),
    ]);
    expect(problems({ issuers: [issuer] }, { SECRET: 'x'.repeat(32) })).toEqual([]);
  });

  it('requires a key source for every issuer', () => {
    expect(problems({ issuers: [{ issuer: 'https://i', audiences: ['a'] }] })).toEqual([
      expect.stringMatching(/^issuers\.0: needs a key source/),
    ]);
  });

  it('refuses sending the central-server token in clear text to a remote host (bundle, decision logs)', () => {
    const centralServer = {
      tokenEndpoint: 'https://as.example/token',
      clientId: 'gatehouse',
      method: 'client_secret_basic',
      clientSecretEnv: 'GH_SECRET',
    };
    const clearText =
      'must be https when useClientAuth sends a token (http is allowed to loopback only)';
    expect(
      problems({
        centralServer,
        bundle: { url: 'http://bundles.example/b.tar.gz', useClientAuth: true },
        decisionLogs: { service: { url: 'http://logs.example/logs', useClientAuth: true } },
      }),
    ).toEqual([`bundle.url: ${clearText}`, `decisionLogs.service.url: ${clearText}`]);
    expect(
      problems({
        centralServer,
        bundle: { url: 'http://127.0.0.1:8181/b.tar.gz', useClientAuth: true },
        decisionLogs: { service: { url: 'http://bundles.example/logs', useClientAuth: false } },
      }),
    ).toEqual([]);
  });

  it('applies environment overrides', () => {
    const config = parseConfig({}, '/', {
      GATEHOUSE_GRPC_PORT: '7000',
      GATEHOUSE_LOG_LEVEL: 'debug',
    });
    expect(config.grpc.port).toBe(7000);
    expect(config.log.level).toBe('debug');
  });
});
