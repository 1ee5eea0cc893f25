import { describe, expect, it } from 'vitest';
import { readBearerCredential } from '../../../src/auth/bearer-credential.js';
import { readDpopCredential, readDpopProof } from '../../../src/auth/dpop/dpop-credential.js';

describe('readDpopCredential (RFC 9449 section 7.1)', () => {
  it.each([
    ['no header', undefined, { kind: 'none' }],
    ['the DPoP scheme', 'DPoP abc.def-ghi_~+/==', { kind: 'dpop', token: 'abc.def-ghi_~+/==' }],
    ['a lower-case scheme name', 'dpop abc', { kind: 'dpop', token: 'abc' }],
    ['several spaces', 'DPoP   abc  ', { kind: 'dpop', token: 'abc' }],
    ['the Bearer scheme', 'Bearer abc', { kind: 'none' }],
    ['a scheme that starts like DPoP', 'DPoPish abc', { kind: 'none' }],
    ['no token', 'DPoP', { kind: 'malformed', reason: 'DPoP credential is not a valid token68' }],
    ['two tokens', 'DPoP abc def', { kind: 'malformed', reason: expect.any(String) as unknown }],
    [
      'two Authorization headers',
      'DPoP abc,DPoP def',
      { kind: 'malformed', reason: 'more than one Authorization header or credential' },
    ],
    [
      'a non-token68 character',
      'DPoP ab"c',
      { kind: 'malformed', reason: expect.any(String) as unknown },
    ],
    [
      'padding in the middle',
      'DPoP ab=c',
      { kind: 'malformed', reason: expect.any(String) as unknown },
    ],
  ])('%s', (_name, authorization, expected) => {
    const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
    expect(readDpopCredential(headers)).toEqual(expected);
  });

  it('is invisible to the Bearer reader, and the other way round', () => {
    expect(readBearerCredential({ authorization: 'DPoP abc' })).toEqual({ kind: 'none' });
    expect(readDpopCredential({ authorization: 'Bearer abc' })).toEqual({ kind: 'none' });
  });
});

describe('readDpopProof (RFC 9449 section 4.3 check 1)', () => {
  it.each([
    ['no header', undefined, { kind: 'none' }],
    ['one proof', 'aaa.bbb.ccc', { kind: 'proof', proof: 'aaa.bbb.ccc' }],
    [
      'one proof with surrounding whitespace',
      ' aaa.bbb.ccc ',
      { kind: 'proof', proof: 'aaa.bbb.ccc' },
    ],
    [
      'an empty header',
      ' ',
      { kind: 'malformed', code: 'GH_DPOP_MALFORMED', reason: 'empty DPoP header' },
    ],
    [
      'two DPoP headers (joined with a comma)',
      'aaa.bbb.ccc,ddd.eee.fff',
      {
        kind: 'malformed',
        code: 'GH_DPOP_MULTIPLE_PROOFS',
        reason: 'more than one DPoP header or proof',
      },
    ],
    [
      'two proofs in one header',
      'aaa.bbb.ccc ddd.eee.fff',
      {
        kind: 'malformed',
        code: 'GH_DPOP_MULTIPLE_PROOFS',
        reason: 'more than one DPoP header or proof',
      },
    ],
  ])('%s', (_name, dpop, expected) => {
    const headers: Record<string, string> = dpop === undefined ? {} : { dpop };
    expect(readDpopProof(headers)).toEqual(expected);
  });
});
