import { GatehouseError } from '../../errors/gatehouse-error.js';

/**
 * The HPACK Huffman code (RFC 7541 section 5.2 and Appendix B) and a decoder for it.
 *
 * The code is canonical: within each length, codes are consecutive in symbol order, and
 * each length's first code follows the previous length's last. So the code lengths alone
 * (Appendix B's "len" column) define it; the codes are rebuilt from them at load, and the
 * RFC's examples (Appendix C.4, C.6) are the test that the rebuild is the RFC's code.
 */

/** Code length in bits of symbols 0..255 (Appendix B, "len"); EOS (256) is 30 bits. */
// prettier-ignore
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0x00
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0x10
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 0x20 ' ' .. '/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 0x30 '0' .. '?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 0x40 '@' .. 'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 0x50 'P' .. '_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 0x60 '`' .. 'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 0x70 'p' .. 0x7f
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 0x80
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 0x90
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 0xa0
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 0xb0
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 0xc0
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 0xd0
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 0xe0
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 0xf0
  30, // 256: EOS
];

/** The end-of-string symbol: never valid inside a string (section 5.2). */
const EOS = 256;

/** Code of each symbol 0..256, right-aligned in `bits` bits. */
export const HUFFMAN_CODES: readonly { readonly code: number; readonly bits: number }[] = (() => {
  const order = CODE_LENGTHS.map((bits, symbol) => ({ bits, symbol })).sort(
    (a, b) => a.bits - b.bits || a.symbol - b.symbol,
  );
  const codes = new Array<{ code: number; bits: number }>(CODE_LENGTHS.length);
  let code = 0;
  let previousBits = order[0]?.bits ?? 0;
  for (const { bits, symbol } of order) {
    code *= 2 ** (bits - previousBits);
    previousBits = bits;
    codes[symbol] = { code, bits };
    code += 1;
  }
  return codes;
})();

/**
 * The decoder is a state machine over 4-bit nibbles: a state is an internal node of the code
 * tree (255 of them, the root is 0); for each state and nibble the table gives the next state
 * and the symbol completed on the way, if any (codes are at least 5 bits, so at most one per
 * nibble). One entry: next state in bits 0-7, symbol + 1 in bits 8-16 (0: none), bit 17 set
 * when the nibble completes EOS - an error. A string may end only in a state on the all-ones
 * path at most 7 bits deep: its padding must be the most significant bits of EOS (5.2).
 */
const FAILS = 1 << 17;
const { transitions, acceptsEnd } = buildDecoder();

function buildDecoder(): { transitions: Int32Array; acceptsEnd: Uint8Array } {
  // Tree nodes: children[2n], children[2n+1]; a child >= 0 is a node, < 0 is -(symbol + 1).
  const children: number[] = [0, 0];
  let nodes = 1;
  HUFFMAN_CODES.forEach(({ code, bits }, symbol) => {
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) % 2;
      const slot = 2 * node + bit;
      if (i === 0) {
        children[slot] = -(symbol + 1);
      } else {
        if (children[slot] === 0 || children[slot] === undefined) {
          children[slot] = nodes;
          children.push(0, 0);
          nodes += 1;
        }
        node = children[slot] ?? 0;
      }
    }
  });

  const transitions = new Int32Array(nodes * 16);
  for (let state = 0; state < nodes; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let emitted = 0;
      let fails = 0;
      for (let i = 3; i >= 0; i--) {
        const child = children[2 * node + ((nibble >> i) & 1)] ?? 0;
        if (child < 0) {
          const symbol = -child - 1;
          if (symbol === EOS) fails = FAILS;
          emitted = symbol + 1;
          node = 0;
        } else {
          node = child;
        }
      }
      transitions[state * 16 + nibble] = node | (emitted << 8) | fails;
    }
  }

  // The all-ones path: root, then the 1-child, up to 7 bits deep.
  const acceptsEnd = new Uint8Array(nodes);
  let node = 0;
  for (let depth = 0; depth <= 7; depth++) {
    acceptsEnd[node] = 1;
    const next = children[2 * node + 1] ?? 0;
    if (next <= 0) break;
    node = next;
  }
  return { transitions, acceptsEnd };
}

/** Thrown for a Huffman string that is not valid (EOS inside it, or bad padding). */
export class HuffmanError extends GatehouseError<'GH_HPACK_INVALID'> {
  constructor(message: string) {
    super('GH_HPACK_INVALID', message);
  }
}

/** Scratch output, grown when a longer string arrives; strings are copied out of it. */
let scratch = Buffer.allocUnsafe(256);

/**
 * Decodes `input[start, end)` as a Huffman-coded string literal, returning its octets as a
 * latin1 string (one char per octet, as the literal's non-Huffman form is read).
 */
export function decodeHuffman(input: Uint8Array, start: number, end: number): string {
  // 8 bits in decode to at most 8/5 symbols: 2 per octet bounds the output.
  const bound = 2 * (end - start);
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, 2 * scratch.length));
  const out = scratch;
  let length = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const octet = input[i] ?? 0;
    let entry = transitions[state * 16 + (octet >> 4)] ?? FAILS;
    if ((entry & FAILS) !== 0) throw new HuffmanError('EOS inside a Huffman string');
    if (entry >> 8 !== 0) out[length++] = (entry >> 8) - 1;
    state = entry & 0xff;
    entry = transitions[state * 16 + (octet & 0x0f)] ?? FAILS;
    if ((entry & FAILS) !== 0) throw new HuffmanError('EOS inside a Huffman string');
    if (entry >> 8 !== 0) out[length++] = (entry >> 8) - 1;
    state = entry & 0xff;
  }
  if (acceptsEnd[state] !== 1) {
    throw new HuffmanError('Huffman string padding is not a prefix of EOS of at most 7 bits');
  }
  return out.toString('latin1', 0, length);
}
