import { describe, expect, it } from 'vitest';
import {
  parseIntrospectionBody,
  type ParsedIntrospection,
} from '../../../src/auth/introspection/introspection-response.js';

/* RFC 7662 section 2.2, member by member: table-driven, as the policy result parser is. */

const SECRET = 'token-value-that-must-not-leak';

const cases: readonly { body: string; expected: ParsedIntrospection['kind']; reason?: RegExp }[] = [
  { body: '{"active":false}', expected: 'inactive' },
  { body: '{"active":false,"exp":"x","scope":1}', expected: 'inactive' },
  { body: '{"active":true}', expected: 'active' },
  { body: '{"active":true,"exp":1700000000.5,"iat":0}', expected: 'active' },
  { body: '{"active":true,"aud":"a"}', expected: 'active' },
  { body: '{"active":true,"aud":["a","b"]}', expected: 'active' },
  { body: '{"active":true,"cnf":{"jkt":"abc"}}', expected: 'active' },
  { body: '{"active":true,"unknown_member":[1,{"x":null}]}', expected: 'active' },
  { body: '', expected: 'malformed', reason: /^the body is not JSON$/ },
  { body: `{"active":"${SECRET}"}`, expected: 'malformed', reason: /^"active" is a string/ },
  { body: 'null', expected: 'malformed', reason: /not a JSON object/ },
  { body: '"active"', expected: 'malformed', reason: /not a JSON object/ },
  { body: '[]', expected: 'malformed', reason: /not a JSON object/ },
  { body: '{}', expected: 'malformed', reason: /^"active" is missing$/ },
  { body: '{"active":null}', expected: 'malformed', reason: /^"active" is null/ },
  { body: '{"active":"false"}', expected: 'malformed', reason: /"active" is a string/ },
  { body: '{"active":true,"exp":"1"}', expected: 'malformed', reason: /^"exp" is a string/ },
  { body: '{"active":true,"nbf":true}', expected: 'malformed', reason: /^"nbf" is a boolean/ },
  { body: '{"active":true,"iat":-5}', expected: 'malformed', reason: /^"iat" is a negative/ },
  { body: '{"active":true,"exp":null}', expected: 'malformed', reason: /^"exp" is null/ },
  { body: '{"active":true,"scope":["a"]}', expected: 'malformed', reason: /^"scope" is an array/ },
  {
    body: '{"active":true,"client_id":7}',
    expected: 'malformed',
    reason: /^"client_id" is a number/,
  },
  {
    body: `{"active":true,"sub":{"id":"${SECRET}"}}`,
    expected: 'malformed',
    reason: /^"sub" is an object/,
  },
  { body: '{"active":true,"username":false}', expected: 'malformed', reason: /^"username"/ },
  { body: '{"active":true,"token_type":1}', expected: 'malformed', reason: /^"token_type"/ },
  { body: '{"active":true,"iss":[]}', expected: 'malformed', reason: /^"iss" is an array/ },
  { body: '{"active":true,"jti":1}', expected: 'malformed', reason: /^"jti"/ },
  {
    body: '{"active":true,"aud":["a",1]}',
    expected: 'malformed',
    reason: /^"aud" is an array, not/,
  },
  { body: '{"active":true,"aud":5}', expected: 'malformed', reason: /^"aud" is a number/ },
  { body: '{"active":true,"cnf":"jkt"}', expected: 'malformed', reason: /^"cnf" is a string/ },
  { body: '{"active":true,"cnf":[]}', expected: 'malformed', reason: /^"cnf" is an array/ },
];

describe('parseIntrospectionBody', () => {
  it.each(cases)('$body: $expected', ({ body, expected, reason }) => {
    const parsed = parseIntrospectionBody(body);
    expect(parsed.kind).toBe(expected);
    if (parsed.kind === 'malformed') {
      expect(parsed.reason).toMatch(reason ?? /./);
      // A reason names the member and its JSON type, never a value the server sent.
      expect(parsed.reason).not.toContain(SECRET);
    }
  });

  it('keeps members as sent and freezes them', () => {
    const parsed = parseIntrospectionBody('{"active":true,"ext":{"roles":["a"]},"exp":10}');
    expect(parsed).toEqual({
      kind: 'active',
      claims: { active: true, ext: { roles: ['a'] }, exp: 10 },
    });
    if (parsed.kind !== 'active') return;
    const ext = parsed.claims.ext as { roles: string[] };
    expect(() => ext.roles.push('b')).toThrow(TypeError);
  });
});
