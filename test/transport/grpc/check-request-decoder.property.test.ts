import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCheckRequest } from '../../../src/transport/grpc/check-request-decoder.js';
import { loadProtos } from '../../../src/transport/grpc/load-protos.js';
import type { ValueMessage } from '../../../src/transport/grpc/wire-types.js';
import { protoLoaderCheckInput } from './proto-loader-check-input.js';

/**
 * The direct decoder against the path it replaced (proto-loader's decode + toObject, then the
 * old mapper; proto-loader-check-input.ts) on the same wire bytes: every CheckRequest Envoy
 * can send decodes to the same CheckInput, and every mutation of one is either refused by
 * both or decoded to the same CheckInput by both. A faster decoder that decided differently
 * would be a bypass: the pipeline would authorize a request other than the one Envoy sent.
 */

const method = loadProtos().authorization.Check;

// ---- generators: CheckRequest objects as protobufjs encodes them ---------------------------

/** Text with what headers and metadata carry: ASCII, upper case, unicode, empty. */
const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.constantFrom('', 'A', 'a', 'Authorization', 'authorization', 'COOKIE', 'cookie', 'k'),
);

/** Keys that collide once lower-cased, pseudo-headers, prototype names, numbers, unicode. */
const key = fc.oneof(
  text,
  fc.constantFrom(
    ':authority',
    ':method',
    ':path',
    'host',
    'Host',
    'x-request-id',
    'cookie',
    'Cookie',
    '__proto__',
    'constructor',
    'toString',
    '0',
    '42',
    'K',
    'İ',
  ),
);

/** A proto map as an object with own properties only ("__proto__" stays a key). */
function mapOf<T>(value: fc.Arbitrary<T>, maxLength = 5): fc.Arbitrary<Record<string, T>> {
  return fc.array(fc.tuple(key, value), { maxLength }).map((entries) => {
    const object: Record<string, T> = {};
    for (const [name, entryValue] of entries) {
      Object.defineProperty(object, name, {
        value: entryValue,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return object;
  });
}

const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 12 }).map((array) => Buffer.from(array)),
  text.map((value) => Buffer.from(value, 'utf8')),
  // Invalid UTF-8: lone continuation bytes, a truncated sequence, an overlong form.
  fc.constantFrom(Buffer.from([0x80]), Buffer.from([0xe2, 0x82]), Buffer.from([0xc0, 0xaf])),
);

const double = fc.oneof(
  fc.double(),
  fc.constantFrom(Number.NaN, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e300),
  fc.integer(),
);

/**
 * google.protobuf.Value, with one member of `kind` set, or (as a sender may, and protobufjs
 * then picks one) several, or none.
 */
const { struct } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ nullValue: fc.constant(0) }),
    fc.record({ numberValue: double }),
    fc.record({ stringValue: text }),
    fc.record({ boolValue: fc.boolean() }),
    fc.record({ structValue: tie('struct') }),
    fc.record({ listValue: fc.record({ values: fc.array(tie('value'), { maxLength: 3 }) }) }),
    fc.record(
      {
        numberValue: double,
        stringValue: text,
        boolValue: fc.boolean(),
        nullValue: fc.constant(0),
      },
      { requiredKeys: [] },
    ),
  ),
  // letrec's ties are typed unknown; the records above are ValueMessage shapes.
  struct: fc.record({ fields: mapOf(tie('value') as fc.Arbitrary<ValueMessage>, 4) }),
}));

const metadata = fc.record(
  {
    filter_metadata: mapOf(struct, 3),
    typed_filter_metadata: mapOf(fc.record({ type_url: text, value: bytes }), 2),
  },
  { requiredKeys: [] },
);

const address = fc.oneof(
  fc.record({
    socket_address: fc.record(
      {
        protocol: fc.constantFrom(0, 1),
        address: fc.oneof(fc.ipV4(), fc.ipV6(), text),
        port_value: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 65535 })),
        resolver_name: text,
        ipv4_compat: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
  }),
  fc.record({
    socket_address: fc.record({ address: fc.ipV4(), named_port: text }),
  }),
  fc.record({ pipe: fc.record({ path: text, mode: fc.nat() }, { requiredKeys: [] }) }),
  fc.record({
    envoy_internal_address: fc.record(
      { server_listener_name: text, endpoint_id: text },
      { requiredKeys: [] },
    ),
  }),
  // Two members of the oneof at once: the socket address wins.
  fc.record({
    socket_address: fc.record({ address: fc.ipV4() }),
    pipe: fc.record({ path: text }),
  }),
);

const certificate = fc.oneof(
  fc.constant(''),
  fc
    .string({ maxLength: 40 })
    .map((body) =>
      encodeURIComponent(`-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`),
    ),
);

const peer = fc.record(
  {
    address,
    service: text,
    labels: mapOf(text),
    principal: fc.oneof(fc.constant('spiffe://cluster.local/ns/shop/sa/frontend'), text),
    certificate,
  },
  { requiredKeys: [] },
);

const httpRequest = fc.record(
  {
    id: text,
    method: fc.oneof(fc.constantFrom('GET', 'get', 'POST', 'Delete', ''), text),
    headers: mapOf(text, 8),
    header_map: fc.record({
      headers: fc.array(
        fc.record({ key, value: text, raw_value: bytes }, { requiredKeys: ['key'] }),
        { maxLength: 8 },
      ),
    }),
    path: fc.oneof(fc.constantFrom('/orders/42?expand=items', '/', ''), text),
    host: fc.oneof(fc.constantFrom('api.shop.example', 'api.shop.example:443'), text),
    scheme: fc.constantFrom('http', 'https', ''),
    query: text,
    fragment: text,
    size: fc.oneof(fc.constantFrom(-1, 0, 2 ** 40), fc.integer()),
    protocol: fc.constantFrom('HTTP/1.1', 'HTTP/2', 'HTTP/3', ''),
    body: fc.oneof(fc.constant(''), text, fc.json()),
    raw_body: bytes,
  },
  { requiredKeys: [] },
);

const attributes = fc.record(
  {
    source: peer,
    destination: peer,
    request: fc.record(
      {
        time: fc.record(
          {
            seconds: fc.oneof(fc.constant(1_767_225_600), fc.integer({ min: -1e10, max: 1e11 })),
            nanos: fc.oneof(fc.constantFrom(0, 125_000_000, 1000, 1), fc.integer()),
          },
          { requiredKeys: [] },
        ),
        http: httpRequest,
      },
      { requiredKeys: [] },
    ),
    context_extensions: mapOf(text),
    metadata_context: metadata,
    route_metadata_context: metadata,
    tls_session: fc.record({ sni: text }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

const checkRequest = fc.record({ attributes }, { requiredKeys: [] });

/**
 * Unknown fields (numbers protobuf has not given these messages), one of each wire type:
 * varint, fixed64, length-delimited, a group, fixed32.
 */
const unknownField = fc.oneof(
  fc.tuple(fc.integer({ min: 20, max: 2000 }), fc.nat()).map(([n, v]) => varintField(n, 0, v)),
  fc.integer({ min: 20, max: 2000 }).map((n) => Buffer.concat([tag(n, 1), Buffer.alloc(8, 7)])),
  fc
    .tuple(fc.integer({ min: 20, max: 2000 }), fc.uint8Array({ maxLength: 6 }))
    .map(([n, b]) => Buffer.concat([tag(n, 2), varint(b.length), Buffer.from(b)])),
  fc.integer({ min: 20, max: 2000 }).map((n) => Buffer.concat([tag(n, 3), tag(n, 4)])),
  fc.integer({ min: 20, max: 2000 }).map((n) => Buffer.concat([tag(n, 5), Buffer.alloc(4, 9)])),
);

function varint(value: number): Buffer {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return Buffer.from(out);
}

function tag(number: number, wireType: number): Buffer {
  return varint(number * 8 + wireType);
}

function varintField(number: number, wireType: number, value: number): Buffer {
  return Buffer.concat([tag(number, wireType), varint(value)]);
}

/**
 * Wire bytes: one encoded CheckRequest, or two concatenated (a repeated `attributes`, which
 * protobufjs lets the last one replace), with unknown fields around them.
 */
const wire = fc
  .tuple(
    fc.array(unknownField, { maxLength: 2 }),
    checkRequest,
    fc.option(checkRequest, { nil: undefined }),
    fc.array(unknownField, { maxLength: 2 }),
  )
  .map(([before, first, second, after]) =>
    Buffer.concat([
      ...before,
      method.requestSerialize(first),
      ...(second === undefined ? [] : [method.requestSerialize(second)]),
      ...after,
    ]),
  );

// ---- the comparison -------------------------------------------------------------------------

type Outcome = { readonly decoded: unknown } | { readonly refused: true };

function outcome(decode: () => unknown): Outcome {
  try {
    return { decoded: decode() };
  } catch {
    return { refused: true };
  }
}

/**
 * The same keys (undefined ones included), values (NaN for NaN, -0 for -0) and prototypes.
 * node:util's comparison, because vitest's toStrictEqual compares `.constructor`, which a
 * metadata key named "constructor" replaces; toEqual still prints the diff when they differ.
 */
function expectIdentical(direct: unknown, old: unknown): void {
  if (isDeepStrictEqual(direct, old)) return;
  expect(direct).toEqual(old);
  expect.fail('the two decodes differ in a key, a prototype or a -0');
}

function expectSameOutcome(bytes: Buffer): void {
  expectIdentical(
    outcome(() => decodeCheckRequest(bytes)),
    outcome(() => protoLoaderCheckInput(bytes)),
  );
}

/** A random edit of valid bytes: truncate, flip a byte, insert bytes, delete a range. */
const mutation = fc.oneof(
  fc.record({
    kind: fc.constant('truncate' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant('set' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    byte: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    length: fc.integer({ min: 1, max: 6 }),
  }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(bytes: Buffer, edit: Mutation): Buffer {
  const at = Math.min(bytes.length, Math.floor(edit.at * (bytes.length + 1)));
  switch (edit.kind) {
    case 'truncate':
      return bytes.subarray(0, at);
    case 'set': {
      const copy = Buffer.from(bytes);
      if (at < copy.length) copy[at] = edit.byte;
      return copy;
    }
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(edit.bytes), bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + edit.length)]);
  }
}

describe('decodeCheckRequest against the proto-loader path it replaced', () => {
  it('decodes every generated CheckRequest to the same CheckInput', () => {
    fc.assert(
      fc.property(wire, (bytes) => {
        expectIdentical(decodeCheckRequest(bytes), protoLoaderCheckInput(bytes));
      }),
      { numRuns: 600 },
    );
  });

  it('malformed bytes: refuses (fails closed) exactly where the old decoder refused, and maps the rest alike', () => {
    let refused = 0;
    let decoded = 0;
    fc.assert(
      fc.property(wire, fc.array(mutation, { minLength: 1, maxLength: 3 }), (bytes, edits) => {
        const mutated = edits.reduce(mutate, bytes);
        expectSameOutcome(mutated);
        if ('refused' in outcome(() => decodeCheckRequest(mutated))) refused++;
        else decoded++;
      }),
      { numRuns: 3000 },
    );
    // Both kinds occurred, so the property compared refusals and decodes, not only one.
    expect(refused).toBeGreaterThan(100);
    expect(decoded).toBeGreaterThan(100);
  });

  it('random garbage: the same refusals and decodes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (garbage) => {
        expectSameOutcome(Buffer.from(garbage));
      }),
      { numRuns: 3000 },
    );
  });

  // BufferReader.string() clamps a length that runs past its message to the message's end
  // instead of refusing it; bytes() refuses. Random edits rarely hit a length prefix, so each
  // string and bytes field the decoder skips or keeps gets one that runs past its message.
  it.each([
    ['http.query (skipped)', { request: { http: { query: 'abc' } } }],
    ['http.fragment (skipped)', { request: { http: { fragment: 'abc' } } }],
    ['http.path (kept)', { request: { http: { path: 'abc' } } }],
    ['http.raw_body (bytes)', { request: { http: { raw_body: Buffer.from('abc') } } }],
    [
      'socket_address.named_port (skipped)',
      { source: { address: { socket_address: { named_port: 'abc' } } } },
    ],
    [
      'socket_address.resolver_name (skipped)',
      { source: { address: { socket_address: { resolver_name: 'abc' } } } },
    ],
    [
      'envoy_internal_address.endpoint_id (skipped)',
      { source: { address: { envoy_internal_address: { endpoint_id: 'abc' } } } },
    ],
    [
      'typed_filter_metadata Any.value (skipped bytes)',
      {
        metadata_context: {
          typed_filter_metadata: { ns: { type_url: 't', value: Buffer.from('abc') } },
        },
      },
    ],
    ['tls_session.sni (kept)', { tls_session: { sni: 'abc' } }],
  ])('a length prefix past its message in %s: the same outcome', (_name, attributes) => {
    const bytes = Buffer.from(method.requestSerialize({ attributes }));
    // The field is the last one of every enclosing message: its length byte sits right
    // before its 3-byte value.
    const lengthAt = bytes.lastIndexOf(Buffer.from('abc')) - 1;
    expect(bytes[lengthAt]).toBe(3);
    for (const length of [4, 0x7f]) {
      const edited = Buffer.from(bytes);
      edited[lengthAt] = length;
      expectSameOutcome(edited);
    }
  });

  it("nesting past protobufjs's limit (Structs in Structs) is refused by both, short of it decoded by both", () => {
    // Hand-built: protobufjs's encoder refuses to build what its decoder would refuse.
    // CheckRequest > attributes > metadata_context > Struct > Value, then Struct > Value
    // pairs: depth 4 + 2 * pairs.
    const lengthDelimited = (number: number, body: Buffer): Buffer =>
      Buffer.concat([tag(number, 2), varint(body.length), body]);
    const nested = (pairs: number): Buffer => {
      let value = lengthDelimited(3, Buffer.from('leaf'));
      for (let i = 0; i < pairs; i++) {
        const entry = Buffer.concat([
          lengthDelimited(1, Buffer.from('k')),
          lengthDelimited(2, value),
        ]);
        value = lengthDelimited(5, lengthDelimited(1, entry));
      }
      const entry = Buffer.concat([
        lengthDelimited(1, Buffer.from('k')),
        lengthDelimited(2, value),
      ]);
      const namespace = Buffer.concat([
        lengthDelimited(1, Buffer.from('ns')),
        lengthDelimited(2, lengthDelimited(1, entry)),
      ]);
      return lengthDelimited(1, lengthDelimited(11, lengthDelimited(1, namespace)));
    };
    for (const pairs of [47, 48]) {
      expectSameOutcome(nested(pairs));
      expect(() => decodeCheckRequest(nested(pairs)), `${pairs} pairs`).not.toThrow();
    }
    for (const pairs of [49, 60]) {
      expectSameOutcome(nested(pairs));
      expect(() => decodeCheckRequest(nested(pairs)), `${pairs} pairs`).toThrow();
    }
  });
});
