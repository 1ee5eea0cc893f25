import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { freeLoopbackPort } from '../helpers/listen.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Each test starts Node with tsx: slow on a loaded machine, so each may take 90 s.
vi.setConfig({ testTimeout: 90_000 });

// The real command line (src/main.ts) in a child process, as a user runs it: exit statuses,
// what reaches stdout and stderr, and that mistakes never print a stack trace.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function gatehouse(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', ...args],
      { cwd: ROOT, env: { ...process.env, GATEHOUSE_CONFIG: '', ...env }, timeout: 90_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let dir: string;

/** A config over a private copy of the example policies and a fresh dev key. */
async function writeConfig(extra = ''): Promise<string> {
  const file = path.join(dir, `gatehouse-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(
    file,
    [
      'log: { level: silent }',
      'grpc: { port: 0, host: 127.0.0.1 }',
      'http: { port: 0, host: 127.0.0.1 }',
      'policies:',
      `  dir: ${path.join(dir, 'policies')}`,
      `  compileCacheDir: ${path.join(tmpdir(), 'gatehouse-test-wasm-cache')}`,
      `persistence: { dir: ${path.join(dir, 'state')} }`,
      'issuers:',
      '  - issuer: https://dev.gatehouse.local',
      '    audiences: [gatehouse-examples]',
      '    algorithms: [RS256]',
      `    jwksFile: ${path.join(dir, 'dev', 'jwks.json')}`,
      extra,
    ].join('\n'),
  );
  return file;
}

/** A copy of the fixture policy folder at `name` in the test folder, for a test to change. */
async function policyCopy(name: string): Promise<string> {
  const copy = path.join(dir, name);
  await cp(path.join(dir, 'policies'), copy, { recursive: true });
  return copy;
}

/** `gatehouse validate` on a fresh config, with GATEHOUSE_POLICY_DIR naming `policyDir`. */
async function validateWithPolicies(policyDir: string): Promise<Result> {
  return gatehouse(['validate', '--config', await writeConfig()], {
    GATEHOUSE_POLICY_DIR: policyDir,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cli-'));
  await cp(path.join(ROOT, 'policies'), path.join(dir, 'policies'), { recursive: true });
  // `token` makes the dev key (and its JWKS) on first use.
  const minted = await gatehouse(['token', '--key-dir', path.join(dir, 'dev')]);
  expect(minted.code).toBe(0);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('usage', () => {
  it('version and --version print the package version and exit 0', async () => {
    const { version } = (await import('../../package.json', { with: { type: 'json' } }))
      .default as { version: string };
    for (const args of [['version'], ['--version'], ['-V']]) {
      const result = await gatehouse(args);
      expect(result.code).toBe(0);
      expect(result.stdout.trim()).toBe(version);
    }
  });

  it('--help lists every command, every flag and every environment variable', async () => {
    const result = await gatehouse(['--help']);
    expect(result.code).toBe(0);
    for (const word of [
      'run',
      'validate',
      'explain',
      'version',
      'token',
      '--config',
      '--ttl-s',
      '--request',
    ]) {
      expect(result.stdout).toContain(word);
    }
    for (const variable of [
      'GATEHOUSE_CONFIG',
      'GATEHOUSE_GRPC_PORT',
      'GATEHOUSE_HTTP_PORT',
      'GATEHOUSE_LOG_LEVEL',
      'GATEHOUSE_POLICY_DIR',
      'OPA_BIN',
    ]) {
      expect(result.stdout).toContain(variable);
    }
  });

  it.each([
    [['--bogus'], "unknown option '--bogus'"],
    [['run', '--bogus'], "unknown option '--bogus'"],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['validate', '--config'], 'argument missing'],
    [['token', '--ttl-s', 'soon'], 'must be a positive integer'],
    [['explain'], '--path or --request is required'],
    [['explain', '--path', '/orders', '--header', 'no-colon'], 'expected name:value'],
  ])('%j is one clear line on stderr and exit 2, never a stack trace', async (args, message) => {
    const result = await gatehouse(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });
});

describe('validate', () => {
  it('a good config and policies: every part named ok, exit 0', async () => {
    const result = await gatehouse(['validate', '--config', await writeConfig()]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/ok: issuer https:\/\/dev\.gatehouse\.local: 1 key\(s\)/);
    expect(result.stdout).toMatch(/ok: policies .*: 7 API\(s\), 6 policy package\(s\)/);
  });

  it('--show-rego prints the Rego a declarative policy compiles to', async () => {
    const result = await gatehouse(['validate', '--show-rego', '--config', await writeConfig()]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('# ---- users/profile.policy.yaml');
    expect(result.stdout).toContain('package users.profile');
    expect(result.stdout).toContain('input.token["sub"] == input.api.params["user"]');
  });

  it('GATEHOUSE_CONFIG names the file when --config is absent', async () => {
    const result = await gatehouse(['validate'], { GATEHOUSE_CONFIG: await writeConfig() });
    expect(result.code).toBe(0);
  });

  it('every config problem is named, exit 1', async () => {
    const file = await writeConfig('realm: "bad\\"realm"\nbogusOption: 1');
    const result = await gatehouse(['validate', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('realm');
    expect(result.stderr).toContain('bogusOption');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('a declarative policy with a bad condition is a problem naming the file, policy and field', async () => {
    const broken = await policyCopy('broken-declarative');
    await writeFile(
      path.join(broken, 'users', 'profile.policy.yaml'),
      'package: users.profile\nallow:\n  claim: sub\n  equal: { param: user }\n',
    );
    const result = await validateWithPolicies(broken);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('users/profile.policy.yaml (policy users.profile): allow');
  });

  it('an OpenAPI document beside the catalog adds its APIs; a bad one is a problem naming the file, exit 1', async () => {
    const withDocument = await policyCopy('openapi-policies');
    const shop = (ref: string) =>
      [
        'openapi: 3.1.0',
        'info: { title: Shop, version: "1" }',
        'paths:',
        '  /shop/{item}:',
        '    get:',
        '      parameters: [{ $ref: ' + JSON.stringify(ref) + ' }]',
        '      responses: { "200": { description: ok } }',
        'components:',
        '  parameters:',
        '    item: { name: item, in: path, required: true, schema: { type: integer } }',
      ].join('\n');
    await writeFile(
      path.join(withDocument, 'shop.openapi.yaml'),
      shop('#/components/parameters/item'),
    );
    const good = await validateWithPolicies(withDocument);
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/ok: policies .*: 8 API\(s\)/);

    await writeFile(
      path.join(withDocument, 'shop.openapi.yaml'),
      shop('https://schemas.example/item.json'),
    );
    const bad = await validateWithPolicies(withDocument);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      'shop.openapi.yaml: #/paths/~1shop~1{item}/get/parameters/0: $ref',
    );
    expect(bad.stderr).toContain('points outside the document');
  });

  it('Rego that does not compile is a problem naming the file, exit 1', async () => {
    const broken = await policyCopy('broken-policies');
    await writeFile(path.join(broken, 'admin.rego'), 'package admin.api\n\nallow if {\n');
    const result = await validateWithPolicies(broken);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('admin.rego');
  });

  it('a missing policy folder is named with its option, exit 1', async () => {
    const result = await validateWithPolicies(path.join(dir, 'no-such-folder'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('policies.dir');
    expect(result.stderr).toContain('no-such-folder');
  });
});

describe('run', () => {
  it('a missing policy folder is a named config error before any port opens', async () => {
    const port = await freeLoopbackPort();
    const file = await writeConfig();
    const result = await gatehouse(['run', '--config', file], {
      GATEHOUSE_POLICY_DIR: path.join(dir, 'missing-policies'),
      GATEHOUSE_HTTP_PORT: String(port),
      GATEHOUSE_LOG_LEVEL: 'info',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('policies.dir');
    expect(result.stderr).toContain('missing-policies');
    // Nothing listened: the logs never say a server started.
    expect(result.stdout).not.toContain('listening');
  });

  it('a missing JWKS file is a named config error before any port opens', async () => {
    const file = path.join(dir, 'missing-jwks.yaml');
    const text = await readFile(await writeConfig(), 'utf8');
    await writeFile(file, text.replace(path.join(dir, 'dev', 'jwks.json'), '/nope/jwks.json'));
    const result = await gatehouse(['--config', file], { GATEHOUSE_LOG_LEVEL: 'info' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('issuers[0].jwksFile');
    expect(result.stdout).not.toContain('listening');
  });
});

describe('explain', () => {
  // The example policies: orders.list needs orders:read; orders.create's policy needs the
  // writer role; the dev token has role reader and scope orders:read.
  const mint = async (): Promise<string> => {
    const minted = await gatehouse(['token', '--key-dir', path.join(dir, 'dev')]);
    return minted.stdout.trim();
  };

  it('an allowed request: the API, the valid token, every level allowing, the upstream headers; exit 0', async () => {
    const config = await writeConfig();
    const token = await mint();
    const result = await gatehouse([
      'explain',
      '-c',
      config,
      '--path',
      '/orders',
      '--token',
      token,
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('api:      orders.list (service orders)');
    expect(result.stdout).toContain('token:    valid (sub alice, iss https://dev.gatehouse.local)');
    expect(result.stdout).toMatch(/global\s+gatehouse\.global\s+allow/);
    expect(result.stdout).toMatch(/service\s+orders\.service\s+allow/);
    expect(result.stdout).toMatch(/api\s+orders\.read\s+allow/);
    expect(result.stdout).toContain('decision: ALLOW 200 GH_OK');
    expect(result.stdout).toContain('upstream  x-user-sub: alice');
  });

  it('a request the API policy denies: the outer levels allow, the API level denies; exit 1', async () => {
    const config = await writeConfig();
    const token = await mint();
    const request = path.join(dir, 'post-orders.json');
    await writeFile(
      request,
      JSON.stringify({
        method: 'POST',
        path: '/orders',
        host: 'localhost',
        headers: { authorization: `Bearer ${token}` },
      }),
    );
    const result = await gatehouse(['explain', '-c', config, '--request', request, '--json']);
    expect(result.code).toBe(1);
    const explanation = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(explanation).toMatchObject({
      api: { id: 'orders.create', service: 'orders' },
      token: { verdict: 'valid', claims: { sub: 'alice' } },
      policies: [
        { level: 'global', package: 'gatehouse.global', answer: 'allow' },
        { level: 'service', package: 'orders.service', answer: 'allow' },
        { level: 'api', package: 'orders.write', answer: 'deny' },
      ],
      decision: { allowed: false, code: 'GH_ERR_POLICY_DENIED', status: 403 },
    });
  });

  it('no token: the token verdict names the deny code, no policy is asked, the challenge is shown; exit 1', async () => {
    const config = await writeConfig();
    const result = await gatehouse(['explain', '-c', config, '--path', '/orders']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('token:    rejected GH_ERR_NO_CREDENTIAL');
    expect(result.stdout).toContain('(none evaluated)');
    expect(result.stdout).toContain('decision: DENY 401 GH_ERR_NO_CREDENTIAL');
    expect(result.stdout).toContain('response  www-authenticate: Bearer realm="gatehouse"');
  });

  it('a forged token is rejected by the real verifier; exit 1', async () => {
    const config = await writeConfig();
    const [header, payload] = (await mint()).split('.');
    const forged = `${header ?? ''}.${payload ?? ''}.${'A'.repeat(342)}`;
    const result = await gatehouse([
      'explain',
      '-c',
      config,
      '--path',
      '/orders',
      '--token',
      forged,
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/token: {4}rejected GH_ERR_TOKEN_SIGNATURE/);
  });
});

describe('token', () => {
  it('prints an RS256 at+jwt with the asked claims, signed by the dev key', async () => {
    const result = await gatehouse([
      'token',
      '--key-dir',
      path.join(dir, 'dev'),
      '--sub',
      'bob',
      '--roles',
      'admin,reader',
      '--scope',
      'orders:read orders:write',
      '--ttl-s',
      '60',
    ]);
    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      sub: 'bob',
      roles: ['admin', 'reader'],
      scope: 'orders:read orders:write',
      iss: 'https://dev.gatehouse.local',
      aud: 'gatehouse-examples',
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(60);
  });
});
