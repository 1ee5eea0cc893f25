import { describe, it, expect } from 'vitest';
import {
  MAX_REQUEST_TARGET_LENGTH,
  normalizePath,
  parseQuery,
} from '../../src/routes/normalize-path.js';

/** Accepted targets: [request-target, path, segments, query]. */
const accepted: [string, string, string[], string][] = [
  ['/', '/', [], ''],
  ['/orders', '/orders', ['orders'], ''],
  ['/orders/', '/orders/', ['orders'], ''],
  ['/orders/42', '/orders/42', ['orders', '42'], ''],
  ['/orders/42?expand=items', '/orders/42', ['orders', '42'], 'expand=items'],
  ['/a?b?c', '/a', ['a'], 'b?c'],
  ['/a?q=1#frag', '/a', ['a'], 'q=1'],
  ['/a#frag?not-a-query', '/a', ['a'], ''],
  ['/a#', '/a', ['a'], ''],
  ['/a?', '/a', ['a'], ''],
  ['/?x=1', '/', [], 'x=1'],
  // Query text is returned raw: what the path rules reject is data in a query.
  ['/a?p=%2F%5C%00%zz', '/a', ['a'], 'p=%2F%5C%00%zz'],
  // Repeated slashes are merged.
  ['//orders', '/orders', ['orders'], ''],
  ['/orders//42', '/orders/42', ['orders', '42'], ''],
  ['/orders//', '/orders/', ['orders'], ''],
  ['///', '/', [], ''],
  // RFC 3986 5.2.4 dot segments, including the examples of 5.4.1/5.4.2 shape.
  ['/a/./b', '/a/b', ['a', 'b'], ''],
  ['/a/b/../c', '/a/c', ['a', 'c'], ''],
  ['/a/b/..', '/a/', ['a'], ''],
  ['/a/b/.', '/a/b/', ['a', 'b'], ''],
  ['/a/b/../', '/a/', ['a'], ''],
  ['/..', '/', [], ''],
  ['/../../a', '/a', ['a'], ''],
  ['/.', '/', [], ''],
  ['/a/.../b', '/a/.../b', ['a', '...', 'b'], ''],
  ['/a/.b/..c', '/a/.b/..c', ['a', '.b', '..c'], ''],
  // Percent-decoding, once.
  ['/files/a%20b', '/files/a%20b', ['files', 'a b'], ''],
  ['/caf%C3%A9', '/caf%C3%A9', ['café'], ''],
  ['/caf%c3%a9', '/caf%C3%A9', ['café'], ''],
  ['/café', '/caf%C3%A9', ['café'], ''],
  ['/%F0%9F%98%80', '/%F0%9F%98%80', ['😀'], ''],
  ['/%7Euser', '/~user', ['~user'], ''],
  ['/a%3Fb', '/a%3Fb', ['a?b'], ''],
  ['/a%23b', '/a%23b', ['a#b'], ''],
  ['/a%25b', '/a%25b', ['a%b'], ''],
  ['/a;b=c:d@e', '/a;b=c:d@e', ['a;b=c:d@e'], ''],
  ['/a%3Bb', '/a;b', ['a;b'], ''],
  ['/a+b', '/a+b', ['a+b'], ''],
];

/** Rejected targets: [name, request-target, reason]. */
const rejected: [string, string, string][] = [
  ['empty', '', 'path does not start with "/"'],
  ['relative path', 'admin', 'path does not start with "/"'],
  ['absolute-form', 'http://evil.example/admin', 'path does not start with "/"'],
  ['asterisk-form', '*', 'path does not start with "/"'],
  ['query only', '?a=1', 'path does not start with "/"'],
  ['encoded slash upper', '/public%2Fadmin', 'encoded slash in path'],
  ['encoded slash lower', '/public%2fadmin', 'encoded slash in path'],
  ['encoded backslash', '/public%5Cadmin', 'encoded backslash in path'],
  ['encoded backslash lower', '/public%5cadmin', 'encoded backslash in path'],
  ['literal backslash', '/a\\b', 'backslash in path'],
  ['backslash dot-dot', '/public\\..\\admin', 'backslash in path'],
  ['raw NUL', '/admin\u0000', 'NUL in path'],
  ['encoded NUL', '/admin%00', 'encoded NUL in path'],
  ['encoded NUL before extension', '/admin%00.json', 'encoded NUL in path'],
  ['raw tab', '/a\tb', 'control character in path'],
  ['raw CR', '/a\rb', 'control character in path'],
  ['raw LF', '/a\nb', 'control character in path'],
  ['raw DEL', '/a\u007Fb', 'control character in path'],
  ['encoded CR', '/a%0Db', 'encoded control character in path'],
  ['encoded LF', '/a%0ab', 'encoded control character in path'],
  ['encoded unit separator', '/a%1Fb', 'encoded control character in path'],
  ['encoded DEL', '/a%7Fb', 'encoded control character in path'],
  ['raw control in query', '/a?x=\n', 'control character in query or fragment'],
  ['raw control in fragment', '/a#\u0000', 'control character in query or fragment'],
  ['truncated UTF-8 and percent', '/%E0%A4%A', 'invalid percent-encoding in path'],
  ['lone percent', '/a%', 'invalid percent-encoding in path'],
  ['percent one digit', '/a%4', 'invalid percent-encoding in path'],
  ['percent non-hex', '/a%zz', 'invalid percent-encoding in path'],
  ['percent sign-hex', '/a%+1', 'invalid percent-encoding in path'],
  ['truncated UTF-8 sequence', '/%E0%A4', 'invalid UTF-8 in path'],
  ['lone continuation byte', '/%80', 'invalid UTF-8 in path'],
  ['invalid lead byte', '/%FF', 'invalid UTF-8 in path'],
  // Overlong encodings of '.' and '/': the classic IIS/Tomcat traversal bypasses.
  ['overlong dot', '/public/%C0%AE%C0%AE/admin', 'invalid UTF-8 in path'],
  ['overlong slash', '/public%C0%AFadmin', 'invalid UTF-8 in path'],
  ['encoded UTF-16 surrogate', '/%ED%A0%80', 'invalid UTF-8 in path'],
  ['raw lone surrogate', '/a\uD800b', 'invalid UTF-8 in path'],
  ['tomcat ..; traversal', '/public/..;/admin', 'dot-segment with path parameters in path'],
  ['tomcat .; segment', '/public/.;x/admin', 'dot-segment with path parameters in path'],
  [
    'encoded ..; traversal',
    '/public/%2e%2e;jsessionid=1/admin',
    'dot-segment with path parameters in path',
  ],
];

describe('normalizePath', () => {
  it.each(accepted)('accepts %j', (target, path, segments, query) => {
    expect(normalizePath(target)).toEqual({ ok: true, path, segments, query });
  });

  it.each(rejected)('rejects %s', (_name, target, reason) => {
    expect(normalizePath(target)).toEqual({ ok: false, reason });
  });

  describe('known attacks', () => {
    it.each([
      ['//admin is a path, never a host', '//admin', '/admin', ['admin']],
      ['//admin//x', '//admin//x', '/admin/x', ['admin', 'x']],
      ['/public/../admin resolves to /admin', '/public/../admin', '/admin', ['admin']],
      ['/public/%2e%2e/admin resolves to /admin', '/public/%2e%2e/admin', '/admin', ['admin']],
      ['/public/%2E%2E/admin resolves to /admin', '/public/%2E%2E/admin', '/admin', ['admin']],
      ['/public/.%2e/admin resolves to /admin', '/public/.%2e/admin', '/admin', ['admin']],
      [
        '/public/%2e/admin drops the dot',
        '/public/%2e/admin',
        '/public/admin',
        ['public', 'admin'],
      ],
      [
        '../ above the root stays at root',
        '/../../../etc/passwd',
        '/etc/passwd',
        ['etc', 'passwd'],
      ],
    ])('%s', (_name, target, path, segments) => {
      expect(normalizePath(target)).toEqual({ ok: true, path, segments, query: '' });
    });

    it('decodes %252e%252e once, to the literal text %2e%2e, not to ..', () => {
      const result = normalizePath('/public/%252e%252e/admin');
      expect(result).toEqual({
        ok: true,
        path: '/public/%252e%252e/admin',
        segments: ['public', '%2e%2e', 'admin'],
        query: '',
      });
    });

    it('decodes %252F once, to the literal text %2F, not to a separator', () => {
      expect(normalizePath('/public%252Fadmin')).toEqual({
        ok: true,
        path: '/public%252Fadmin',
        segments: ['public%2Fadmin'],
        query: '',
      });
    });

    it('does not treat a fragment as part of the path', () => {
      expect(normalizePath('/public#/../admin')).toEqual({
        ok: true,
        path: '/public',
        segments: ['public'],
        query: '',
      });
    });

    it('does not resolve dot segments that sit in the query', () => {
      expect(normalizePath('/public?/../admin')).toEqual({
        ok: true,
        path: '/public',
        segments: ['public'],
        query: '/../admin',
      });
    });
  });

  describe('length limit', () => {
    it('accepts a request-target of exactly the limit', () => {
      const target = `/${'a'.repeat(MAX_REQUEST_TARGET_LENGTH - 1)}`;
      const result = normalizePath(target);
      expect(result.ok).toBe(true);
    });

    it('rejects a request-target one character over the limit', () => {
      const target = `/${'a'.repeat(MAX_REQUEST_TARGET_LENGTH)}`;
      expect(normalizePath(target)).toEqual({
        ok: false,
        reason: `request-target longer than ${MAX_REQUEST_TARGET_LENGTH} characters`,
      });
    });

    it('counts the query and fragment toward the limit', () => {
      const target = `/a?${'q'.repeat(MAX_REQUEST_TARGET_LENGTH)}`;
      expect(normalizePath(target).ok).toBe(false);
    });
  });

  it.each([
    ...accepted.map(([target]) => target),
    '/public/%252e%252e/admin',
    '/a%2525b',
    '/x/%E2%80%AE/y',
    '/%C2%85',
  ])('is idempotent on its own output: %j', (target) => {
    const first = normalizePath(target);
    if (!first.ok) throw new Error(`expected ${target} to be accepted: ${first.reason}`);
    const second = normalizePath(first.path);
    expect(second).toEqual({ ok: true, path: first.path, segments: first.segments, query: '' });
  });
});

describe('parseQuery', () => {
  it.each<[string, Record<string, string[]>]>([
    ['', {}],
    ['a=1', { a: ['1'] }],
    ['a=1&b=2', { a: ['1'], b: ['2'] }],
    ['a=1&a=2&a=3', { a: ['1', '2', '3'] }],
    ['a=1&b=2&a=3', { a: ['1', '3'], b: ['2'] }],
    ['flag', { flag: [''] }],
    ['flag&flag=x', { flag: ['', 'x'] }],
    ['a=', { a: [''] }],
    ['=v', { '': ['v'] }],
    ['a=b=c', { a: ['b=c'] }],
    ['a=1&&b=2&', { a: ['1'], b: ['2'] }],
    ['&', {}],
    ['q=hello+world', { q: ['hello world'] }],
    ['q=a%2Bb', { q: ['a+b'] }],
    ['q=a%20b', { q: ['a b'] }],
    ['first+name=Ada', { 'first name': ['Ada'] }],
    ['k%3D=v%26w', { 'k=': ['v&w'] }],
    ['city=K%C3%B6ln', { city: ['Köln'] }],
    ['a;b=1', { 'a;b': ['1'] }],
    ['path=%2F..%2Fadmin', { path: ['/../admin'] }],
  ])('parses %j', (query, expected) => {
    expect({ ...parseQuery(query) }).toEqual(expected);
  });

  it.each<[string, Record<string, string[]>]>([
    ['q=%zz', { q: ['%zz'] }],
    ['q=100%', { q: ['100%'] }],
    ['q=%E0%A4%A', { q: ['%E0%A4%A'] }],
    ['q=%FF', { q: ['%FF'] }],
    ['q=a+%zz', { q: ['a+%zz'] }],
    ['%zz=1&ok=a+b', { '%zz': ['1'], ok: ['a b'] }],
  ])('keeps invalid percent-encoding as sent, without throwing: %j', (query, expected) => {
    expect({ ...parseQuery(query) }).toEqual(expected);
  });

  it('treats __proto__ and constructor as ordinary keys (prototype pollution)', () => {
    const parsed = parseQuery('__proto__=x&constructor=y&toString=z');
    expect(Object.getPrototypeOf(parsed)).toBeNull();
    expect(parsed['__proto__']).toEqual(['x']);
    expect(parsed['constructor']).toEqual(['y']);
    expect(Object.entries(parsed)).toEqual([
      ['__proto__', ['x']],
      ['constructor', ['y']],
      ['toString', ['z']],
    ]);
  });

  it('works on the query normalizePath returns', () => {
    const result = normalizePath('/search?q=a+b&tag=x&tag=y#frag');
    if (!result.ok) throw new Error(result.reason);
    expect({ ...parseQuery(result.query) }).toEqual({ q: ['a b'], tag: ['x', 'y'] });
  });
});
