import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allowHeaders, mergedAllowHeaders } from '../../src/check/allow-headers.js';
import { METHOD_OVERRIDE_HEADERS } from '../../src/check/method-override.js';
import { mergedQueryAndMetadata, queryAndMetadata } from '../../src/check/opa-envoy-mode.js';
import type { HeaderList } from '../../src/decision/decision.js';
import type { PolicyVerdict } from '../../src/policy/policy-result.js';

// allowHeaders and queryAndMetadata answer the common allow (at most one level sets
// headers, nothing else asked) without the general merge. A shortcut that answered
// differently would let a client's identity header through to the upstream (a removal
// dropped) or lose a policy's header: both are compared with the general merge on the
// same parts.

const name = fc.constantFrom(
  'x-user-sub',
  'X-User-Sub',
  'x-user-roles',
  'x-tenant',
  'x-http-method-override',
  ...METHOD_OVERRIDE_HEADERS,
);
const header = fc.tuple(name, fc.constantFrom('alice', 'a,b', '')) as fc.Arbitrary<
  readonly [string, string]
>;
/** Mostly empty, as on the common allow, sometimes not. */
const headerList: fc.Arbitrary<HeaderList> = fc.oneof(
  { weight: 3, arbitrary: fc.constant([]) },
  { weight: 1, arbitrary: fc.array(header, { maxLength: 4 }) },
);
const names = fc.oneof(
  { weight: 3, arbitrary: fc.constant([] as string[]) },
  {
    weight: 1,
    arbitrary: fc.array(
      name.map((n) => n.toLowerCase()),
      { maxLength: 4 },
    ),
  },
);

describe('the allow-headers shortcut', () => {
  it('removes and sets exactly what the general merge does, whatever the levels set', () => {
    // One identityHeaders array reused across runs, as a snapshot's is across checks (the
    // shortcut keeps its removal list per array), plus a fresh one per run.
    const snapshotIdentity = ['x-user-sub', 'x-user-roles', 'x-user-sub'];
    fc.assert(
      fc.property(
        fc.record({
          claimHeaders: headerList,
          levelHeaders: fc.array(headerList, { maxLength: 3 }),
          overrideHeaders: headerList,
          identityHeaders: fc.oneof(fc.constant(snapshotIdentity), names),
          policyRemovals: names,
        }),
        (parts) => {
          expect(allowHeaders(parts)).toEqual(mergedAllowHeaders(parts));
          // Asked twice on one identity list: the kept list answers the same.
          expect(allowHeaders(parts)).toEqual(mergedAllowHeaders(parts));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('an allow that sets nothing still strips every identity and method override header', () => {
    const parts = {
      claimHeaders: [],
      levelHeaders: [[], []],
      overrideHeaders: [],
      identityHeaders: ['x-user-sub'],
      policyRemovals: ['x-debug'],
    };
    expect(allowHeaders(parts)).toEqual({
      upstreamHeaders: [],
      upstreamHeadersToRemove: ['x-user-sub', ...METHOD_OVERRIDE_HEADERS, 'x-debug'],
    });
  });
});

describe('the query-and-metadata shortcut', () => {
  const verdict: fc.Arbitrary<PolicyVerdict> = fc.record({
    allowed: fc.constant(true),
    headers: fc.constant([]),
    responseHeadersToAdd: fc.constant([]),
    requestHeadersToRemove: fc.constant([]),
    httpStatus: fc.constant(undefined),
    body: fc.constant(undefined),
    queryParametersToSet: fc.oneof(
      { weight: 3, arbitrary: fc.constant([]) },
      {
        weight: 1,
        arbitrary: fc.array(
          fc.tuple(fc.constantFrom('a', 'b'), fc.constantFrom('1', '')) as fc.Arbitrary<
            readonly [string, string]
          >,
          { maxLength: 3 },
        ),
      },
    ),
    queryParametersToRemove: fc.oneof(
      { weight: 3, arbitrary: fc.constant([]) },
      { weight: 1, arbitrary: fc.array(fc.constantFrom('a', 'debug'), { maxLength: 3 }) },
    ),
    dynamicMetadata: fc.option(fc.dictionary(fc.constantFrom('k', 'j'), fc.jsonValue()), {
      nil: undefined,
      freq: 3,
    }),
  });

  it('asks the upstream for the same query changes and metadata as the general merge', () => {
    fc.assert(
      fc.property(fc.array(verdict, { maxLength: 4 }), (verdicts) => {
        expect(queryAndMetadata(verdicts)).toStrictEqual(mergedQueryAndMetadata(verdicts));
      }),
      { numRuns: 3000 },
    );
  });
});
