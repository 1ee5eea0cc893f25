import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  claimsToHeaders,
  encodeClaim,
  MAX_CLAIM_HEADER_BYTES,
} from '../../src/check/claims-to-headers.js';

// The one encoding of claim-derived header values (every transport sends these bytes):
// visible ASCII as is except "%", the rest percent-encoded UTF-8; what cannot be carried
// is refused, never dropped silently or sent raw.

function value(claim: unknown): string | undefined {
  const encoded = encodeClaim(claim);
  if (encoded.kind === 'unrepresentable') throw new Error(encoded.why);
  return encoded.kind === 'value' ? encoded.text : undefined;
}

function refused(claim: unknown): string {
  const encoded = encodeClaim(claim);
  if (encoded.kind !== 'unrepresentable') throw new Error(`accepted: ${JSON.stringify(encoded)}`);
  return encoded.why;
}

/** Well-formed text without control characters: what a claim may hold and still be sent. */
const sendableText = fc
  .string({ unit: 'grapheme', maxLength: 40 })
  .filter((text) => !/\p{Cc}/u.test(text));

describe('claim values that are not plain ASCII', () => {
  it('a non-ASCII name is percent-encoded as UTF-8 octets (RFC 3986 2.1)', () => {
    expect(value('José 李')).toBe('Jos%C3%A9%20%E6%9D%8E');
    expect(value('👩‍💻')).toBe('%F0%9F%91%A9%E2%80%8D%F0%9F%92%BB');
  });

  it('"%" is encoded too, so a claim that looks encoded is not decoded into something else', () => {
    expect(value('100%')).toBe('100%25');
    expect(value('%41')).toBe('%2541');
    expect(decodeURIComponent(value('%41') ?? '')).toBe('%41');
  });

  it('visible ASCII passes as is; a space is %20 (a proxy would trim it at the ends)', () => {
    expect(value('alice@example.com')).toBe('alice@example.com');
    expect(value(' padded ')).toBe('%20padded%20');
    expect(value('a+b=c;d,e')).toBe('a+b=c;d,e');
  });

  it('numbers and booleans are their JSON text', () => {
    expect(value(42)).toBe('42');
    expect(value(-1.5)).toBe('-1.5');
    expect(value(true)).toBe('true');
  });

  it('an array is its items joined with ",", a comma inside an item encoded as %2C', () => {
    expect(value(['reader', 'writer'])).toBe('reader,writer');
    const sent = value(['a,b', 'c', 'é']) ?? '';
    expect(sent).toBe('a%2Cb,c,%C3%A9');
    expect(sent.split(',').map(decodeURIComponent)).toEqual(['a,b', 'c', 'é']);
  });

  it('decoding always gives back the claim, and the value is always visible ASCII', () => {
    fc.assert(
      fc.property(sendableText, (text) => {
        const sent = value(text) ?? '';
        expect(sent).toMatch(/^[\x21-\x7e]*$/);
        expect(decodeURIComponent(sent)).toBe(text);
      }),
    );
  });

  it('an array of any sendable items splits and decodes back to its items', () => {
    fc.assert(
      fc.property(fc.array(sendableText, { minLength: 1, maxLength: 5 }), (items) => {
        const sent = value(items) ?? '';
        expect(sent).toMatch(/^[\x21-\x7e]*$/);
        expect(sent.split(',').map(decodeURIComponent)).toEqual(items);
      }),
    );
  });
});

describe('claim values that cannot be carried are refused', () => {
  it.each([
    ['CR LF (header injection)', 'a@example.com\r\nx-admin: true'],
    ['a NUL', 'alice\u0000'],
    ['a tab', 'alice\tbob'],
    ['DEL', 'alice\u007f'],
    ['a C1 control (NEL)', 'alice\u0085'],
  ])('%s', (_, claim) => {
    expect(refused(claim)).toBe('it contains a control character');
  });

  it('a lone surrogate (not well-formed Unicode, no UTF-8 for it)', () => {
    expect(refused('\ud800alice')).toMatch(/lone surrogate/);
  });

  it('an object, or an array holding an object, null or another array', () => {
    expect(refused({ id: 't-1' })).toMatch(/object/);
    expect(refused(['a', { b: 1 }])).toMatch(/object/);
    expect(refused(['a', null])).toMatch(/null/);
    expect(refused([['a']])).toMatch(/nested array/);
  });

  it(`a value over ${MAX_CLAIM_HEADER_BYTES} bytes once encoded`, () => {
    expect(value('a'.repeat(MAX_CLAIM_HEADER_BYTES))).toHaveLength(MAX_CLAIM_HEADER_BYTES);
    // 1366 x "é" is 2732 bytes of UTF-8, 8196 once percent-encoded.
    expect(refused('é'.repeat(1366))).toMatch(/longer than 4096 bytes/);
  });
});

describe('claimsToHeaders', () => {
  const mapping = [
    ['x-user-sub', 'sub'],
    ['x-tenant', 'tenant.id'],
    ['x-user-name', 'name'],
  ] as const;

  it('an absent or null claim sets no header; the others are encoded', () => {
    expect(claimsToHeaders(mapping, { sub: 'alice', name: 'Zoë', tenant: null })).toEqual({
      ok: true,
      headers: [
        ['x-user-sub', 'alice'],
        ['x-user-name', 'Zo%C3%AB'],
      ],
    });
  });

  it('no claims (auth mode none, or no token): no headers', () => {
    expect(claimsToHeaders(mapping, undefined)).toEqual({ ok: true, headers: [] });
  });

  it('one claim that cannot be carried refuses the whole set, naming header and claim, not the value', () => {
    const result = claimsToHeaders(mapping, { sub: 'alice', name: 'evil\r\nx-admin: 1' });
    expect(result.ok).toBe(false);
    if (result.ok) throw new Error('unreachable');
    expect(result.reason).toBe(
      'claim "name" cannot be sent as header x-user-name: it contains a control character',
    );
  });
});
