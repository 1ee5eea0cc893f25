import { describe, expect, it } from 'vitest';
import {
  canonicalJsonFromText,
  canonicalJsonFromValue,
  CanonicalJsonError,
} from '../../../src/sync/bundle/canonical-json.js';
import { fileDigest, signedBytes } from '../../../src/sync/bundle/file-digest.js';

describe('canonicalJsonFromText (what OPA hashes for structured files)', () => {
  const table: Array<[string, string, string]> = [
    ['whitespace goes', ' { "a" : [ 1 , 2 ] } \n', '{"a":[1,2]}'],
    ['keys sort, nested too', '{"b":{"y":1,"x":2},"a":0}', '{"a":0,"b":{"x":2,"y":1}}'],
    [
      'keys sort by UTF-8 bytes',
      '{"é":1,"z":2,"Z":3,"😀":4,"\uffff":5}',
      '{"Z":3,"z":2,"é":1,"\uffff":5,"😀":4}',
    ],
    ['arrays keep their order', '[3,1,2]', '[3,1,2]'],
    [
      'number literals stay as written',
      '[1.50,1E3,-0,1e-7,12345678901234567890]',
      '[1.50,1E3,-0,1e-7,12345678901234567890]',
    ],
    ['a repeated key keeps its last value', '{"a":1,"a":2}', '{"a":2}'],
    ['HTML characters are not escaped', '"<&>"', '"<&>"'],
    ['"/" loses its escape', '"a\\/b"', '"a/b"'],
    ['short escapes', '"\\u0008\\u000c\\n\\r\\t\\"\\\\"', '"\\b\\f\\n\\r\\t\\"\\\\"'],
    ['other control characters as \\u00xx', '"\\u0001\\u001f"', '"\\u0001\\u001f"'],
    ['DEL is not escaped', '"\\u007f"', '"\u007f"'],
    ['U+2028 and U+2029 are escaped', '"\u2028\\u2029"', '"\\u2028\\u2029"'],
    ['non-ASCII escapes are written as is', '"\\u00e9\\ud83d\\ude00"', '"é😀"'],
    ['a lone surrogate becomes U+FFFD', '"a\\ud800b\\udc00"', '"a\uFFFDb\uFFFD"'],
    ['a byte order mark is dropped', '\uFEFF{"a":true}', '{"a":true}'],
    ['literals', '[true,false,null]', '[true,false,null]'],
    ['empty containers', '{"a":{},"b":[]}', '{"a":{},"b":[]}'],
  ];
  for (const [name, input, expected] of table) {
    it(name, () => {
      expect(canonicalJsonFromText(input)).toBe(expected);
    });
  }

  const invalid: Array<[string, string]> = [
    ['trailing comma', '[1,]'],
    ['single quotes', "{'a':1}"],
    ['leading zero', '01'],
    ['bare dot', '1.'],
    ['plus sign', '+1'],
    ['comment', '{"a":1 /* x */}'],
    ['raw control character in a string', '"a\nb"'],
    ['bad escape', '"\\x41"'],
    ['short \\u escape', '"\\u12"'],
    ['two values', '{} {}'],
    ['nothing', ''],
    ['unterminated string', '"abc'],
    ['NaN', 'NaN'],
  ];
  for (const [name, input] of invalid) {
    it(`refuses: ${name}`, () => {
      expect(() => canonicalJsonFromText(input)).toThrow(CanonicalJsonError);
    });
  }

  it('refuses nesting deeper than 1000 levels without overflowing the stack', () => {
    expect(() => canonicalJsonFromText('['.repeat(100_000))).toThrow(/nested too deeply/);
  });
});

describe('canonicalJsonFromValue (YAML documents)', () => {
  it('writes numbers as Go writes float64 and sorts keys', () => {
    expect(canonicalJsonFromValue({ b: 1.0, a: [1e21, 0.1, 1e-7], c: 'yes' })).toBe(
      '{"a":[1e+21,0.1,1e-7],"b":1,"c":"yes"}',
    );
  });

  it('refuses values JSON cannot hold', () => {
    expect(() => canonicalJsonFromValue(Number.NaN)).toThrow(CanonicalJsonError);
    expect(() => canonicalJsonFromValue(new Date(0))).toThrow(/a Date is not a JSON value/);
    expect(() => canonicalJsonFromValue(() => 1)).toThrow(/a function is not a JSON value/);
  });
});

describe('file digests', () => {
  it('hashes structured files parsed, every other file as raw bytes', () => {
    const messy = Buffer.from('{ "b": 1, "a": 2 }');
    expect(signedBytes('orders/data.json', messy).toString()).toBe('{"a":2,"b":1}');
    expect(signedBytes('.manifest', messy).toString()).toBe('{"a":2,"b":1}');
    expect(signedBytes('users/data.yaml', Buffer.from('b: 1\na: 2\n')).toString()).toBe(
      '{"a":2,"b":1}',
    );
    expect(signedBytes('users/data.yml', Buffer.from('a: 2\n')).toString()).toBe('{"a":2}');
    expect(signedBytes('catalog.json', messy)).toBe(messy);
    expect(signedBytes('policy.rego', messy)).toBe(messy);
  });

  it('refuses the weak hash algorithms MD5 and SHA-1, and unknown ones', () => {
    for (const algorithm of ['MD5', 'SHA-1', 'sha256', 'CRC32']) {
      expect(() => fileDigest('p.rego', Buffer.from('x'), algorithm)).toThrow(
        /hashing algorithm .* is not accepted/,
      );
    }
    expect(fileDigest('p.rego', Buffer.from('x'), 'SHA-512-256')).toMatch(/^[0-9a-f]{64}$/);
  });
});
