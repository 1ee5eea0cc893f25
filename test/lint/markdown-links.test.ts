import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { headingAnchors, markdownLinks } from '../helpers/markdown.js';

// The README is the front door and docs/ holds the reference: a link that points to a moved
// section or a renamed heading strands a reader. Every relative link in README.md and
// docs/*.md must name a file that exists and, with `#anchor`, a heading that file has.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOCS = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

function brokenLinks(doc: string): string[] {
  const file = path.join(ROOT, doc);
  const broken: string[] = [];
  for (const { line, target } of markdownLinks(readFileSync(file, 'utf8'))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ... are not files
    const [filePart = '', anchor] = target.split('#', 2);
    const targetFile = filePart === '' ? file : path.resolve(path.dirname(file), filePart);
    if (!existsSync(targetFile)) {
      broken.push(`${doc}:${line}: ${target} (no such file)`);
      continue;
    }
    if (anchor === undefined || anchor === '') continue;
    if (!targetFile.endsWith('.md') || statSync(targetFile).isDirectory()) {
      broken.push(`${doc}:${line}: ${target} (an anchor into a file that is not markdown)`);
      continue;
    }
    if (!headingAnchors(readFileSync(targetFile, 'utf8')).has(decodeURIComponent(anchor)))
      broken.push(`${doc}:${line}: ${target} (no such heading)`);
  }
  return broken;
}

describe('markdown links', () => {
  it.each(DOCS)('every relative link in %s points to an existing file and heading', (doc) => {
    expect(brokenLinks(doc)).toEqual([]);
  });

  it('a link to a missing heading is reported (the checker can fail)', () => {
    expect(headingAnchors('# Quick start\n```sh\n# not a heading\n```\n## GET /status\n')).toEqual(
      new Set(['quick-start', 'get-status']),
    );
    expect(markdownLinks('see [a](#x) and `[b](#y)`\n```\n[c](#z)\n```\n')).toEqual([
      { line: 1, target: '#x' },
    ]);
  });
});
