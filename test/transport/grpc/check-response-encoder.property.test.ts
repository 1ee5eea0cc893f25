import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deny,
  type AllowDecision,
  type Decision,
  type DenyDecision,
  type HeaderList,
} from '../../../src/decision/decision.js';
import { DENY_CODES, type DenyCode } from '../../../src/decision/deny-codes.js';
import { encodeCheckResponse } from '../../../src/transport/grpc/check-response-encoder.js';
import { loadProtos } from '../../../src/transport/grpc/load-protos.js';
import { protoLoaderCheckResponse } from './proto-loader-check-response.js';

/**
 * The direct encoder against the path it replaced (the old mapper's plain message, then
 * proto-loader's fromObject + encode; proto-loader-check-response.ts) on the same Decision:
 * what Envoy decodes from the new bytes is exactly what it decoded from the old ones, and the
 * bytes themselves are the same. An encoder that said something else would change what
 * Envoy does with the request: an allow whose claim headers went missing or stayed
 * appendable, a deny with another status, headers or body.
 *
 * Strings are well-formed UTF-16 here; a lone surrogate is the one deliberate difference
 * (check-response-encoder.test.ts).
 */

const { Check } = loadProtos().authorization;
const DENY_CODE_LIST = Object.keys(DENY_CODES) as DenyCode[];

// ---- generators ----------------------------------------------------------------------------

/** Text as decisions carry it: ASCII, unicode (astral too), empty, long enough for 2-byte lengths. */
const text = fc
  .oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'grapheme', maxLength: 8 }),
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.string({ minLength: 120, maxLength: 300 }),
    fc.constantFrom('', ' ', 'é', '日本', '😀', '\u0000', '%E2%82%AC', 'a'.repeat(127)),
  )
  .filter(isWellFormed);

/** No lone surrogate (String.prototype.isWellFormed is ES2024, past this project's lib). */
function isWellFormed(value: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value);
}

/** Header names: odd characters, names that collide once lower-cased, prototype names. */
const headerName = fc.oneof(
  text,
  fc.constantFrom(
    'x-user-sub',
    'X-User-Sub',
    'X-USER-SUB',
    'x-group',
    'X-Group',
    'www-authenticate',
    'content-type',
    'İ',
    'i̇',
    '__proto__',
    'constructor',
    '',
  ),
);

/**
 * Long enough for every varint length a body or header can need: 2 bytes from 128, 3 from
 * 16,384 (fast-check's sizes alone stay short), and past the writer's 64 KiB scratch buffer.
 */
const longText = fc
  .tuple(fc.integer({ min: 100, max: 140_000 }), text)
  .map(([length, tail]) => `${'b'.repeat(length)}${tail}`);

const headers: fc.Arbitrary<HeaderList> = fc.array(
  fc.tuple(
    headerName,
    fc.oneof({ weight: 9, arbitrary: text }, { weight: 1, arbitrary: longText }),
  ),
  { maxLength: 6 },
);

/** JSON keys: anything, plus integer-like ones (ordered first by Object.entries) and __proto__. */
const jsonKey = fc.oneof(text, fc.constantFrom('__proto__', '0', '42', '4294967295', 'k', 'K'));

/** A JSON object as JSON.parse builds it: own properties only ("__proto__" stays a key). */
function objectOf(value: fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  return fc.array(fc.tuple(jsonKey, value), { maxLength: 5 }).map((entries) => {
    const object: Record<string, unknown> = {};
    for (const [key, entryValue] of entries) {
      Object.defineProperty(object, key, {
        value: entryValue,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return object;
  });
}

/** Every JSON shape, nested: null, booleans, numbers (-0, fractions, huge), strings, arrays, objects. */
const { json } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.constantFrom(-0, 0, 1e300, -1e-300, Number.MAX_SAFE_INTEGER),
    text,
    fc.array(tie('json'), { maxLength: 4 }),
    objectOf(tie('json')),
  ),
}));

const dynamicMetadata = fc.option(objectOf(json), { nil: undefined });

const allow: fc.Arbitrary<AllowDecision> = fc
  .record({
    upstreamHeaders: headers,
    // Removals that overlap the set headers in another case, and others.
    upstreamHeadersToRemove: fc.array(headerName, { maxLength: 5 }),
    responseHeaders: headers,
    queryParametersToSet: fc.option(fc.array(fc.tuple(text, text), { maxLength: 4 }), {
      nil: undefined,
    }),
    queryParametersToRemove: fc.option(fc.array(text, { maxLength: 4 }), { nil: undefined }),
    dynamicMetadata,
  })
  .map(({ queryParametersToSet, queryParametersToRemove, dynamicMetadata: metadata, ...rest }) => ({
    allowed: true as const,
    code: 'GH_OK' as const,
    api: { id: 'orders-get', service: 'orders' },
    revision: 'rev-1',
    ...rest,
    // Optional members absent rather than undefined, as the pipeline builds them.
    ...(queryParametersToSet === undefined ? {} : { queryParametersToSet }),
    ...(queryParametersToRemove === undefined ? {} : { queryParametersToRemove }),
    ...(metadata === undefined ? {} : { dynamicMetadata: metadata }),
  }));

/** Denies as deny() builds them: every code, with a policy's status, headers, body, metadata. */
const builtDeny: fc.Arbitrary<DenyDecision> = fc
  .record({
    code: fc.constantFrom(...DENY_CODE_LIST),
    realm: text,
    scopes: fc.option(fc.array(text, { maxLength: 3 }), { nil: undefined }),
    status: fc.option(fc.integer({ min: 400, max: 499 }), { nil: undefined }),
    headers: fc.option(headers, { nil: undefined }),
    body: fc.option(text, { nil: undefined }),
    dynamicMetadata,
  })
  .map(({ code, scopes, ...options }) =>
    deny(code, 'reason for the log only', {
      ...options,
      ...(scopes === undefined ? {} : { scopes }),
    }),
  );

/** Denies with any status an int32 holds (negative ones take 10 bytes) and any body. */
const rawDeny: fc.Arbitrary<DenyDecision> = fc.record({
  allowed: fc.constant(false as const),
  code: fc.constantFrom(...DENY_CODE_LIST),
  reason: text,
  status: fc.oneof(
    fc.integer({ min: 0, max: 999 }),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  ),
  headers,
  body: fc.oneof(text, longText),
  api: fc.constant(undefined),
  revision: fc.constant(undefined),
});

const decision: fc.Arbitrary<Decision> = fc.oneof(allow, builtDeny, rawDeny);

// ---- properties ----------------------------------------------------------------------------

describe('encodeCheckResponse against the proto-loader path it replaced', () => {
  it('every generated Decision decodes to exactly what the old bytes decode to', () => {
    fc.assert(
      fc.property(decision, (generated) => {
        const bytes = encodeCheckResponse(generated);
        const old = protoLoaderCheckResponse(generated);
        expect(Check.responseDeserialize(bytes)).toStrictEqual(Check.responseDeserialize(old));
      }),
      { numRuns: 1500 },
    );
  });

  it('every generated Decision is encoded to the old bytes, byte for byte', () => {
    fc.assert(
      fc.property(decision, (generated) => {
        expect(encodeCheckResponse(generated).toString('hex')).toBe(
          protoLoaderCheckResponse(generated).toString('hex'),
        );
      }),
      { numRuns: 1500 },
    );
  });

  it('a sequence of Decisions through the one reused writer: each encoded as if alone', () => {
    // The scratch buffer is reused and grows for large bodies: no call may see another's bytes.
    fc.assert(
      fc.property(fc.array(decision, { minLength: 2, maxLength: 6 }), (sequence) => {
        const encoded = sequence.map((each) => encodeCheckResponse(each));
        sequence.forEach((each, i) => {
          expect(encoded[i]?.equals(protoLoaderCheckResponse(each))).toBe(true);
        });
      }),
      { numRuns: 200 },
    );
  });
});
