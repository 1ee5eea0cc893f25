import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DENY_CODES } from '../../src/decision/deny-codes.js';
import { ERROR_CODES } from '../../src/errors/error-codes.js';

// Every code is part of the public contract (logs, metrics, response bodies, GET /status):
// each deny code must be in docs/answers.md's table with the status it really answers, each
// operational code in docs/errors.md, or users cannot act on it.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ANSWERS_DOC = path.join(ROOT, 'docs', 'answers.md');
const ERRORS_DOC = path.join(ROOT, 'docs', 'errors.md');

function tableRow(doc: string, code: string): string | undefined {
  return doc.split('\n').find((line) => line.replace(/\s+/g, ' ').startsWith(`| \`${code}\` |`));
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describe('deny codes', () => {
  it.each(Object.entries(DENY_CODES))(
    '%s is documented in docs/answers.md with its status',
    async (code, spec) => {
      const doc = await readFile(ANSWERS_DOC, 'utf8');
      const row = tableRow(doc, code);
      expect(row, `no docs/answers.md table row for ${code}`).toBeDefined();
      expect(row).toContain(String(spec.status));
    },
  );
});

describe('operational error codes', () => {
  it.each(Object.keys(ERROR_CODES))('%s is documented in docs/errors.md', async (code) => {
    const doc = await readFile(ERRORS_DOC, 'utf8');
    expect(tableRow(doc, code), `no docs/errors.md table row for ${code}`).toBeDefined();
  });

  it.each(Object.keys(ERROR_CODES))(
    '%s follows GH_<AREA>_<WHAT>, apart from deny codes',
    (code) => {
      expect(code).toMatch(/^GH_[A-Z0-9]+_[A-Z0-9_]+$/);
      expect(code.startsWith('GH_ERR_')).toBe(false);
    },
  );

  it('a code used in src/ has one home: the deny table or the error registry', async () => {
    const known = new Set<string>([
      ...Object.keys(DENY_CODES),
      ...Object.keys(ERROR_CODES),
      'GH_OK',
    ]);
    const strays: string[] = [];
    for (const file of await sourceFiles(path.join(ROOT, 'src'))) {
      const text = await readFile(file, 'utf8');
      for (const [, code] of text.matchAll(/'(GH_[A-Z0-9_]+)'/g)) {
        if (code !== undefined && !known.has(code))
          strays.push(`${path.relative(ROOT, file)}: ${code}`);
      }
    }
    expect(strays).toEqual([]);
  });

  it('no code of the old prefixes (DPOP_ERR_*, ERR_CERT_*, ERR_CNF_*) is left in src/', async () => {
    const strays: string[] = [];
    for (const file of await sourceFiles(path.join(ROOT, 'src'))) {
      const text = await readFile(file, 'utf8');
      for (const [old] of text.matchAll(/\b(?:DPOP_ERR|ERR_CERT|ERR_CNF)_[A-Z_]+/g)) {
        strays.push(`${path.relative(ROOT, file)}: ${old}`);
      }
    }
    expect(strays).toEqual([]);
  });
});
