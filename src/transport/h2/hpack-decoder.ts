import { GatehouseError } from '../../errors/gatehouse-error.js';
import { decodeHuffman, HuffmanError } from './hpack-huffman.js';
import { STATIC_TABLE, STATIC_TABLE_LAST } from './hpack-static-table.js';

/**
 * A header block that does not decode. On HTTP/2 it is a connection error of type
 * COMPRESSION_ERROR (RFC 9113 section 4.3): the decoder's state can no longer be trusted.
 */
export class HpackError extends GatehouseError<'GH_HPACK_INVALID'> {
  constructor(message: string) {
    super('GH_HPACK_INVALID', message);
  }
}

export interface DecodedHeaderBlock {
  /** name, value, name, value, ... in block order; names exactly as sent. */
  readonly fields: string[];
  /** RFC 9113 section 6.5.2 size of the decoded list: name + value octets + 32 per field. */
  readonly listBytes: number;
  /**
   * listBytes went past maxHeaderListBytes: fields stopped being collected, but the block was
   * decoded to its end so the dynamic table stays in step with the peer's encoder. The
   * stream must be refused; the connection can go on.
   */
  readonly overLimit: boolean;
}

export interface HpackDecoderOptions {
  /** The SETTINGS_HEADER_TABLE_SIZE this side advertises (RFC 7541 section 4.2). */
  readonly maxTableBytes: number;
  /** The SETTINGS_MAX_HEADER_LIST_SIZE this side advertises and enforces. */
  readonly maxHeaderListBytes: number;
}

/** Per-entry overhead counted in table and list sizes (RFC 7541 section 4.1). */
const ENTRY_OVERHEAD = 32;

/** Integers larger than this are refused: no field, index or size of ours comes close. */
const MAX_INTEGER = 2 ** 31 - 1;

/**
 * The decoding half of HPACK (RFC 7541) for one HTTP/2 connection: header blocks must be
 * passed in the order they arrive, because each may change the dynamic table the next one
 * refers to.
 */
export class HpackDecoder {
  /** The table size limit the peer set with a size update; at most maxTableBytes. */
  private tableLimit: number;
  private tableBytes = 0;
  /** Dynamic entries as a ring: newest at `head - 1`; names and values interleaved. */
  private ring: string[] = new Array<string>(64);
  private sizes: number[] = new Array<number>(32);
  private head = 0;
  private count = 0;

  private readonly maxTableBytes: number;
  private readonly maxHeaderListBytes: number;

  constructor(options: HpackDecoderOptions) {
    this.maxTableBytes = options.maxTableBytes;
    this.maxHeaderListBytes = options.maxHeaderListBytes;
    this.tableLimit = options.maxTableBytes;
  }

  /** Dynamic table size in bytes (section 4.1), for tests and diagnostics. */
  get dynamicTableBytes(): number {
    return this.tableBytes;
  }

  decode(block: Uint8Array): DecodedHeaderBlock {
    const fields: string[] = [];
    let listBytes = 0;
    let overLimit = false;
    let position = 0;
    let fieldSeen = false;
    const end = block.length;

    while (position < end) {
      const first = block[position] ?? 0;
      let name: string;
      let value: string;
      if (first >= 0x80) {
        // 6.1 Indexed Header Field: 1xxxxxxx.
        const index = this.readInteger(block, position, 7);
        position = this.next;
        if (index === 0) throw new HpackError('indexed header field with index 0');
        name = this.nameAt(index);
        value = this.valueAt(index);
      } else if (first >= 0x40) {
        // 6.2.1 Literal with Incremental Indexing: 01xxxxxx.
        position = this.readLiteral(block, position, 6);
        name = this.literalName;
        value = this.literalValue;
        this.insert(name, value);
      } else if (first >= 0x20) {
        // 6.3 Dynamic Table Size Update: 001xxxxx, only at the start of a block (4.2).
        if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
        const size = this.readInteger(block, position, 5);
        position = this.next;
        if (size > this.maxTableBytes) {
          throw new HpackError(
            `dynamic table size update to ${size} exceeds the advertised ${this.maxTableBytes}`,
          );
        }
        this.tableLimit = size;
        this.evictTo(size);
        continue;
      } else {
        // 6.2.2 Literal without Indexing (0000xxxx), 6.2.3 Never Indexed (0001xxxx).
        position = this.readLiteral(block, position, 4);
        name = this.literalName;
        value = this.literalValue;
      }
      fieldSeen = true;
      listBytes += name.length + value.length + ENTRY_OVERHEAD;
      if (!overLimit) {
        if (listBytes > this.maxHeaderListBytes) {
          overLimit = true;
          fields.length = 0;
        } else {
          fields.push(name, value);
        }
      }
    }
    return { fields, listBytes, overLimit };
  }

  /** Where the last readInteger/readString stopped. */
  private next = 0;
  /** What the last readLiteral read (fields, not a tuple: no allocation per field). */
  private literalName = '';
  private literalValue = '';

  /**
   * 6.2: a literal field: the name as an index with an N-bit prefix (0: a string follows),
   * then the value string. Returns where it stopped.
   */
  private readLiteral(block: Uint8Array, position: number, prefixBits: number): number {
    const index = this.readInteger(block, position, prefixBits);
    position = this.next;
    if (index === 0) {
      this.literalName = this.readString(block, position);
      position = this.next;
    } else {
      this.literalName = this.nameAt(index);
    }
    this.literalValue = this.readString(block, position);
    return this.next;
  }

  /** 5.1: an integer with an N-bit prefix starting at `position`. */
  private readInteger(block: Uint8Array, position: number, prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = (block[position] ?? 0) & mask;
    position += 1;
    if (value < mask) {
      this.next = position;
      return value;
    }
    let shift = 0;
    for (;;) {
      if (position >= block.length) throw new HpackError('header block ends inside an integer');
      const octet = block[position] ?? 0;
      position += 1;
      value += (octet & 0x7f) * 2 ** shift;
      if (value > MAX_INTEGER) throw new HpackError('integer too large in header block');
      if (octet < 0x80) break;
      shift += 7;
    }
    this.next = position;
    return value;
  }

  /** 5.2: a string literal (H bit, 7-bit prefix length, octets) as a latin1 string. */
  private readString(block: Uint8Array, position: number): string {
    if (position >= block.length) throw new HpackError('header block ends before a string');
    const huffman = ((block[position] ?? 0) & 0x80) !== 0;
    const length = this.readInteger(block, position, 7);
    const start = this.next;
    const stop = start + length;
    if (stop > block.length) throw new HpackError('string literal runs past the header block');
    this.next = stop;
    if (!huffman) return latin1(block, start, stop);
    try {
      return decodeHuffman(block, start, stop);
    } catch (error) {
      if (error instanceof HuffmanError) throw new HpackError(error.message);
      throw error;
    }
  }

  /** 2.3.3: 1..61 static, then dynamic newest first. */
  private nameAt(index: number): string {
    if (index <= STATIC_TABLE_LAST) return STATIC_TABLE[index]?.[0] ?? '';
    return this.ring[2 * this.slot(index)] ?? '';
  }

  private valueAt(index: number): string {
    if (index <= STATIC_TABLE_LAST) return STATIC_TABLE[index]?.[1] ?? '';
    return this.ring[2 * this.slot(index) + 1] ?? '';
  }

  private slot(index: number): number {
    const age = index - STATIC_TABLE_LAST - 1;
    if (age >= this.count) {
      throw new HpackError(`header index ${index} is past the dynamic table (${this.count})`);
    }
    const capacity = this.sizes.length;
    return (this.head - 1 - age + capacity) % capacity;
  }

  /** 4.4: entries larger than the table empty it and are not added. */
  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.tableLimit) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.tableLimit - size);
    if (this.count === this.sizes.length) this.grow();
    const capacity = this.sizes.length;
    this.ring[2 * this.head] = name;
    this.ring[2 * this.head + 1] = value;
    this.sizes[this.head] = size;
    this.head = (this.head + 1) % capacity;
    this.count += 1;
    this.tableBytes += size;
  }

  /** 4.3: evicts the oldest entries until the table holds at most `bytes`. */
  private evictTo(bytes: number): void {
    const capacity = this.sizes.length;
    while (this.tableBytes > bytes && this.count > 0) {
      const oldest = (this.head - this.count + capacity) % capacity;
      this.tableBytes -= this.sizes[oldest] ?? 0;
      this.ring[2 * oldest] = '';
      this.ring[2 * oldest + 1] = '';
      this.count -= 1;
    }
  }

  private grow(): void {
    const capacity = this.sizes.length;
    const ring = new Array<string>(4 * capacity);
    const sizes = new Array<number>(2 * capacity);
    for (let age = this.count - 1, i = 0; age >= 0; age--, i++) {
      const from = (this.head - 1 - age + capacity) % capacity;
      ring[2 * i] = this.ring[2 * from] ?? '';
      ring[2 * i + 1] = this.ring[2 * from + 1] ?? '';
      sizes[i] = this.sizes[from] ?? 0;
    }
    this.ring = ring;
    this.sizes = sizes;
    this.head = this.count;
  }
}

function latin1(block: Uint8Array, start: number, stop: number): string {
  return Buffer.from(block.buffer, block.byteOffset + start, stop - start).toString('latin1');
}
