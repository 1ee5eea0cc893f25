import { pushInteger } from '../../../src/transport/h2/hpack-encoder.js';
import { HUFFMAN_CODES } from '../../../src/transport/h2/hpack-huffman.js';
import { STATIC_NAME_INDEX, STATIC_TABLE } from '../../../src/transport/h2/hpack-static-table.js';

/**
 * A test-side HPACK encoder that uses every representation RFC 7541 has (indexed, literal
 * with incremental indexing, without indexing, never indexed; Huffman or not), keeping its
 * own copy of the dynamic table: what a peer such as nghttp2 or grpc-go may send. The
 * server's encoder (src/transport/h2/hpack-encoder.ts) uses none of this.
 */

export interface FieldChoice {
  readonly indexing: 'incremental' | 'none' | 'never' | 'indexed-if-present';
  readonly huffman?: boolean;
}

export interface EncoderTable {
  limit: number;
  /** Newest first, as indexes 62, 63, ... name them. */
  entries: [string, string][];
}

export function huffmanEncode(text: string): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const octet of Buffer.from(text, 'latin1')) {
    const { code, bits: length } = HUFFMAN_CODES[octet] ?? { code: 0, bits: 0 };
    for (let i = length - 1; i >= 0; i--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** i) % 2);
      bits += 1;
      if (bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  // Pad with the most significant bits of EOS (all ones).
  if (bits > 0) out.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(out);
}

function string(out: number[], text: string, huffman: boolean): void {
  const bytes = huffman ? huffmanEncode(text) : Buffer.from(text, 'latin1');
  pushInteger(out, bytes.length, 7, huffman ? 0x80 : 0x00);
  out.push(...bytes);
}

function insert(table: EncoderTable, name: string, value: string): void {
  const size = name.length + value.length + 32;
  table.entries.unshift([name, value]);
  let total = table.entries.reduce((sum, [n, v]) => sum + n.length + v.length + 32, 0);
  while (total > table.limit && table.entries.length > 0) {
    const [n, v] = table.entries.pop() ?? ['', ''];
    total -= n.length + v.length + 32;
  }
  if (size > table.limit) table.entries.length = 0;
}

export function encodeFieldsVariously(
  fields: readonly (readonly [string, string])[],
  choices: readonly FieldChoice[],
  table: EncoderTable = { limit: 4096, entries: [] },
): Buffer {
  const out: number[] = [];
  fields.forEach(([name, value], i) => {
    const choice = choices[i] ?? { indexing: 'none' };
    const huffman = choice.huffman ?? false;
    if (choice.indexing === 'indexed-if-present') {
      const staticIndex = STATIC_TABLE.findIndex(
        ([n, v], at) => at > 0 && n === name && v === value,
      );
      const dynamicIndex = table.entries.findIndex(([n, v]) => n === name && v === value);
      if (staticIndex > 0) {
        pushInteger(out, staticIndex, 7, 0x80);
        return;
      }
      if (dynamicIndex >= 0) {
        pushInteger(out, 62 + dynamicIndex, 7, 0x80);
        return;
      }
    }
    const [prefixBits, flags] =
      choice.indexing === 'none' ? [4, 0x00] : choice.indexing === 'never' ? [4, 0x10] : [6, 0x40];
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex === undefined) {
      out.push(flags);
      string(out, name, huffman);
    } else {
      pushInteger(out, nameIndex, prefixBits, flags);
    }
    string(out, value, huffman);
    if (flags === 0x40) insert(table, name, value);
  });
  return Buffer.from(out);
}
