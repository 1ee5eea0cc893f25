import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DENY_CODES } from '../../src/decision/deny-codes.js';

// Every deny code is part of the public contract (logs, metrics, response bodies): each
// must be in the README's table with the status it really answers, or users cannot act on it.

const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md');

describe('deny codes', () => {
  it.each(Object.entries(DENY_CODES))(
    '%s is documented in the README with its status',
    async (code, spec) => {
      const readme = await readFile(README, 'utf8');
      const row = readme
        .split('\n')
        .find((line) => line.replace(/\s+/g, ' ').startsWith(`| \`${code}\` |`));
      expect(row, `no README table row for ${code}`).toBeDefined();
      expect(row).toContain(String(spec.status));
    },
  );
});
