import { connect, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/observability/logger.js';
import { TlsFiles } from '../../../src/transport/tls/tls-files.js';
import { createTestPki, type TestPki } from '../../net/oauth/certificates.js';
import { startEchoServer, type EchoServer } from './echo-server.js';
import { request } from './node-client.js';

// h2 over TLS (RFC 9113 3.2: ALPN "h2"), with and without client certificates, with
// certificates made by the openssl CLI and swapped on disk while the server runs.

let pkiA: TestPki;
let pkiB: TestPki;
let dir: string;
const sessions: ClientHttp2Session[] = [];

beforeAll(async () => {
  [pkiA, pkiB] = await Promise.all([createTestPki(), createTestPki()]);
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-h2-tls-'));
}, 60_000);

afterAll(async () => {
  for (const s of sessions) s.destroy();
  await rm(dir, { recursive: true, force: true });
});

async function tlsFiles(name: string, pki: TestPki, withClientCa: boolean): Promise<TlsFiles> {
  const file = (f: string): string => path.join(dir, `${name}-${f}`);
  await writeFile(file('server.key'), pki.server.key);
  await writeFile(file('ca.crt'), pki.ca.cert);
  await writeFile(file('server.crt'), pki.server.cert);
  return TlsFiles.load(
    {
      certFile: file('server.crt'),
      keyFile: file('server.key'),
      ...(withClientCa ? { clientCaFile: file('ca.crt') } : {}),
      reloadIntervalS: 3600,
    },
    silentLogger(),
  );
}

function h2(port: number, options: SecureClientSessionOptions): ClientHttp2Session {
  const session = connect(`https://127.0.0.1:${port}`, options);
  session.on('error', () => undefined);
  sessions.push(session);
  return session;
}

/** The handshake's outcome for a client: connected, or the error it failed with. */
async function handshake(session: ClientHttp2Session): Promise<'connected' | Error> {
  const outcome = await new Promise<'connect' | Error>((resolve) => {
    session.once('connect', () => {
      resolve('connect');
    });
    session.once('error', resolve);
    session.once('close', () => {
      resolve(new Error('closed'));
    });
  });
  if (outcome !== 'connect') return outcome;
  // TLS 1.3: the server checks the client certificate after the client saw "connected";
  // a request shows whether the connection was really accepted.
  const answer = await request(session, '/ping');
  return answer.status === 200 ? 'connected' : new Error('refused after the handshake');
}

/** Octets the server sent before the socket closed (or failed). */
function receivedBeforeClose(socket: TLSSocket): Promise<number> {
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  socket.on('error', () => undefined);
  return new Promise((resolve) => {
    socket.on('close', () => {
      resolve(received);
    });
  });
}

describe('TLS with ALPN h2', () => {
  let echo: EchoServer;
  beforeAll(async () => {
    echo = await startEchoServer({ tls: await tlsFiles('plain', pkiA, false) });
  });
  afterAll(async () => {
    await echo.close(0);
  });

  it('answers over TLS, with h2 chosen by ALPN', async () => {
    const s = h2(echo.port, { ca: pkiA.ca.cert });
    const answer = await request(s, '/ping');
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe('ok /ping 0');
    expect(s.alpnProtocol).toBe('h2');
  });

  it('a TLS client that offers no ALPN is not served HTTP/2', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: echo.port, ca: pkiA.ca.cert });
    expect(await receivedBeforeClose(socket)).toBe(0);
  });

  it('a TLS client that offers only http/1.1 is not served', async () => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: echo.port,
      ca: pkiA.ca.cert,
      ALPNProtocols: ['http/1.1'],
    });
    expect(await receivedBeforeClose(socket)).toBe(0);
  });
});

describe('mTLS: a client CA requires client certificates', () => {
  let echo: EchoServer;
  beforeAll(async () => {
    echo = await startEchoServer({ tls: await tlsFiles('mutual', pkiA, true) });
  });
  afterAll(async () => {
    await echo.close(0);
  });

  it('a client with a certificate the CA issued is served', async () => {
    const s = h2(echo.port, { ca: pkiA.ca.cert, cert: pkiA.client.cert, key: pkiA.client.key });
    expect(await handshake(s)).toBe('connected');
  });

  it('a client without a certificate is refused in the handshake', async () => {
    const s = h2(echo.port, { ca: pkiA.ca.cert });
    const outcome = await handshake(s);
    expect(outcome).toBeInstanceOf(Error);
    expect(echo.started).toHaveLength(1);
  });

  it('a client with a certificate the CA did not issue is refused', async () => {
    const s = h2(echo.port, {
      ca: pkiA.ca.cert,
      cert: pkiA.selfSigned.cert,
      key: pkiA.selfSigned.key,
    });
    expect(await handshake(s)).toBeInstanceOf(Error);
  });
});

describe('certificate reload', () => {
  it('a new connection gets the new certificate; an open one keeps working', async () => {
    const files = await tlsFiles('reload', pkiA, true);
    const echo = await startEchoServer({ tls: files });
    try {
      const before = h2(echo.port, {
        ca: pkiA.ca.cert,
        cert: pkiA.client.cert,
        key: pkiA.client.key,
      });
      expect(await handshake(before)).toBe('connected');
      // Renewed on disk: key first, certificate last (tls-files.ts).
      await writeFile(path.join(dir, 'reload-server.key'), pkiB.server.key);
      await writeFile(path.join(dir, 'reload-ca.crt'), pkiB.ca.cert);
      await writeFile(path.join(dir, 'reload-server.crt'), pkiB.server.cert);
      expect(await files.reload()).toBe(true);
      const after = h2(echo.port, {
        ca: pkiB.ca.cert,
        cert: pkiB.client.cert,
        key: pkiB.client.key,
      });
      expect(await handshake(after)).toBe('connected');
      const oldTrust = h2(echo.port, {
        ca: pkiA.ca.cert,
        cert: pkiA.client.cert,
        key: pkiA.client.key,
      });
      expect(await handshake(oldTrust)).toBeInstanceOf(Error);
      expect((await request(before, '/ping')).status).toBe(200);
    } finally {
      files.stop();
      await echo.close(0);
    }
  });
});
