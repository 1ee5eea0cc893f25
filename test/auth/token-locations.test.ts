import { describe, expect, it } from 'vitest';
import { otherTokenLocation, type TokenCarrier } from '../../src/auth/token-locations.js';

// RFC 6750 section 2: one method per request. Only the extra locations are read here; the
// Authorization header is the caller's.

const FORM = 'application/x-www-form-urlencoded';

function request(overrides: Partial<TokenCarrier>): TokenCarrier {
  return { path: '/orders/42', body: '', headers: {}, ...overrides };
}

describe('otherTokenLocation', () => {
  it.each([
    ['/orders/42?access_token=eyJ.x.y', 'a plain access_token parameter'],
    ['/orders/42?expand=items&access_token=', 'an empty one, after another parameter'],
    ['/orders/42?access_token', 'a name without "="'],
    ['/orders/42?access%5Ftoken=t', 'the name percent-encoded (access%5Ftoken)'],
    ['/orders/42?access%5ftoken=t', 'lower-case hex'],
    ['/orders/42?%61ccess_token=t', 'another encoded letter'],
    ['/orders/42?a=1&&access_token=t#frag', 'after an empty pair, with a fragment'],
  ])('finds the query parameter in %s (%s)', (path) => {
    expect(otherTokenLocation(request({ path }))).toBe('query');
  });

  it.each([
    ['/orders/42', 'no query'],
    ['/orders/42?token=t&access_token_hint=x', 'other names'],
    ['/orders/42?x=access_token', 'the name as a value'],
    ['/orders/42#?access_token=t', 'only in the fragment, which is never sent (RFC 3986 3.5)'],
    ['/access_token/42', 'in the path'],
    ['/orders/42?access+token=t', '"+" is a space in a query name'],
  ])('finds none in %s (%s)', (path) => {
    expect(otherTokenLocation(request({ path }))).toBeUndefined();
  });

  it.each([
    [FORM, 'access_token=t&x=1'],
    [`${FORM}; charset=UTF-8`, 'x=1&access_token=t'],
    ['Application/X-WWW-Form-Urlencoded', 'access%5Ftoken=t'],
    [`text/plain, ${FORM}`, 'access_token=t'],
  ])('finds the form body parameter with Content-Type %s', (contentType, body) => {
    expect(otherTokenLocation(request({ body, headers: { 'content-type': contentType } }))).toBe(
      'body',
    );
  });

  it.each([
    ['application/json', '{"access_token":"t"}'],
    ['text/plain', 'access_token=t'],
    [undefined, 'access_token=t'],
    [FORM, 'x=1&y=access_token'],
    [FORM, ''],
  ])('finds none in a %s body %j', (contentType, body) => {
    const headers: Record<string, string> =
      contentType === undefined ? {} : { 'content-type': contentType };
    expect(otherTokenLocation(request({ body, headers }))).toBeUndefined();
  });
});
