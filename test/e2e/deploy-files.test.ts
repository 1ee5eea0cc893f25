import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_IDENTITY_HEADERS } from '../../src/config/identity-headers.js';
import { METHOD_OVERRIDE_HEADERS } from '../../src/check/method-override.js';
import { parseConfig } from '../../src/config/load-config.js';
import { findNginx, writableHttpPaths } from '../helpers/nginx.js';
import { startTestGatehouse } from '../helpers/test-gatehouse.js';

// The deploy/ files other than Envoy's (those run in envoy-grpc/envoy-http.test.ts): each is
// loaded by the real thing that would load it, as shipped.

const run = promisify(execFile);
const DEPLOY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-deploy-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('deploy/nginx/gatehouse.conf', () => {
  it('passes nginx -t when included in an http {} block', async () => {
    const nginx = await findNginx();
    const file = (name: string): string => path.join(dir, name);
    // Only what nginx needs to write somewhere writable; the server block is included as is.
    await writeFile(
      file('nginx.conf'),
      `pid ${file('nginx.pid')};
error_log ${file('error.log')};
events {}
http {
${writableHttpPaths(dir)}
    include ${path.join(DEPLOY, 'nginx', 'gatehouse.conf')};
}
`,
    );
    const { stderr } = await run(nginx, [
      '-t',
      '-c',
      file('nginx.conf'),
      '-p',
      `${dir}/`,
      '-e',
      file('error.log'),
    ]);
    expect(stderr).toContain('test is successful');
  });
});

describe('deploy/kubernetes/gatehouse-sidecar.yaml', () => {
  interface Manifest {
    kind: string;
    metadata: { name: string };
    data?: Record<string, string>;
    spec?: {
      template: {
        spec: {
          volumes: {
            name: string;
            configMap?: { name: string; items?: { key: string; path: string }[] };
          }[];
        };
      };
    };
  }

  async function manifests(): Promise<Manifest[]> {
    const text = await readFile(path.join(DEPLOY, 'kubernetes', 'gatehouse-sidecar.yaml'), 'utf8');
    return parseAllDocuments(text).map((doc) => doc.toJS() as Manifest);
  }

  it('its gatehouse.yaml ConfigMap is a valid Gatehouse config', async () => {
    const config = (await manifests()).find((m) => m.metadata.name === 'orders-gatehouse-config');
    const raw = parseAllDocuments(config?.data?.['gatehouse.yaml'] ?? '')[0]?.toJS() as unknown;
    const parsed = parseConfig(raw, '/etc/gatehouse/config', {});
    expect(parsed.policies.dir).toBe('/etc/gatehouse/policies');
    expect(parsed.grpc.host).toBe('127.0.0.1');
  });

  it('its policies ConfigMap, laid out as the volume items say, compiles and serves', async () => {
    const all = await manifests();
    const policies = all.find((m) => m.metadata.name === 'orders-gatehouse-policies');
    const volume = all
      .find((m) => m.kind === 'Deployment')
      ?.spec?.template.spec.volumes.find((v) => v.configMap?.name === 'orders-gatehouse-policies');
    const items = volume?.configMap?.items ?? [];
    // Every key is mounted: a key missing from items would be a policy that never loads.
    expect(items.map((item) => item.key).sort()).toEqual(Object.keys(policies?.data ?? {}).sort());
    const policyDir = path.join(dir, 'policies');
    for (const item of items) {
      await mkdir(path.dirname(path.join(policyDir, item.path)), { recursive: true });
      await writeFile(path.join(policyDir, item.path), policies?.data?.[item.key] ?? '');
    }
    const t = await startTestGatehouse({ policySource: policyDir });
    try {
      expect(t.gatehouse.ready).toBe(true);
      const token = await t.issuer.sign({ roles: ['reader'] });
      const allowed = await fetch(`${t.httpBase}/envoy/orders/42`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('x-user-sub')).toBe('alice');
      const anonymous = await fetch(`${t.httpBase}/envoy/orders/42`);
      expect(anonymous.status).toBe(401);
    } finally {
      await t.close();
    }
  });
});

describe('identity headers in the shipped proxy files', () => {
  // NGINX and Traefik cannot remove a header on Gatehouse's say, and the Envoy files strip
  // client-sent identity headers before ext_authz: each file must name every default
  // identity header, or a client's spoofed header would reach the upstream behind it.
  it.each([
    ['nginx/gatehouse.conf', (name: string) => `$upstream_http_${name.replaceAll('-', '_')}`],
    ['traefik/dynamic.yaml', (name: string) => `- ${name}`],
    ['traefik/middleware.yaml', (name: string) => `- ${name}`],
    ['envoy/envoy-grpc.yaml', (name: string) => name],
    ['envoy/envoy-http.yaml', (name: string) => name],
  ])('%s names every default identity header', async (file, spelling) => {
    const text = (await readFile(path.join(DEPLOY, file), 'utf8')).toLowerCase();
    const envoy = file.startsWith('envoy/');
    const missing = DEFAULT_IDENTITY_HEADERS.filter((name) => {
      // Envoy's files remove the x-user- family with one prefix match.
      if (envoy && name.startsWith('x-user-')) return !text.includes('prefix: x-user-');
      return !text.includes(spelling(name).toLowerCase());
    });
    expect(missing).toEqual([]);
  });

  it.each(['nginx/gatehouse.conf', 'traefik/dynamic.yaml', 'traefik/middleware.yaml'])(
    '%s also overwrites every method override header',
    async (file) => {
      const text = (await readFile(path.join(DEPLOY, file), 'utf8')).toLowerCase();
      expect(METHOD_OVERRIDE_HEADERS.filter((name) => !text.includes(name))).toEqual([]);
    },
  );
});
