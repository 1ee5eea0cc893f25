import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  base64urlProblem,
  compactJwsProblem,
  looksLikeCompactJws,
} from '../../src/auth/compact-jws.js';

// RFC 7515 section 2 / appendix C and RFC 4648 section 3.5: one spelling per octet string.

const BASE64URL_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const base64urlChar = fc.constantFrom(...BASE64URL_CHARS.split(''));

describe('base64urlProblem', () => {
  it('accepts what Buffer encodes, for any octets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(base64urlProblem(Buffer.from(bytes).toString('base64url'))).toBeUndefined();
      }),
    );
  });

  it('accepts a string exactly when it is the encoding of what it decodes to', () => {
    // The oracle: a lenient decoder (Buffer) followed by the canonical encoder gives the
    // string back only for the canonical spelling.
    const text = fc.oneof(
      fc.string({ unit: base64urlChar, maxLength: 40 }),
      fc.string({ unit: fc.constantFrom(...`${BASE64URL_CHARS}+/=.~ `.split('')), maxLength: 40 }),
      fc.string({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(text, (segment) => {
        const canonical = Buffer.from(segment, 'base64url').toString('base64url') === segment;
        expect(base64urlProblem(segment) === undefined).toBe(canonical);
      }),
      { numRuns: 2000 },
    );
  });

  it('re-encoded signature with non-zero trailing bits is refused', () => {
    // 1 octet: 2 characters, the last one carries 4 unused bits; "AA" is 0x00, "AB".."AP"
    // decode to 0x00 too in a lenient decoder.
    expect(base64urlProblem('AA')).toBeUndefined();
    for (const last of 'BCDEFGHIJKLMNOP') {
      expect(Buffer.from(`A${last}`, 'base64url')).toEqual(Buffer.from([0]));
      expect(base64urlProblem(`A${last}`)).toMatch(/non-zero unused bits/);
    }
    // 2 octets: 3 characters, 2 unused bits.
    expect(base64urlProblem('AAA')).toBeUndefined();
    for (const last of 'BCD') expect(base64urlProblem(`AA${last}`)).toMatch(/unused bits/);
  });

  it.each([
    ['padding', 'AA=='],
    ['one padding character', 'AAA='],
    ['plain base64 "+"', 'a+b_'],
    ['plain base64 "/"', 'a/b-'],
    ['a length of 1 mod 4', 'AAAAA'],
    ['whitespace', 'AA AA'],
    ['a non-ASCII letter', 'AAÀA'],
  ])('refuses %s', (_, segment) => {
    expect(base64urlProblem(segment)).toBeDefined();
  });
});

describe('compactJwsProblem', () => {
  const header = Buffer.from('{"alg":"RS256"}').toString('base64url');
  const payload = Buffer.from('{"sub":"alice"}').toString('base64url');

  it('names the part that is not canonical', () => {
    expect(compactJwsProblem(`${header}.${payload}.AA`)).toBeUndefined();
    expect(compactJwsProblem(`${header}=.${payload}.AA`)).toMatch(/^header: /);
    expect(compactJwsProblem(`${header}.${payload}==.AA`)).toMatch(/^payload: /);
    expect(compactJwsProblem(`${header}.${payload}.AB`)).toMatch(/^signature: /);
    expect(compactJwsProblem(`${header}.${payload}`)).toMatch(/three/);
    expect(compactJwsProblem(`${header}.${payload}.AA.AA`)).toMatch(/three/);
  });

  it('takes padded and base64 spellings as JWS-shaped, so they are verified (and refused)', () => {
    expect(looksLikeCompactJws(`${header}.${payload}.AA`)).toBe(true);
    expect(looksLikeCompactJws(`${header}=.${payload}.a+/A==`)).toBe(true);
    expect(looksLikeCompactJws('an-opaque-token')).toBe(false);
    expect(looksLikeCompactJws('a.b.c.d.e')).toBe(false);
    expect(looksLikeCompactJws('a~b.c.d')).toBe(false);
  });
});
