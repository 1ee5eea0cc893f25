import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuerConfig } from '../../../src/config/schema.js';
import { IssuerKeySource } from '../../../src/sync/oidc/issuer-key-source.js';
import { parseIssuerConfig } from './issuer-config.js';
import { verifyWith } from './issuer-config.js';

// Static signer certificates made by the openssl CLI, as an operator would export them
// from an issuer that signs with a certificate (ADFS, some SAML-era gateways).

const ISSUER = 'https://sts.test.gatehouse';
const run = promisify(execFile);

interface Signer {
  readonly certFile: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** base64url SHA-256 of the DER certificate: its x5t#S256. */
  readonly thumbprint: string;
}

let dir: string;
let rsa: Signer;
let ec: Signer;
let other: Signer;

async function makeSigner(name: string, keyArgs: readonly string[]): Promise<Signer> {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    ...keyArgs,
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${name}.test.gatehouse`,
  ]);
  const certPem = await readFile(certFile, 'utf8');
  return {
    certFile,
    certPem,
    // OpenSSL 3 writes PKCS #8 ("BEGIN PRIVATE KEY") for -nodes.
    keyPem: await readFile(keyFile, 'utf8'),
    thumbprint: createHash('sha256').update(new X509Certificate(certPem).raw).digest('base64url'),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-x509-'));
  [rsa, ec, other] = await Promise.all([
    makeSigner('rsa', ['-newkey', 'rsa:2048']),
    makeSigner('ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']),
    makeSigner('other', ['-newkey', 'rsa:2048']),
  ]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sign(signer: Signer, alg: string, kid: string): Promise<string> {
  const key = await importPKCS8(signer.keyPem, alg);
  return new SignJWT({ scope: 'orders:read' })
    .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience('orders-api')
    .setSubject('service-a')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
}

async function started(
  file: string,
  algorithms?: IssuerConfig['algorithms'],
  kid?: string,
): Promise<IssuerKeySource> {
  const source = new IssuerKeySource({
    config: parseIssuerConfig({
      issuer: ISSUER,
      algorithms: algorithms ?? ['RS256'],
      signerCertificateFile: file,
      ...(kid === undefined ? {} : { signerKeyId: kid }),
    }),
  });
  await source.start();
  source.stop();
  return source;
}

describe('a static X.509 signer certificate', () => {
  it('verifies tokens signed with its key, named by the x5t#S256 thumbprint', async () => {
    const source = await started(rsa.certFile);
    expect(source.status()).toMatchObject({
      keyIds: [rsa.thumbprint],
      jwksUri: pathToFileURL(rsa.certFile).href,
      lastError: undefined,
    });
    const token = await sign(rsa, 'RS256', rsa.thumbprint);
    expect(await verifyWith(token, source.current())).toMatchObject({ ok: true });
  });

  it('uses the configured kid instead', async () => {
    const source = await started(rsa.certFile, undefined, 'sts-signing');
    expect(source.status().keyIds).toEqual(['sts-signing']);
    expect(
      await verifyWith(await sign(rsa, 'RS256', 'sts-signing'), source.current()),
    ).toMatchObject({ ok: true });
  });

  it('picks the first allowed algorithm the key fits (an EC P-256 certificate -> ES256)', async () => {
    const source = await started(ec.certFile, ['RS256', 'ES256']);
    const token = await sign(ec, 'ES256', ec.thumbprint);
    expect(await verifyWith(token, source.current())).toMatchObject({ ok: true });
  });

  it('refuses a token signed by another key that borrows the certificate kid', async () => {
    const source = await started(rsa.certFile);
    const forged = await sign(other, 'RS256', rsa.thumbprint);
    expect(await verifyWith(forged, source.current())).toMatchObject({
      ok: false,
      code: 'GH_ERR_TOKEN_SIGNATURE',
    });
  });

  it('takes every certificate in the file, for a rollover', async () => {
    const both = path.join(dir, 'rollover.crt');
    await writeFile(both, `${rsa.certPem}\n${other.certPem}`);
    const source = await started(both);
    expect(source.status().keyIds).toEqual([rsa.thumbprint, other.thumbprint]);
    expect(
      await verifyWith(await sign(other, 'RS256', other.thumbprint), source.current()),
    ).toMatchObject({ ok: true });
  });

  it.each([
    ['a file without a certificate', 'garbage.crt', 'not a certificate', ['RS256'] as const],
    ['a key no allowed algorithm fits', 'ec.crt', undefined, ['RS256'] as const],
  ])('reports %s as GH_OIDC_CERTIFICATE_INVALID', async (_name, file, contents, algorithms) => {
    const target = path.join(dir, file);
    if (contents !== undefined) await writeFile(target, contents);
    const source = await started(target, [...algorithms]);
    expect(source.current()).toBeUndefined();
    expect(source.status().lastError?.code).toBe('GH_OIDC_CERTIFICATE_INVALID');
  });
});
