import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * X.509 material for the mutual TLS tests, made with the openssl CLI (Debian ships it;
 * node:crypto makes keys but not certificates): a CA, a server certificate for
 * 127.0.0.1, client certificates issued by the CA, and a self-signed client certificate.
 * P-256 keys, valid for a day: fast to make, nothing to keep.
 */
export interface KeyAndCert {
  readonly key: string;
  readonly cert: string;
}

export interface TestPki {
  readonly ca: KeyAndCert;
  readonly server: KeyAndCert;
  /** Subject O=Gatehouse Test, CN=gatehouse-sidecar; issued by `ca`. */
  readonly client: KeyAndCert;
  /** Issued by `ca`, but for another subject (CN=intruder). */
  readonly otherClient: KeyAndCert;
  /** Not issued by `ca`: its own issuer. */
  readonly selfSigned: KeyAndCert;
  /** A second self-signed certificate that no client registered. */
  readonly unregisteredSelfSigned: KeyAndCert;
}

/** RFC 4514 string of `client`'s subject: the most specific RDN first. */
export const CLIENT_SUBJECT_DN = 'CN=gatehouse-sidecar,O=Gatehouse Test';

const run = promisify(execFile);

export async function createTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-pki-'));
  const file = (name: string): string => path.join(dir, name);
  const openssl = async (...args: string[]): Promise<void> => {
    await run('openssl', args, { cwd: dir });
  };
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const selfSigned = async (name: string, subject: string, ext: string[]): Promise<void> => {
    await openssl(
      'req',
      '-x509',
      ...newKey,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.crt`),
      '-subj',
      subject,
      '-days',
      '1',
      ...ext.flatMap((e) => ['-addext', e]),
    );
  };
  const issued = async (name: string, subject: string, extensions: string): Promise<void> => {
    await openssl(
      'req',
      '-new',
      ...newKey,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.csr`),
      '-subj',
      subject,
    );
    await writeFile(file(`${name}.ext`), extensions);
    await openssl(
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-set_serial',
      `0x${Date.now().toString(16)}${name.length}`,
      '-days',
      '1',
      '-extfile',
      file(`${name}.ext`),
      '-out',
      file(`${name}.crt`),
    );
  };
  const read = async (name: string): Promise<KeyAndCert> => ({
    key: await readFile(file(`${name}.key`), 'utf8'),
    cert: await readFile(file(`${name}.crt`), 'utf8'),
  });

  try {
    await selfSigned('ca', '/CN=Gatehouse Test CA', [
      'basicConstraints=critical,CA:TRUE',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    const clientExt = 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n';
    await Promise.all([
      issued(
        'server',
        '/CN=127.0.0.1',
        'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n',
      ),
      issued('client', '/O=Gatehouse Test/CN=gatehouse-sidecar', clientExt),
      issued('other', '/CN=intruder', clientExt),
      selfSigned('self', '/CN=gatehouse-self-signed', ['extendedKeyUsage=clientAuth']),
      selfSigned('unregistered', '/CN=gatehouse-self-signed', ['extendedKeyUsage=clientAuth']),
    ]);
    return {
      ca: await read('ca'),
      server: await read('server'),
      client: await read('client'),
      otherClient: await read('other'),
      selfSigned: await read('self'),
      unregisteredSelfSigned: await read('unregistered'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The certificate as a JWK `x5c` entry: base64 (not base64url) DER (RFC 7517 section 4.7). */
export function x5c(certPem: string): string {
  return new X509Certificate(certPem).raw.toString('base64');
}
