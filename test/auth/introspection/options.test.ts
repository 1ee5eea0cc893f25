import { describe, expect, it } from 'vitest';
import { DENY_CODES } from '../../../src/decision/deny-codes.js';
import { introspectionDenyCode } from '../../../src/auth/introspection/deny-intent.js';
import {
  INTROSPECTION_DEFAULTS,
  INTROSPECTION_FAILURES,
  IntrospectionClient,
  IntrospectionConfigError,
  OAuthClientAuthenticator,
  type ClientAuthenticator,
  type ClientAuthOptions,
  type IntrospectionClientOptions,
} from '../../../src/auth/introspection/introspection-client.js';
import { everythingShown, thrown } from '../../net/oauth/helpers.js';

const clientAuth: ClientAuthenticator = {
  authenticate: () => Promise.resolve({ headers: {}, form: {}, secrets: [] }),
  dispatcher: () => undefined,
};

function configError(options: Partial<IntrospectionClientOptions>): IntrospectionConfigError {
  try {
    new IntrospectionClient({ endpoint: 'https://as.example/introspect', clientAuth, ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(IntrospectionConfigError);
    return error as IntrospectionConfigError;
  }
  throw new Error('expected an IntrospectionConfigError');
}

describe('IntrospectionClient options, checked at construction', () => {
  it('defaults: 2 s timeout, 10000 entries, 300 s active, 10 s inactive', () => {
    expect(INTROSPECTION_DEFAULTS).toMatchObject({
      timeoutMs: 2000,
      maxEntries: 10_000,
      maxTtlS: 300,
      inactiveTtlS: 10,
    });
    const client = new IntrospectionClient({ endpoint: 'https://as.example/i', clientAuth });
    expect(client.endpoint).toBe('https://as.example/i');
    expect(client.stats()).toEqual({
      requests: 0,
      cacheHits: 0,
      sharedRequests: 0,
      rateLimited: 0,
      cachedEntries: 0,
    });
  });

  const cases: readonly {
    name: string;
    options: () => Partial<IntrospectionClientOptions>;
    message: RegExp;
  }[] = [
    {
      name: 'plain http to a remote host',
      options: () => ({ endpoint: 'http://as.example/introspect' }),
      message: /^endpoint: must use https/,
    },
    {
      name: 'a relative endpoint',
      options: () => ({ endpoint: '/introspect' }),
      message: /^endpoint: is not an absolute URL/,
    },
    {
      name: 'credentials in the endpoint URL',
      options: () => ({ endpoint: 'https://rs:secret@as.example/introspect' }),
      message: /^endpoint: must not carry credentials/,
    },
    {
      name: 'no clientAuth',
      options: () => ({ clientAuth: undefined as unknown as ClientAuthenticator }),
      message: /^clientAuth: must be a ClientAuthenticator/,
    },
    {
      name: 'a zero timeout',
      options: () => ({ timeoutMs: 0 }),
      message: /^timeoutMs: must be a positive integer/,
    },
    {
      name: 'a fractional maxResponseBytes',
      options: () => ({ maxResponseBytes: 1.5 }),
      message: /^maxResponseBytes: must be a positive integer/,
    },
    {
      name: 'no cache entries',
      options: () => ({ cache: { maxEntries: 0 } }),
      message: /^cache\.maxEntries: must be a positive integer/,
    },
    {
      name: 'a negative maxTtlS',
      options: () => ({ cache: { maxTtlS: -1 } }),
      message: /^cache\.maxTtlS: must be a non-negative number/,
    },
    {
      name: 'an infinite inactiveTtlS',
      options: () => ({ cache: { inactiveTtlS: Infinity } }),
      message: /^cache\.inactiveTtlS: must be a non-negative number/,
    },
  ];
  it.each(cases)('refuses $name, naming the option', ({ options, message }) => {
    const error = configError(options());
    expect(error.code).toBe('GH_INTROSPECTION_CONFIG_INVALID');
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('secret@');
  });

  it('accepts http to loopback hosts (tests, local development)', () => {
    expect(
      () => new IntrospectionClient({ endpoint: 'http://127.0.0.1:8080/introspect', clientAuth }),
    ).not.toThrow();
  });
});

describe('OAuthClientAuthenticator: the OAuth client options and checks', () => {
  const cases: readonly { name: string; options: ClientAuthOptions; message: RegExp }[] = [
    {
      name: 'client_secret_basic without a secret',
      options: { clientId: 'rs', method: 'client_secret_basic' },
      message: /^secret: is required for client_secret_basic/,
    },
    {
      name: 'a short client_secret_jwt secret',
      options: { clientId: 'rs', method: 'client_secret_jwt', secret: 'short' },
      message: /^secret: must be at least 32 bytes/,
    },
    {
      name: 'private_key_jwt without a key',
      options: { clientId: 'rs', method: 'private_key_jwt' },
      message: /^privateKey: is required/,
    },
    {
      name: 'tls_client_auth without a certificate',
      options: { clientId: 'rs', method: 'tls_client_auth' },
      message: /^cert: is required for tls_client_auth/,
    },
    {
      name: 'an assertion audience with client_secret_basic',
      options: {
        clientId: 'rs',
        method: 'client_secret_basic',
        secret: 's',
        assertionAudience: 'https://as.example',
      },
      message: /^assertionAudience: is set but client_secret_basic sends no client assertion/,
    },
    {
      name: 'an empty assertion audience',
      options: {
        clientId: 'rs',
        method: 'client_secret_jwt',
        secret: 'x'.repeat(32),
        assertionAudience: '',
      },
      message: /^assertionAudience: must be a non-empty string/,
    },
  ];
  it.each(cases)('refuses $name', ({ options, message }) => {
    const error = thrown(() => new OAuthClientAuthenticator(options));
    expect(error.code).toBe('GH_OAUTH_CONFIG_INVALID');
    expect(error.message).toMatch(message);
  });

  it('builds client_secret_basic exactly as the token source does (RFC 6749 section 2.3.1)', async () => {
    const auth = new OAuthClientAuthenticator({
      clientId: 'rs:1',
      method: 'client_secret_basic',
      secret: 'a+b c',
    });
    const built = await auth.authenticate('https://as.example/introspect', Date.now());
    // Form-encoded before Basic: "rs%3A1:a%2Bb+c".
    expect(built.headers).toEqual({
      authorization: `Basic ${Buffer.from('rs%3A1:a%2Bb+c').toString('base64')}`,
    });
    expect(built.form).toEqual({});
    expect(auth.clientId).toBe('rs:1');
    expect(auth.dispatcher()).toBeUndefined();
    // The secret lives in private fields: no inspection or JSON form shows it.
    expect(everythingShown(auth)).not.toContain('a+b c');
  });
});

describe('deny intent: which row of the answer table each result takes', () => {
  it('inactive is 401 invalid_token, like every token failure in the table', () => {
    const code = introspectionDenyCode({ kind: 'inactive' });
    expect(code).toBe('GH_ERR_TOKEN_INACTIVE');
    const { status, grpcCode, challenge } = DENY_CODES.GH_ERR_TOKEN_EXPIRED;
    expect(DENY_CODES.GH_ERR_TOKEN_INACTIVE).toMatchObject({ status, grpcCode, challenge });
    expect(challenge).toBe('invalid_token');
  });

  it('unavailable means 503 but is an explicit deny: 403, no challenge, never a 5xx', () => {
    const code = introspectionDenyCode({
      kind: 'unavailable',
      code: 'GH_INTROSPECTION_TIMEOUT',
      reason: '',
    });
    expect(code).toBe('GH_ERR_INTROSPECTION_UNAVAILABLE');
    // Answered as the table answers every internal failure (CVE-2023-27488).
    const { status, grpcCode, challenge } = DENY_CODES.GH_ERR_INTERNAL;
    expect(DENY_CODES.GH_ERR_INTROSPECTION_UNAVAILABLE).toMatchObject({
      status,
      grpcCode,
      challenge,
    });
    expect(status).toBe(403);
  });

  it('active is no deny', () => {
    expect(introspectionDenyCode({ kind: 'active', claims: { active: true } })).toBeUndefined();
  });

  it('every failure code is documented', () => {
    for (const [code, meaning] of Object.entries(INTROSPECTION_FAILURES)) {
      expect(code).toMatch(/^GH_INTROSPECTION_[A-Z_]+$/);
      expect(meaning.length).toBeGreaterThan(20);
    }
  });
});
