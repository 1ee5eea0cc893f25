import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ClientCredentialsTokenSource,
  type ClientCredentialsOptions,
} from '../../../src/net/oauth/client-credentials.js';
import { discoverTokenEndpoint } from '../../../src/net/oidc-discovery.js';
import { everythingShown, rejection, type SourceOptions, withConfigDefaults } from './helpers.js';

/*
 * The wire format, against a scripted HTTP server: what each method sends (RFC 6749
 * section 4.4.2, 2.3.1; RFC 7523 section 3; RFC 8707), and how every kind of answer a
 * real server or a proxy in front of it may give is handled. oidc-provider never sends
 * most of these answers, which is why this is not done against it.
 */

interface Captured {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly form: URLSearchParams;
}

interface Reply {
  readonly status?: number;
  readonly contentType?: string;
  readonly body: string;
}

type Script = (request: Captured) => Reply | 'hang';

let server: Server;
let base: string;
let script: Script;
const captured: Captured[] = [];

const ok = (extra: Record<string, unknown> = {}): Reply => ({
  body: JSON.stringify({
    access_token: 'token-1',
    token_type: 'Bearer',
    expires_in: 300,
    ...extra,
  }),
});

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: Captured = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      };
      captured.push(request);
      const reply = script(request);
      if (reply === 'hang') return;
      res.writeHead(reply.status ?? 200, {
        'content-type': reply.contentType ?? 'application/json',
      });
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
});

const sources: ClientCredentialsTokenSource[] = [];
function source(options: SourceOptions): ClientCredentialsTokenSource {
  const created = new ClientCredentialsTokenSource(
    withConfigDefaults({
      ...options,
      tokenEndpoint: options.tokenEndpoint ?? `${base}/token`,
    }),
  );
  sources.push(created);
  return created;
}

afterEach(async () => {
  vi.useRealTimers();
  captured.length = 0;
  await Promise.all(sources.splice(0).map((s) => s.close()));
});

const SECRET = 'a-shared-secret-of-more-than-32-bytes-0123456789';

describe('what each method sends', () => {
  beforeAll(() => {
    script = () => ok();
  });

  it('client_secret_basic: form-encoded id and secret in Basic, nothing in the body (RFC 6749 2.3.1)', async () => {
    await source({
      clientId: 'app:1',
      method: 'client_secret_basic',
      secret: 'p+ss word:%',
      scope: 'a b',
    }).getAccessToken();
    const [request] = captured;
    expect(request?.method).toBe('POST');
    expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request?.headers.accept).toBe('application/json');
    expect(request?.headers.authorization).toBe(
      `Basic ${Buffer.from('app%3A1:p%2Bss+word%3A%25').toString('base64')}`,
    );
    expect(Object.fromEntries(request?.form ?? [])).toEqual({
      grant_type: 'client_credentials',
      scope: 'a b',
    });
  });

  it('client_secret_post: client_id and client_secret in the body, no Authorization', async () => {
    await source({
      clientId: 'app',
      method: 'client_secret_post',
      secret: 's3cret',
    }).getAccessToken();
    const [request] = captured;
    expect(request?.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(request?.form ?? [])).toEqual({
      grant_type: 'client_credentials',
      client_id: 'app',
      client_secret: 's3cret',
    });
  });

  it('client_secret_jwt: an HS256 assertion with iss = sub = client_id, aud = token endpoint, random jti, short exp', async () => {
    await source({ clientId: 'app', method: 'client_secret_jwt', secret: SECRET }).getAccessToken();
    const form = captured[0]?.form;
    expect(form?.get('client_assertion_type')).toBe(
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
    expect(form?.get('client_id')).toBe('app');
    expect(form?.has('client_secret')).toBe(false);
    const { payload, protectedHeader } = await jwtVerify(
      form?.get('client_assertion') ?? '',
      new TextEncoder().encode(SECRET),
      {
        issuer: 'app',
        subject: 'app',
        audience: `${base}/token`,
        algorithms: ['HS256'],
      },
    );
    expect(protectedHeader).toEqual({ alg: 'HS256' });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(60);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('private_key_jwt: the kid header when configured, aud = issuer when asked, a new jti each time', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const tokens = source({
      clientId: 'app',
      method: 'private_key_jwt',
      privateKey,
      keyId: 'key-7',
      issuer: 'https://as.example',
      assertionAudience: 'issuer',
    });
    await tokens.getAccessToken();
    tokens.invalidate();
    await tokens.getAccessToken();
    const assertions = captured.map((request) => request.form.get('client_assertion') ?? '');
    expect(decodeProtectedHeader(assertions[0] ?? '')).toEqual({ alg: 'ES256', kid: 'key-7' });
    const verified = await Promise.all(
      assertions.map((jwt) =>
        jwtVerify(jwt, publicKey, {
          issuer: 'app',
          subject: 'app',
          audience: 'https://as.example',
        }),
      ),
    );
    expect(verified[0]?.payload.jti).not.toBe(verified[1]?.payload.jti);
  });

  it('resource indicators (RFC 8707, repeatable) and the audience parameter', async () => {
    await source({
      clientId: 'app',
      method: 'client_secret_post',
      secret: 's3cret',
      resource: ['https://bundles.example/', 'https://keys.example/'],
      audience: 'gatehouse-control',
    }).getAccessToken();
    const form = captured[0]?.form;
    expect(form?.getAll('resource')).toEqual(['https://bundles.example/', 'https://keys.example/']);
    expect(form?.get('audience')).toBe('gatehouse-control');
  });
});

describe('how answers are read', () => {
  const post = (options: Partial<ClientCredentialsOptions> = {}): ClientCredentialsTokenSource =>
    source({ clientId: 'app', method: 'client_secret_post', secret: SECRET, ...options });

  it.each<[string, Reply]>([
    ['token_type in lower case (case-insensitive, RFC 6749 5.1)', ok({ token_type: 'bearer' })],
    ['expires_in as a numeric string', ok({ expires_in: '3600' })],
    ['no expires_in', ok({ expires_in: undefined })],
    ['a JWT access token', ok({ access_token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln' })],
  ])('accepts %s', async (_name, reply) => {
    script = () => reply;
    const { access_token: expected } = JSON.parse(reply.body) as { access_token: string };
    expect(await post().getAccessToken()).toBe(expected);
  });

  it.each<[string, Reply, RegExp]>([
    [
      'a DPoP token (needs a proof per request)',
      ok({ token_type: 'DPoP' }),
      /token_type "DPoP" is not supported, only Bearer/,
    ],
    ['no token_type', ok({ token_type: undefined }), /no token_type/],
    ['no access_token', ok({ access_token: undefined }), /no access_token/],
    ['an empty access_token', ok({ access_token: '' }), /no access_token/],
    [
      'an access_token with header syntax in it',
      ok({ access_token: 'abc\r\nx-injected: 1' }),
      /characters a Bearer token cannot have/,
    ],
    ['a negative expires_in', ok({ expires_in: -5 }), /expires_in is not a non-negative number/],
    [
      'expires_in that is not a number',
      ok({ expires_in: 'soon' }),
      /expires_in is not a non-negative number/,
    ],
    [
      'HTTP 200 with an HTML page',
      { body: '<html>login</html>', contentType: 'text/html' },
      /HTTP 200 but the body is not a JSON object \(text\/html\)$/,
    ],
    ['a JSON array', { body: '[]' }, /not a JSON object/],
    [
      'HTTP 502 from a proxy',
      { status: 502, body: '<h1>Bad Gateway</h1>', contentType: 'text/html; charset=utf-8' },
      /failed: HTTP 502 \(text\/html\)$/,
    ],
    ['HTTP 500 with an empty body', { status: 500, body: '' }, /failed: HTTP 500/],
  ])('refuses %s', async (_name, reply, message) => {
    script = () => reply;
    const error = await rejection(post().getAccessToken());
    expect(error.code).toBe('GH_OAUTH_TOKEN_FAILED');
    expect(error.message).toMatch(message);
    expect(error.message).toContain(`${base}/token`);
  });

  it('an OAuth error answer keeps error and error_description (RFC 6749 5.2)', async () => {
    script = () => ({
      status: 400,
      body: JSON.stringify({ error: 'invalid_scope', error_description: 'scope x is unknown' }),
    });
    const error = await rejection(post().getAccessToken());
    expect(error).toMatchObject({
      oauthError: 'invalid_scope',
      errorDescription: 'scope x is unknown',
      status: 400,
    });
    expect(error.message).toBe(
      `token request to ${base}/token failed: HTTP 400 invalid_scope (scope x is unknown)`,
    );
  });

  it('a server echoing the client secret in error_description: redacted', async () => {
    script = (request) => ({
      status: 401,
      body: JSON.stringify({
        error: 'invalid_client',
        error_description: `bad secret ${request.form.get('client_secret') ?? ''}`,
      }),
    });
    const error = await rejection(post().getAccessToken());
    expect(error.errorDescription).toBe('bad secret [redacted]');
    expect(everythingShown(error)).not.toContain(SECRET);
  });

  it('a server echoing the client assertion: redacted too', async () => {
    script = (request) => ({
      status: 400,
      body: JSON.stringify({
        error: 'invalid_client',
        error_description: `bad ${request.form.get('client_assertion') ?? ''}`,
      }),
    });
    const error = await rejection(post({ method: 'client_secret_jwt' }).getAccessToken());
    expect(error.errorDescription).toBe('bad [redacted]');
  });

  it('an oversized answer is cut off (maxResponseBytes)', async () => {
    script = () => ok({ padding: 'x'.repeat(4096) });
    const error = await rejection(post({ maxResponseBytes: 1024 }).getAccessToken());
    expect(error.message).toMatch(/over the 1024-byte limit/);
  });

  it('a server that never answers: a timeout error after timeoutMs', async () => {
    script = () => 'hang';
    const started = Date.now();
    const error = await rejection(post({ timeoutMs: 300 }).getAccessToken());
    expect(error.message).toMatch(/UND_ERR_HEADERS_TIMEOUT|timeout/i);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('without expires_in, defaultExpiresInS counts as the lifetime', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    let n = 0;
    script = () => ok({ access_token: `token-${++n}`, expires_in: undefined });
    const tokens = post({ defaultExpiresInS: 100, refreshSkewS: 30 });
    expect(await tokens.getAccessToken()).toBe('token-1');
    vi.setSystemTime(start + 69_000);
    expect(await tokens.getAccessToken()).toBe('token-1');
    vi.setSystemTime(start + 71_000);
    expect(await tokens.getAccessToken()).toBe('token-2');
  });
});

describe('discovery', () => {
  /** A client_secret_post source that discovers its token endpoint from `base`. */
  const discovering = (): ClientCredentialsTokenSource => {
    const tokens = new ClientCredentialsTokenSource(
      withConfigDefaults({
        issuer: base,
        clientId: 'app',
        method: 'client_secret_post',
        secret: SECRET,
      }),
    );
    sources.push(tokens);
    return tokens;
  };
  const metadata = (extra: Record<string, unknown> = {}): Reply => ({
    body: JSON.stringify({ issuer: base, token_endpoint: `${base}/token`, ...extra }),
  });

  it('prefers mtls_endpoint_aliases.token_endpoint for a client with a certificate (RFC 8705 5)', async () => {
    script = () => metadata({ mtls_endpoint_aliases: { token_endpoint: `${base}/mtls/token` } });
    const options = { timeoutMs: 2_000, maxBytes: 65_536, dispatcher: undefined };
    expect((await discoverTokenEndpoint(base, { ...options, mutualTls: true })).tokenEndpoint).toBe(
      `${base}/mtls/token`,
    );
    expect(
      (await discoverTokenEndpoint(base, { ...options, mutualTls: false })).tokenEndpoint,
    ).toBe(`${base}/token`);
  });

  it('a server that does not list the method: a clear error, and no token request', async () => {
    script = () => metadata({ token_endpoint_auth_methods_supported: ['private_key_jwt'] });
    const tokens = discovering();
    const error = await rejection(tokens.getAccessToken());
    expect(error.message).toBe(
      `${base} does not support client_secret_post (token_endpoint_auth_methods_supported: private_key_jwt)`,
    );
    expect(captured.map((request) => request.url)).toEqual(['/.well-known/openid-configuration']);
  });

  it.each<[string, Reply, RegExp]>([
    [
      'HTTP 404',
      { status: 404, body: 'not found', contentType: 'text/plain' },
      /failed: HTTP 404$/,
    ],
    ['no token_endpoint', { body: JSON.stringify({ issuer: 'ISSUER' }) }, /has no token_endpoint/],
    [
      'a plain-http token endpoint on another host',
      { body: JSON.stringify({ issuer: 'ISSUER', token_endpoint: 'http://as.example/token' }) },
      /must use https/,
    ],
    ['not JSON', { body: '<html>', contentType: 'text/html' }, /not JSON/],
  ])('refuses a discovery answer with %s', async (_name, reply, message) => {
    script = () => ({ ...reply, body: reply.body.replace('ISSUER', base) });
    const tokens = discovering();
    const error = await rejection(tokens.getAccessToken());
    expect(error.message).toMatch(message);
    expect(error.message).toContain('/.well-known/openid-configuration');
  });

  it('is done once: later token requests reuse the endpoint', async () => {
    script = (request) => (request.url.startsWith('/.well-known/') ? metadata() : ok());
    const tokens = discovering();
    await tokens.getAccessToken();
    tokens.invalidate();
    await tokens.getAccessToken();
    expect(captured.map((request) => request.url)).toEqual([
      '/.well-known/openid-configuration',
      '/token',
      '/token',
    ]);
  });
});
