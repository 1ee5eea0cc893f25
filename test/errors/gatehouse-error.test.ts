import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load-config.js';
import { ERROR_CODES } from '../../src/errors/error-codes.js';
import { GatehouseError } from '../../src/errors/gatehouse-error.js';
import { TarEntryTypeError, TarLimitError } from '../../src/policy/tar-reader.js';
import { RouteTableError } from '../../src/routes/route-table.js';
import { BundleError } from '../../src/sync/bundle/bundle-error.js';
import { FetchError } from '../../src/net/http-fetch.js';
import { KeySourceError } from '../../src/net/oidc-errors.js';

// One base for every error Gatehouse throws: a catch site (a source's lastError, a log
// line, a metric label) can read `code` and `cause` without knowing the subclass.

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

describe('GatehouseError', () => {
  it.each([
    ['ConfigError', () => new ConfigError('config is invalid', ['x: bad']), 'GH_CONFIG_INVALID'],
    ['RouteTableError', () => new RouteTableError('/a/{x}/{x}: duplicate'), 'GH_ROUTE_INVALID'],
    ['TarLimitError', () => new TarLimitError('too many files'), 'GH_TAR_TOO_LARGE'],
    ['TarEntryTypeError', () => new TarEntryTypeError('a', 'symlink'), 'GH_TAR_ENTRY_REFUSED'],
    ['BundleError', () => new BundleError('GH_BUNDLE_INVALID', 'bad gzip'), 'GH_BUNDLE_INVALID'],
    ['FetchError', () => new FetchError('refused'), 'GH_FETCH_FAILED'],
  ] as const)(
    '%s is a GatehouseError with a registry code and its own name',
    (name, make, code) => {
      const error = make();
      expect(error).toBeInstanceOf(GatehouseError);
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe(code);
      expect(Object.hasOwn(ERROR_CODES, error.code)).toBe(true);
      expect(error.name).toBe(name);
    },
  );

  it('keeps the underlying error as the standard cause', () => {
    const underlying = new Error('ECONNREFUSED');
    const error = new KeySourceError('GH_OIDC_JWKS_FETCH_FAILED', 'jwks fetch failed', {
      cause: underlying,
    });
    expect(error.cause).toBe(underlying);
    expect(error.code).toBe('GH_OIDC_JWKS_FETCH_FAILED');
  });

  it('no class in src/ extends Error directly, so none escapes the catalogue', async () => {
    const entries = await readdir(SRC, { withFileTypes: true, recursive: true });
    const strays: string[] = [];
    for (const entry of entries) {
      if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
      const file = path.join(entry.parentPath, entry.name);
      if (file === path.join(SRC, 'errors', 'gatehouse-error.ts')) continue;
      const text = await readFile(file, 'utf8');
      if (/\bextends (?:Error|TypeError|RangeError)\b/.test(text))
        strays.push(path.relative(SRC, file));
    }
    expect(strays).toEqual([]);
  });
});
