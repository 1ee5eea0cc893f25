import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { IssuerKeySource } from '../../../src/sync/oidc/issuer-key-source.js';
import { createTestIssuer } from '../../helpers/token-factory.js';
import { parseIssuerConfig } from './issuer-config.js';
import { selectKeyOrigin } from '../../../src/sync/oidc/key-origin.js';
import { isLoopbackHost, parseSecureUrl } from '../../../src/net/secure-url.js';

describe('selectKeyOrigin', () => {
  it.each([
    [{}, /exactly one of .* \(got 0\)/],
    [{ discovery: true, jwksUrl: 'https://op.example/jwks' }, /exactly one of .* \(got 2\)/],
    [{ jwksFile: 'a.json', signerCertificateFile: 'a.crt' }, /exactly one of .* \(got 2\)/],
    [{ signerKeyId: 'k' }, /signerKeyId is set without signerCertificateFile/],
    [{ jwksUrl: 'http://op.example/jwks' }, /jwksUrl must use https/],
  ])('refuses %j', (fields, message) => {
    expect(() => selectKeyOrigin(fields)).toThrow(message);
  });

  it.each([
    [{ discovery: true }, { kind: 'discovery' }],
    [
      { discovery: false, jwksFile: 'k.json' },
      { kind: 'jwksFile', path: 'k.json' },
    ],
    [
      { jwksUrl: 'http://127.0.0.1:8080/jwks' },
      { kind: 'jwksUrl', url: 'http://127.0.0.1:8080/jwks' },
    ],
    [
      { signerCertificateFile: 'a.crt', signerKeyId: 'k' },
      { kind: 'certificateFile', path: 'a.crt', kid: 'k' },
    ],
  ])('accepts %j', (fields, origin) => {
    expect(selectKeyOrigin(fields)).toEqual(origin);
  });
});

describe('parseSecureUrl', () => {
  it.each([
    ['https://op.example/jwks', true],
    ['http://127.0.0.1:9000/jwks', true],
    ['http://127.9.9.9/jwks', true],
    ['http://[::1]:9000/jwks', true],
    ['http://localhost/jwks', true],
    ['http://op.localhost/jwks', true],
    ['http://op.example/jwks', false],
    // A name that merely starts like a loopback address is a remote host.
    ['http://127.0.0.1.nip.io/jwks', false],
    ['http://[::ffff:7f00:1]/jwks', false],
    ['ftp://op.example/jwks', false],
    ['https://user:pass@op.example/jwks', false],
    ['/jwks', false],
  ])('%s -> %s', (value, accepted) => {
    expect('url' in parseSecureUrl(value)).toBe(accepted);
  });

  it('reads hostnames as URL gives them', () => {
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('10.0.0.1')).toBe(false);
  });
});

describe('a JWKS file origin', () => {
  it('is read on every refresh, and a file that turns bad keeps the previous keys', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-jwks-file-'));
    try {
      const file = path.join(dir, 'jwks.json');
      const first = await createTestIssuer(undefined, 'file-key-1');
      const second = await createTestIssuer(undefined, 'file-key-2');
      await writeFile(file, JSON.stringify(first.jwks));
      const source = new IssuerKeySource({
        config: parseIssuerConfig({ issuer: first.issuer, jwksFile: file }),
      });
      expect(await source.refresh()).toBe(true);
      expect(source.status()).toMatchObject({
        keyIds: ['file-key-1'],
        jwksUri: pathToFileURL(file).href,
      });

      await writeFile(file, JSON.stringify(second.jwks));
      expect(await source.refresh()).toBe(true);
      expect(source.status().keyIds).toEqual(['file-key-2']);

      await writeFile(file, '{"keys": [');
      expect(await source.refresh()).toBe(false);
      expect(source.status()).toMatchObject({
        keyIds: ['file-key-2'],
        lastError: { code: 'GH_JWKS_INVALID' },
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
