import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HpackDecoder, HpackError } from '../../../src/transport/h2/hpack-decoder.js';
import {
  encodeHeaderBlock,
  encodeTableSizeUpdate,
} from '../../../src/transport/h2/hpack-encoder.js';
import { HUFFMAN_CODES } from '../../../src/transport/h2/hpack-huffman.js';
import { encodeFieldsVariously, huffmanEncode, type FieldChoice } from './hpack-test-encoder.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/gu, ''), 'hex');
const pairs = (fields: readonly string[]): [string, string][] => {
  const out: [string, string][] = [];
  for (let i = 0; i < fields.length; i += 2) out.push([fields[i] ?? '', fields[i + 1] ?? '']);
  return out;
};
const decoder = (maxTableBytes = 4096, maxHeaderListBytes = 65536): HpackDecoder =>
  new HpackDecoder({ maxTableBytes, maxHeaderListBytes });

// RFC 7541 Appendix C: the examples of header blocks and the dynamic table after each.
describe('HPACK decoder: the examples of RFC 7541 Appendix C', () => {
  it('C.2: each literal representation, with and without indexing', () => {
    const d = decoder();
    expect(
      pairs(
        d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')).fields,
      ),
    ).toEqual([['custom-key', 'custom-header']]);
    expect(d.dynamicTableBytes).toBe(55);
    const plain = decoder();
    expect(pairs(plain.decode(hex('040c 2f73 616d 706c 652f 7061 7468')).fields)).toEqual([
      [':path', '/sample/path'],
    ]);
    expect(plain.dynamicTableBytes).toBe(0);
    const never = decoder();
    expect(pairs(never.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')).fields)).toEqual([
      ['password', 'secret'],
    ]);
    expect(never.dynamicTableBytes).toBe(0);
    expect(pairs(decoder().decode(hex('82')).fields)).toEqual([[':method', 'GET']]);
  });

  const requests = [
    [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ],
    [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ],
    [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ],
  ];

  it('C.3: three requests on one connection without Huffman, referring back to the table', () => {
    const d = decoder();
    const blocks = [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ];
    const sizes = [57, 110, 164];
    blocks.forEach((block, i) => {
      expect(pairs(d.decode(hex(block)).fields)).toEqual(requests[i]);
      expect(d.dynamicTableBytes).toBe(sizes[i]);
    });
  });

  it('C.4: the same requests Huffman-coded', () => {
    const d = decoder();
    const blocks = [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ];
    blocks.forEach((block, i) => {
      expect(pairs(d.decode(hex(block)).fields)).toEqual(requests[i]);
    });
    expect(d.dynamicTableBytes).toBe(164);
  });

  it('C.6: Huffman-coded responses with a 256-octet table, evicting as they go', () => {
    const d = decoder(256);
    d.decode(encodeTableSizeUpdate(256));
    const first = d.decode(
      hex(`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
           2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`),
    );
    expect(pairs(first.fields)).toEqual([
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ]);
    expect(d.dynamicTableBytes).toBe(222);
    expect(pairs(d.decode(hex('4883 640e ffc1 c0bf')).fields)).toEqual([
      [':status', '307'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ]);
    expect(d.dynamicTableBytes).toBe(222);
    const third = d.decode(
      hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
           77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
           9587 3160 65c0 03ed 4ee5 b106 3d50 07`),
    );
    expect(pairs(third.fields)).toEqual([
      [':status', '200'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
      ['location', 'https://www.example.com'],
      ['content-encoding', 'gzip'],
      ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
    ]);
    expect(d.dynamicTableBytes).toBe(215);
  });

  it('the Huffman codes rebuilt from the lengths are Appendix B codes', () => {
    expect(HUFFMAN_CODES[0]).toEqual({ code: 0x1ff8, bits: 13 });
    expect(HUFFMAN_CODES[0x20]).toEqual({ code: 0x14, bits: 6 });
    expect(HUFFMAN_CODES[0x30]).toEqual({ code: 0x0, bits: 5 });
    expect(HUFFMAN_CODES[0x61]).toEqual({ code: 0x3, bits: 5 });
    expect(HUFFMAN_CODES[10]).toEqual({ code: 0x3ffffffc, bits: 30 });
    expect(HUFFMAN_CODES[255]).toEqual({ code: 0x3ffffee, bits: 26 });
    expect(HUFFMAN_CODES[256]).toEqual({ code: 0x3fffffff, bits: 30 });
  });
});

describe('HPACK decoder: blocks a peer must not send are COMPRESSION_ERROR (HpackError)', () => {
  const refuses = (block: Buffer, why: RegExp, d = decoder()): void => {
    expect(() => d.decode(block)).toThrow(HpackError);
    expect(() => decoder().decode(block)).toThrow(why);
  };

  it('an indexed field 0, or an index past the dynamic table', () => {
    refuses(hex('80'), /index 0/u);
    refuses(hex('be'), /past the dynamic table/u); // 62: the table is empty
  });

  it('a table size update above what was advertised, or after a field', () => {
    refuses(encodeTableSizeUpdate(4097), /exceeds the advertised 4096/u);
    refuses(Buffer.concat([hex('82'), encodeTableSizeUpdate(0)]), /after a header field/u);
  });

  it('a block cut inside an integer or a string, and an integer past 2^31', () => {
    refuses(hex('ff'), /inside an integer/u);
    refuses(hex('400a 6375 73'), /past the header block/u);
    refuses(hex('40'), /before a string/u);
    refuses(hex('ff ff ff ff ff 0f'), /too large/u);
  });

  it('a Huffman string with EOS inside it, with padding over 7 bits, or padding with a 0', () => {
    // EOS (30 ones) then 2 bits of padding: 32 bits of ones.
    refuses(hex('0084 ffffffff 00'), /EOS/u);
    // "0" is 00000; three 1-bits finish the octet, then a whole octet of padding.
    refuses(hex('0082 07ff 00'), /padding/u);
    // "0" then padding 110: not the start of EOS.
    refuses(hex('0081 06 00'), /padding/u);
  });

  it('a table emptied by a size update no longer resolves its entries', () => {
    const d = decoder();
    d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    expect(pairs(d.decode(hex('be')).fields)).toEqual([['custom-key', 'custom-header']]);
    expect(() => d.decode(Buffer.concat([encodeTableSizeUpdate(0), hex('be')]))).toThrow(
      /past the dynamic table/u,
    );
  });

  it('random octets either decode or throw HpackError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (octets) => {
        try {
          decoder().decode(octets);
        } catch (error) {
          expect(error).toBeInstanceOf(HpackError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('HPACK decoder: the header list limit (SETTINGS_MAX_HEADER_LIST_SIZE)', () => {
  it('stops collecting past the limit but keeps the table in step for the next block', () => {
    const d = decoder(4096, 100);
    const big = 'x'.repeat(80);
    // Two fields inserted into the table: 10 + 80 + 32 = 122 > 100 already on the first.
    const block = encodeFieldsVariously(
      [
        ['first', big],
        ['second', 'small'],
      ],
      [{ indexing: 'incremental' }, { indexing: 'incremental' }],
    );
    const decoded = d.decode(block);
    expect(decoded.overLimit).toBe(true);
    expect(decoded.fields).toEqual([]);
    expect(decoded.listBytes).toBe(5 + 80 + 32 + 6 + 5 + 32);
    // 62 is the newest entry ("second"), 63 the one before: both were inserted.
    expect(pairs(d.decode(hex('be')).fields)).toEqual([['second', 'small']]);
    expect(d.decode(hex('bf')).overLimit).toBe(true);
  });

  it('one small indexed reference to a big entry, repeated, cannot decode past the limit', () => {
    const d = decoder(4096, 8192);
    d.decode(encodeFieldsVariously([['bomb', 'y'.repeat(3000)]], [{ indexing: 'incremental' }]));
    const decoded = d.decode(Buffer.alloc(1000, 0xbe));
    expect(decoded.overLimit).toBe(true);
    expect(decoded.fields).toEqual([]);
  });
});

describe('HPACK: what this encoder writes, any HPACK decoder reads back', () => {
  const latin1Text = fc
    .array(fc.integer({ min: 0x20, max: 0xff }), { maxLength: 40 })
    .map((codes) => String.fromCharCode(...codes));
  const name = fc.stringMatching(/^[a-z0-9-]{1,20}$/u);
  const field = fc.tuple(
    fc.oneof(name, fc.constantFrom(':status', 'content-type', 'grpc-status', 'date')),
    latin1Text,
  );

  it('encodeHeaderBlock round-trips through the decoder', () => {
    fc.assert(
      fc.property(fc.array(field, { maxLength: 12 }), (fields) => {
        const decoded = decoder().decode(encodeHeaderBlock(fields));
        expect(pairs(decoded.fields)).toEqual(fields);
      }),
    );
  });

  it('refuses values a header may not carry (CR, LF, NUL, past latin1)', () => {
    for (const value of ['a\r\nb', 'a\nb', 'nul\0', 'snow\u2603']) {
      expect(() => encodeHeaderBlock([['grpc-message', value]])).toThrow(RangeError);
    }
  });

  it('blocks using every representation, Huffman and the dynamic table decode as sent', () => {
    const choice: fc.Arbitrary<FieldChoice> = fc.record({
      indexing: fc.constantFrom('incremental', 'none', 'never', 'indexed-if-present'),
      huffman: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }),
        fc.array(fc.array(fc.tuple(field, choice), { maxLength: 10 }), { maxLength: 8 }),
        (tableBytes, blocks) => {
          const d = decoder();
          const encoderTable = { limit: 4096, entries: [] as [string, string][] };
          blocks.forEach((block, i) => {
            const fields = block.map(([f]) => f);
            const prefix = i === 0 ? [encodeTableSizeUpdate(tableBytes)] : ([] as Buffer[]);
            if (i === 0) encoderTable.limit = tableBytes;
            const encoded = Buffer.concat([
              ...prefix,
              encodeFieldsVariously(
                fields,
                block.map(([, c]) => c),
                encoderTable,
              ),
            ]);
            expect(pairs(d.decode(encoded).fields)).toEqual(fields);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the test encoder Huffman-codes as RFC 7541 C.4.1 does', () => {
    expect(huffmanEncode('www.example.com').toString('hex')).toBe('f1e3c2e5f23a6ba0ab90f4ff');
  });
});
