import { STATIC_NAME_INDEX } from './hpack-static-table.js';

/**
 * The encoding half of HPACK (RFC 7541) as a server that answers with a few fixed header
 * sets needs it: no dynamic table and no Huffman code, so a block means the same on every
 * connection and can be encoded once at start-up. The peer's SETTINGS_HEADER_TABLE_SIZE then
 * only matters as section 4.2 asks: the connection prefixes its next block with
 * encodeTableSizeUpdate when the peer lowers it.
 */

/** `:status: 200` is static entry 8 (Appendix A): one octet, 6.1 Indexed Header Field. */
const STATUS_200 = 0x88;

/**
 * A header block of literal fields without indexing (6.2.2), each name indexed from the
 * static table where it is there (4-bit prefix), `:status: 200` as the static index 8.
 * Names and values are written as latin1 octets; callers pass lowercase names (RFC 9113
 * section 8.2.1) and values without CR, LF or NUL (8.2.1).
 */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const octets: number[] = [];
  for (const [name, value] of fields) {
    if (name === ':status' && value === '200') {
      octets.push(STATUS_200);
      continue;
    }
    const index = STATIC_NAME_INDEX.get(name);
    if (index === undefined) {
      octets.push(0x00);
      pushString(octets, name);
    } else {
      pushInteger(octets, index, 4, 0x00);
    }
    pushString(octets, value);
  }
  return Buffer.from(octets);
}

/** 6.3 Dynamic Table Size Update: 001xxxxx with a 5-bit prefix. */
export function encodeTableSizeUpdate(size: number): Buffer {
  const octets: number[] = [];
  pushInteger(octets, size, 5, 0x20);
  return Buffer.from(octets);
}

/**
 * 5.1: an integer with an N-bit prefix, the prefix octet's high bits set to `flags` (also the
 * tests' HPACK encoder's, test/transport/h2/hpack-test-encoder.ts).
 */
export function pushInteger(
  octets: number[],
  value: number,
  prefixBits: number,
  flags: number,
): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`HPACK integers are non-negative, got ${String(value)}`);
  }
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    octets.push(flags | value);
    return;
  }
  octets.push(flags | mask);
  let rest = value - mask;
  while (rest >= 0x80) {
    octets.push((rest % 0x80) + 0x80);
    rest = Math.floor(rest / 0x80);
  }
  octets.push(rest);
}

/** 5.2 without Huffman: H = 0, the length with a 7-bit prefix, the octets. */
function pushString(octets: number[], text: string): void {
  // A field carrying CR, LF or NUL is malformed (RFC 9113 section 8.2.1), and a char past
  // 0xff has no latin1 octet: refuse both rather than send something else.
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0 || code === 0x0a || code === 0x0d || code > 0xff) {
      throw new RangeError(`a header field may not carry ${JSON.stringify(text)}`);
    }
  }
  const bytes = Buffer.from(text, 'latin1');
  pushInteger(octets, bytes.length, 7, 0x00);
  for (const byte of bytes) octets.push(byte);
}
