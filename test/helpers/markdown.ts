// Reading markdown the way GitHub renders it, for the tests that check the docs: which
// headings a file has (as the anchors GitHub gives them) and which links it makes.

export interface MarkdownLink {
  /** 1-based line the link is on. */
  line: number;
  /** The link target as written, e.g. `docs/tokens.md#dpop` or `#quick-start`. */
  target: string;
}

/**
 * The lines of a markdown file with those inside fenced code blocks blanked, so a `#`
 * comment in a shell example is not a heading and a `[x](y)` in code is not a link.
 * CommonMark 4.5: a fence is three or more backticks or tildes, closed by the same kind.
 */
export function proseLines(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const opener = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && opener !== undefined) {
      fence = opener;
      return '';
    }
    if (fence !== undefined) {
      if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '')
        fence = undefined;
      return '';
    }
    return line;
  });
}

/**
 * GitHub's heading anchor: the rendered text lower-cased, punctuation other than `-` and `_`
 * removed, each space a `-`; a repeated anchor gets `-1`, `-2`, ... (github-slugger).
 */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const text = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (text === undefined) continue;
    const base = text
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Inline links and images (`[text](target)`) outside code, with their line numbers. */
export function markdownLinks(markdown: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  proseLines(markdown).forEach((line, index) => {
    const withoutCode = line.replace(/`[^`]*`/g, '');
    for (const match of withoutCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = match[1];
      if (target !== undefined) links.push({ line: index + 1, target });
    }
  });
  return links;
}
