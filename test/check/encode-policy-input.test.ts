import fc from 'fast-check';
import type { JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import type { CheckInput, PeerInfo } from '../../src/check/check-input.js';
import { encodePolicyInput } from '../../src/check/encode-policy-input.js';
import { buildPolicyInput, type PolicyInputParts } from '../../src/check/policy-input.js';
import type { ApiDefinition } from '../../src/routes/catalog.js';
import { checkInput } from './check-input-factory.js';

// Every UTF-16 code unit, so control characters, quotes, backslashes, U+2028/9 and lone
// surrogates (halves of a pair on their own) all come up, beside ordinary unicode text.
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
  fc.constantFrom(
    '',
    '\uD800',
    '\uDFFF',
    'a\uD83D',
    '\uDE00b',
    '"\\/\u2028\u2029\u0000\u001F\u007F',
  ),
);
const record = fc.dictionary(text, text, { maxKeys: 5 });
const peerInfo: fc.Arbitrary<PeerInfo> = fc.record(
  {
    address: fc.oneof(text, fc.constant('')),
    port: fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constant(Number.NaN)),
    principal: text,
    certificate: text,
  },
  { requiredKeys: [] },
);
const json: fc.Arbitrary<unknown> = fc.jsonValue();
const claims: fc.Arbitrary<JWTPayload | undefined> = fc.option(
  fc.dictionary(text, json, { maxKeys: 6 }),
  { nil: undefined },
);
const api: fc.Arbitrary<ApiDefinition | undefined> = fc.option(
  fc.record({ id: text, service: text, pathTemplate: text }).map((parts) => ({
    ...parts,
    methods: ['GET'],
    hosts: [],
    auth: {
      mode: 'optional',
      issuers: undefined,
      audiences: undefined,
      scopes: [],
      scopesMatch: 'all',
    },
    policies: [],
    claimsToHeaders: [],
  })),
  { nil: undefined },
);
const request: fc.Arbitrary<CheckInput> = fc
  .record({
    method: text,
    path: text,
    host: text,
    scheme: text,
    protocol: text,
    headers: record,
    requestId: text,
    body: fc.oneof(text, fc.constant('')),
    source: peerInfo,
    destination: peerInfo,
    contextExtensions: record,
  })
  .map((fields) => checkInput(fields));
const parts: fc.Arbitrary<PolicyInputParts> = fc.record({
  request,
  segments: fc.array(text, { maxLength: 5 }),
  query: fc.dictionary(text, fc.array(text, { maxLength: 3 }), { maxKeys: 4 }),
  api,
  params: record,
  claims,
});

function reference(input: PolicyInputParts): string {
  return JSON.stringify(buildPolicyInput(input));
}

describe('the policy input written directly as JSON', () => {
  it('is the same document as the built object, on requests carrying control characters, unicode and lone surrogates', () => {
    fc.assert(
      fc.property(parts, (input) => {
        const direct = encodePolicyInput(input);
        expect(JSON.parse(direct)).toStrictEqual(JSON.parse(reference(input)));
        // Same key order and escaping too: the text is byte for byte the old encoder's.
        expect(direct).toBe(reference(input));
      }),
      { numRuns: 1000 },
    );
  });

  it('gives a cached token the claims of that token, check after check', () => {
    const first: JWTPayload = { sub: 'alice', roles: ['reader'] };
    const second: JWTPayload = { sub: 'mallory\u2028', roles: ['admin'] };
    const base: PolicyInputParts = {
      request: checkInput(),
      segments: ['orders', '42'],
      query: {},
      api: undefined,
      params: {},
      claims: first,
    };
    for (const claimsNow of [first, second, first, undefined]) {
      const direct = JSON.parse(encodePolicyInput({ ...base, claims: claimsNow })) as {
        token: unknown;
      };
      expect(direct.token).toStrictEqual(claimsNow ?? null);
    }
  });

  // Header values are written without JSON.stringify when nothing in them needs escaping:
  // each character JSON escapes, alone in a value and a name, must still be escaped.
  it.each([
    ['a quote', '"'],
    ['a backslash', '\\'],
    ['NUL', '\u0000'],
    ['a control character', '\u001F'],
    ['a lone high surrogate', 'x\uD800'],
    ['a lone low surrogate', '\uDFFFx'],
    ['a surrogate pair', '\uD83D\uDE00'],
    ['U+2028 (not escaped by JSON.stringify)', '\u2028'],
    ['DEL (not escaped either)', '\u007F'],
  ])('a header carrying %s is written as JSON.stringify writes it', (_what, text) => {
    const base: PolicyInputParts = {
      request: checkInput({ headers: { authorization: `Bearer ${text}`, [`x-${text}`]: text } }),
      segments: [],
      query: {},
      api: undefined,
      params: {},
      claims: undefined,
    };
    expect(encodePolicyInput(base)).toBe(reference(base));
  });

  it('omits members the object leaves undefined (an adapter that sends no request id or context extensions)', () => {
    const input = {
      ...checkInput(),
      requestId: undefined,
      contextExtensions: undefined,
    } as unknown as CheckInput;
    const base: PolicyInputParts = {
      request: input,
      segments: [],
      query: {},
      api: undefined,
      params: {},
      claims: undefined,
    };
    expect(encodePolicyInput(base)).toBe(reference(base));
  });
});
