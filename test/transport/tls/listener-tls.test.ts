import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { Client, credentials } from '@grpc/grpc-js';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProtos } from '../../../src/transport/grpc/load-protos.js';
import { ServingStatus } from '../../../src/transport/grpc/wire-types.js';
import { startTestGatehouse, type TestGatehouse } from '../../helpers/test-gatehouse.js';
import { waitFor } from '../../helpers/wait-for.js';
import { createTestPki, type TestPki } from '../../net/oauth/certificates.js';
import { unary } from '../grpc/grpc-test-client.js';

// TLS and mTLS on both check listeners, with real TLS clients (grpc-js with SSL credentials,
// undici with a CA) and certificates made by the openssl CLI. The files are replaced while
// Gatehouse runs: the new certificate must be served without a restart.

const protos = loadProtos();
let pkiA: TestPki;
let pkiB: TestPki;
let dir: string;
let t: TestGatehouse;

const files = (name: string): string => path.join(dir, name);

async function writeServerFiles(pki: TestPki): Promise<void> {
  // Key first, certificate last: a reader between the two sees a mismatched pair and keeps
  // the previous one (tls-files.ts).
  await writeFile(files('server.key'), pki.server.key);
  await writeFile(files('client-ca.crt'), pki.ca.cert);
  await writeFile(files('server.crt'), pki.server.cert);
}

beforeAll(async () => {
  [pkiA, pkiB] = await Promise.all([createTestPki(), createTestPki()]);
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-tls-'));
  await writeServerFiles(pkiA);
  const tls = {
    certFile: files('server.crt'),
    keyFile: files('server.key'),
    clientCaFile: files('client-ca.crt'),
    reloadIntervalS: 1,
  };
  t = await startTestGatehouse({
    config: {
      grpc: { host: '127.0.0.1', port: 0, tls },
      http: { host: '127.0.0.1', port: 0, tls },
    },
  });
}, 60_000);

afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

function grpcClient(ca: string, client?: { key: string; cert: string }): Client {
  return new Client(
    `127.0.0.1:${t.gatehouse.grpcPort ?? 0}`,
    credentials.createSsl(
      Buffer.from(ca),
      client === undefined ? null : Buffer.from(client.key),
      client === undefined ? null : Buffer.from(client.cert),
    ),
  );
}

function httpsAgent(ca: string, client?: { key: string; cert: string }): Agent {
  return new Agent({ connect: { ca, ...(client ?? {}) } });
}

const httpsBase = (): string => `https://127.0.0.1:${t.gatehouse.httpPort ?? 0}`;

/** The SHA-256 fingerprint of the certificate the HTTP listener serves now. */
function servedFingerprint(pki: TestPki): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: t.gatehouse.httpPort ?? 0,
      ca: pki.ca.cert,
      key: pki.client.key,
      cert: pki.client.cert,
      rejectUnauthorized: false,
    });
    socket.once('secureConnect', () => {
      const served = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(served);
    });
    socket.once('error', () => {
      resolve(undefined);
    });
  });
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

describe('TLS with client certificates (mTLS) on the gRPC listener', () => {
  it('a client with a certificate from the CA gets health and a real check answer over TLS', async () => {
    const client = grpcClient(pkiA.ca.cert, pkiA.client);
    try {
      const health = await unary(client, protos.health.Check, { service: '' });
      expect(health.error?.message).toBeUndefined();
      expect(health.response?.status).toBe(ServingStatus.SERVING);
      // No token on an API that needs one: the explicit 401 deny, over TLS.
      const check = await unary(client, protos.authorization.Check, {
        attributes: {
          request: { http: { method: 'GET', path: '/orders', host: 'h', headers: {} } },
        },
      });
      expect(check.response?.status.code).toBe(16);
      expect(check.response?.denied_response?.status.code).toBe(401);
    } finally {
      client.close();
    }
  });

  it('a client without a certificate is refused at the handshake', async () => {
    const client = grpcClient(pkiA.ca.cert);
    try {
      const health = await unary(client, protos.health.Check, { service: '' });
      expect(health.response).toBeUndefined();
      expect(health.error?.code).toBe(14); // UNAVAILABLE: no connection
    } finally {
      client.close();
    }
  });

  it('a client certificate from another CA is refused', async () => {
    const client = grpcClient(pkiA.ca.cert, pkiB.client);
    try {
      const health = await unary(client, protos.health.Check, { service: '' });
      expect(health.error?.code).toBe(14);
    } finally {
      client.close();
    }
  });

  it('a plaintext client gets no answer from the TLS listener', async () => {
    const client = new Client(
      `127.0.0.1:${t.gatehouse.grpcPort ?? 0}`,
      credentials.createInsecure(),
    );
    try {
      const health = await unary(client, protos.health.Check, { service: '' });
      expect(health.response).toBeUndefined();
    } finally {
      client.close();
    }
  });
});

describe('TLS with client certificates (mTLS) on the HTTP listener', () => {
  it('undici trusting the CA, with a client certificate: /readyz 200 and the check deny 401', async () => {
    const dispatcher = httpsAgent(pkiA.ca.cert, pkiA.client);
    try {
      const ready = await request(`${httpsBase()}/readyz`, { dispatcher });
      await ready.body.dump();
      expect(ready.statusCode).toBe(200);
      const check = await request(`${httpsBase()}/envoy/orders`, { dispatcher });
      expect(check.statusCode).toBe(401);
      expect(JSON.parse(await check.body.text())).toMatchObject({ error: 'GH_ERR_NO_CREDENTIAL' });
    } finally {
      await dispatcher.close();
    }
  });

  it('a client without a certificate, or with one from another CA, is refused', async () => {
    for (const client of [undefined, pkiB.client]) {
      const dispatcher = httpsAgent(pkiA.ca.cert, client);
      try {
        await expect(request(`${httpsBase()}/readyz`, { dispatcher })).rejects.toThrow();
      } finally {
        await dispatcher.close();
      }
    }
  });
});

describe('certificate files replaced while running', () => {
  it('the new certificate and client CA are served on new connections, on both listeners, without a restart', async () => {
    expect(await servedFingerprint(pkiA)).toBe(fingerprint(pkiA.server.cert));
    await writeServerFiles(pkiB);
    await waitFor(
      'the HTTP listener serving the new certificate',
      async () => (await servedFingerprint(pkiB)) === fingerprint(pkiB.server.cert),
      10_000,
    );
    // gRPC: a client trusting only the new CA, with a certificate the new client CA issued.
    const client = grpcClient(pkiB.ca.cert, pkiB.client);
    try {
      await waitFor(
        'the gRPC listener serving the new certificate',
        async () =>
          (await unary(client, protos.health.Check, { service: '' })).response?.status ===
          ServingStatus.SERVING,
        10_000,
      );
    } finally {
      client.close();
    }
    // The old client CA no longer lets a client in.
    const dispatcher = httpsAgent(pkiB.ca.cert, pkiA.client);
    try {
      await expect(request(`${httpsBase()}/readyz`, { dispatcher })).rejects.toThrow();
    } finally {
      await dispatcher.close();
    }
  }, 30_000);
});
