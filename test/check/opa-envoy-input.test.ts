import { describe, expect, it } from 'vitest';
import { buildOpaEnvoyInput } from '../../src/check/opa-envoy-input.js';
import { parsePathAndQuery } from '../../src/check/opa-envoy-url.js';
import { parsePolicyResult } from '../../src/policy/policy-result.js';
import { checkInput } from './check-input-factory.js';

// parsed_path / parsed_query as Go's net/url gives them to opa-envoy-plugin.
describe('parsed_path and parsed_query as opa-envoy-plugin reads them (Go net/url)', () => {
  it.each([
    ['/', [''], {}],
    ['/people', ['people'], {}],
    ['/people/', ['people', ''], {}],
    ['//people', [''], {}],
    ['///people', ['people'], {}],
    ['/a%20b/c%2Fd', ['a b', 'c', 'd'], {}],
    ['/a+b?q=a+b&q=%41', ['a+b'], { q: ['a b', 'A'] }],
    ['/x?a&b=&=c', ['x'], { a: [''], b: [''], '': ['c'] }],
    ['/x?a=1;b=2&c=3', ['x'], { c: ['3'] }],
    ['/x?bad=%zz&ok=1', ['x'], { ok: ['1'] }],
    ['/x#frag?no=1', ['x'], {}],
  ])('%s', (target, parsedPath, parsedQuery) => {
    expect(parsePathAndQuery(target)).toEqual({ ok: true, parsedPath, parsedQuery });
  });

  it.each(['/bad%zz', '/a\u0001b', '/x#%zz'])(
    '%s does not parse (opa-envoy fails the check)',
    (t) => {
      expect(parsePathAndQuery(t).ok).toBe(false);
    },
  );
});

describe('parsed_body and truncated_body', () => {
  const build = (headers: Record<string, string>, body: string) =>
    buildOpaEnvoyInput({
      request: checkInput({ method: 'POST', headers, body }),
      api: undefined,
      params: {},
      claims: undefined,
      skipRequestBodyParse: false,
    });

  it('a JSON body is parsed', () => {
    expect(build({ 'content-type': 'application/json' }, '{"a":[1]}')).toMatchObject({
      ok: true,
      document: { parsed_body: { a: [1] }, truncated_body: false },
    });
  });

  it('a form body is parsed to arrays of values', () => {
    expect(
      build({ 'content-type': 'application/x-www-form-urlencoded' }, 'a=1&a=2&b=x+y'),
    ).toMatchObject({ ok: true, document: { parsed_body: { a: ['1', '2'], b: ['x y'] } } });
  });

  it('x-envoy-auth-partial-body: true marks it truncated and leaves it unparsed', () => {
    expect(
      build({ 'content-type': 'application/json', 'x-envoy-auth-partial-body': 'true' }, '{"a"'),
    ).toMatchObject({ ok: true, document: { parsed_body: null, truncated_body: true } });
  });

  it('a body shorter than its Content-Length is truncated', () => {
    expect(
      build({ 'content-type': 'application/json', 'content-length': '99' }, '{}'),
    ).toMatchObject({ ok: true, document: { parsed_body: null, truncated_body: true } });
  });

  it('another content type is not parsed; a broken JSON body fails', () => {
    expect(build({ 'content-type': 'text/plain' }, 'hi')).toMatchObject({
      ok: true,
      document: { parsed_body: null, truncated_body: false },
    });
    expect(build({ 'content-type': 'application/json' }, '{').ok).toBe(false);
  });

  it('skipRequestBodyParse leaves both fields out; token and api are Gatehouse names', () => {
    const built = buildOpaEnvoyInput({
      request: checkInput({}),
      api: undefined,
      params: {},
      claims: undefined,
      skipRequestBodyParse: true,
    });
    expect(built.ok && Object.keys(built.document).sort()).toEqual([
      'api',
      'attributes',
      'parsed_path',
      'parsed_query',
      'token',
      'version',
    ]);
  });
});

describe('object results: the opa-envoy-plugin fields, strictly', () => {
  const parse = (result: unknown) => parsePolicyResult([{ result }]);

  it('query_parameters_to_set, query_parameters_to_remove, dynamic_metadata', () => {
    expect(
      parse({
        allowed: true,
        query_parameters_to_set: { a: '1', b: ['2', '3'] },
        query_parameters_to_remove: ['debug'],
        dynamic_metadata: { k: { n: 1 } },
        headers: [{ 'x-a': '1' }, { 'x-b': '2' }],
      }),
    ).toMatchObject({
      ok: true,
      verdict: {
        queryParametersToSet: [
          ['a', '1'],
          ['b', '2'],
          ['b', '3'],
        ],
        queryParametersToRemove: ['debug'],
        dynamicMetadata: { k: { n: 1 } },
        headers: [
          ['x-a', '1'],
          ['x-b', '2'],
        ],
      },
    });
  });

  it.each([
    { allowed: true, query_parameters_to_set: { a: 1 } },
    { allowed: true, query_parameters_to_set: ['a'] },
    { allowed: true, query_parameters_to_remove: 'debug' },
    { allowed: true, dynamic_metadata: ['x'] },
    { allowed: true, unknown_field: 1 },
  ])('an ill-typed or unknown field is an invalid result: %j', (result) => {
    expect(parse(result).ok).toBe(false);
  });
});
