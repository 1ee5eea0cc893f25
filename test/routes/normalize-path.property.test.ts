import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeAnyPath, normalizePath, parseQuery } from '../../src/routes/normalize-path.js';
import { normalizeHost, type CanonicalHost } from '../../src/routes/normalize-authority.js';
import { RouteTable, type RouteSpec } from '../../src/routes/route-table.js';

// Property tests for normalizePath: idempotence on its own output, and that every spelling
// normalize-path.ts defines as equivalent (percent-encoding, dot segments, doubled slashes,
// a trailing slash, a query or fragment) reaches the same route with the same parameters.

const HOST = ((): CanonicalHost => {
  const host = normalizeHost('api.example.com');
  if (!host.ok) throw new Error(host.reason);
  return host.host;
})();

// What a decoded segment may hold here: unreserved and sub-delims, ':' and '@', plus
// characters that must be percent-encoded in a path ('%', '?', '#', space, '"') and
// non-ASCII (one, two and four UTF-8 bytes... and a surrogate pair).
const SAFE_RAW = "abcXYZ019-._~!$&'()+,;=:@";
const MUST_ENCODE = '%?# "';
const NON_ASCII = ['é', '日', '😀'];
// Not in templates (route-table.ts: % ? # \ * and braces are not literal characters).
const NOT_IN_TEMPLATES = /[%?#*{}]/;

const segmentChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SAFE_RAW.split('')) },
  { weight: 2, arbitrary: fc.constantFrom(...MUST_ENCODE.split('')) },
  { weight: 1, arbitrary: fc.constantFrom(...NON_ASCII) },
);

/** A decoded segment that normalizePath keeps as it is: not "." or "..", no "..;" prefix. */
const segment = fc
  .array(segmentChar, { minLength: 1, maxLength: 8 })
  .map((chars) => chars.join(''))
  .filter((s) => s !== '.' && s !== '..' && !/^\.\.?;/.test(s));

const segments = fc.array(segment, { minLength: 0, maxLength: 5 });

function percentEncode(ch: string, upper: boolean): string {
  const bytes = Buffer.from(ch, 'utf8');
  return [...bytes]
    .map((b) => {
      const hex = b.toString(16).padStart(2, '0');
      return `%${upper ? hex.toUpperCase() : hex}`;
    })
    .join('');
}

/** One spelling of a decoded segment: each character raw when it may be, or encoded. */
function segmentSpelling(text: string): fc.Arbitrary<string> {
  // By code point: a character outside the BMP is one character, encoded as four bytes.
  const chars = Array.from(text);
  return fc
    .array(fc.tuple(fc.boolean(), fc.boolean()), {
      minLength: chars.length,
      maxLength: chars.length,
    })
    .map((choices) =>
      chars
        .map((ch, i) => {
          const [encode, upper] = choices[i] ?? [true, true];
          const mayBeRaw = SAFE_RAW.includes(ch) || NON_ASCII.includes(ch);
          return encode || !mayBeRaw ? percentEncode(ch, upper) : ch;
        })
        .join(''),
    );
}

const dotSegment = fc.constantFrom('.', '%2e', '%2E');
const dotDot = fc.constantFrom('..', '%2e%2e', '%2E.', '.%2e');

/** Noise before a segment: "./", "//", or "<junk>/../" (which dot-segment removal undoes). */
const noise = fc.oneof(
  fc.constant([] as string[]),
  dotSegment.map((d) => [d]),
  fc.constant(['']), // an empty segment: a doubled slash
  fc.tuple(segment.chain(segmentSpelling), dotDot).map(([junk, up]) => [junk, up]),
);

interface Spelled {
  readonly target: string;
  readonly trailingSlash: boolean;
}

/** A request-target that normalizePath must read as `decoded`. */
function pathSpelling(decoded: readonly string[]): fc.Arbitrary<Spelled> {
  return fc
    .tuple(
      fc.tuple(...decoded.map((s) => fc.tuple(noise, segmentSpelling(s)))),
      noise,
      fc.boolean(),
      fc.option(fc.constantFrom('?a=1', '?x=%2e%2e/admin', '?', '#frag', '?q#f'), {
        nil: '',
      }),
    )
    .map(([parts, tailNoise, trailingSlash, suffix]) => {
      const raw: string[] = [];
      for (const [before, spelled] of parts) raw.push(...before, spelled);
      // Noise after the last segment leaves an empty or dot segment at the end: the path
      // then ends in a slash, which `segments` ignores.
      raw.push(...tailNoise);
      const body = raw.join('/');
      const slash = trailingSlash && raw.length > 0 ? '/' : '';
      return {
        target: `/${body}${slash}${suffix}`,
        trailingSlash: slash !== '' || tailNoise.length > 0,
      };
    });
}

describe('normalizePath properties', () => {
  it('is idempotent: normalizing its path again gives the same path and segments', () => {
    const pathish = fc
      .array(
        fc.oneof(
          fc.constantFrom('/', '.', '..', '%', '%2e', '%2F', '%25', '?', '#', ';', '\\', '~'),
          fc.constantFrom('a', 'B', '0', ' ', 'é', '%c3%a9', '%C3', '%zz', '%00', '\u0000'),
          fc.string({ maxLength: 3 }),
        ),
        { maxLength: 20 },
      )
      .map((parts) => `/${parts.join('')}`);
    fc.assert(
      fc.property(
        fc.oneof(
          pathish,
          segments.chain(pathSpelling).map((s) => s.target),
        ),
        (raw) => {
          const once = normalizePath(raw);
          if (!once.ok) return;
          const twice = normalizePath(once.path);
          expect(twice).toEqual({ ok: true, path: once.path, segments: once.segments, query: '' });
        },
      ),
      { numRuns: 1000 },
    );
  });

  /** Decoded segments with one to four spellings of the path they make. */
  const decodedWithSpellings = segments.chain((decoded) =>
    fc.tuple(fc.constant(decoded), fc.array(pathSpelling(decoded), { minLength: 1, maxLength: 4 })),
  );

  it('every spelling of a path yields the same segments and canonical path', () => {
    fc.assert(
      fc.property(decodedWithSpellings, ([decoded, spellings]) => {
        const plain = normalizePath(`/${decoded.map((s) => encodeURIComponent(s)).join('/')}`);
        if (!plain.ok) throw new Error(plain.reason);
        for (const { target, trailingSlash } of spellings) {
          const result = normalizePath(target);
          if (!result.ok) throw new Error(`${target}: ${result.reason}`);
          expect(result.segments).toEqual(decoded);
          const expected = trailingSlash && decoded.length > 0 ? `${plain.path}/` : plain.path;
          expect(result.path).toBe(expected);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('every spelling reaches the same route with the same parameters', () => {
    fc.assert(
      fc.property(decodedWithSpellings, ([decoded, spellings]) => {
        // The segments a template can spell as literals stay literals; the others become
        // parameters, whose values must come back decoded.
        const params: Record<string, string> = {};
        const template = `/${decoded
          .map((s, i) => {
            if (!NOT_IN_TEMPLATES.test(s)) return s;
            params[`p${i}`] = s;
            return `{p${i}}`;
          })
          .join('/')}`;
        const allParams = `/${decoded.map((_s, i) => `{q${i}}`).join('/')}`;
        const routes: Array<RouteSpec<string>> = [
          { value: 'exact', template, methods: ['GET'], hosts: [] },
        ];
        // A route of the same length with only parameters: literals must beat it.
        if (Object.keys(params).length < decoded.length) {
          routes.push({ value: 'params-only', template: allParams, methods: ['GET'], hosts: [] });
        }
        const table = RouteTable.build(routes);
        for (const { target } of spellings) {
          const result = normalizePath(target);
          if (!result.ok) throw new Error(`${target}: ${result.reason}`);
          const found = table.match(HOST, 'GET', result.segments);
          expect(found?.value, target).toBe('exact');
          expect({ ...found?.params }).toEqual(params);
        }
      }),
      { numRuns: 1000 },
    );
  });

  // normalizePath decides the common path in one scan (normalizePlainPath) and everything
  // else the long way: a shortcut that read a path differently would route it differently.
  it('the one-scan shortcut reads every request-target as the full normalization does', () => {
    const piece = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(..."abcXYZ019-_~!$&'()*+,;=:@".split('')) },
      { weight: 4, arbitrary: fc.constantFrom('/', '.', '..', '?', '#', '&', '=') },
      {
        weight: 1,
        arbitrary: fc.constantFrom('%', '%2e', '%2F', '%41', ' ', '"', '\\', 'é', '\u0000'),
      },
      { weight: 1, arbitrary: fc.constantFrom('\u007f', '\t', '\uD800', '//', '/./', '/../') },
      { weight: 1, arbitrary: fc.string({ maxLength: 3 }) },
    );
    const target = fc.oneof(
      fc.array(piece, { maxLength: 24 }).map((parts) => `/${parts.join('')}`),
      fc.array(piece, { maxLength: 6 }).map((parts) => parts.join('')),
      fc.constantFrom('', '/', '//', '/?', '/#', '/a/', '?a', 'a/b', `/${'a'.repeat(8192)}`),
    );
    fc.assert(
      fc.property(target, (raw) => {
        expect(normalizePath(raw)).toEqual(normalizeAnyPath(raw));
      }),
      { numRuns: 5000 },
    );
  });

  it('a query decodes the same whether or not a key or value has anything to decode', () => {
    // parseQuery skips decodeURIComponent for text without '%' or '+': the same text.
    const queryChar = fc.constantFrom(...'ab=&+%2041;?/é'.split(''), '%zz', '%C3%A9', '%2B');
    fc.assert(
      fc.property(fc.array(queryChar, { maxLength: 20 }), (chars) => {
        const query = chars.join('');
        const decodeAlways = (text: string): string => {
          try {
            return decodeURIComponent(text.replaceAll('+', ' '));
          } catch {
            return text;
          }
        };
        const expected = Object.create(null) as Record<string, string[]>;
        for (const pair of query.split('&')) {
          if (pair === '') continue;
          const eq = pair.indexOf('=');
          const key = decodeAlways(eq === -1 ? pair : pair.slice(0, eq));
          const value = eq === -1 ? '' : decodeAlways(pair.slice(eq + 1));
          (expected[key] ??= []).push(value);
        }
        expect(parseQuery(query)).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });
});
