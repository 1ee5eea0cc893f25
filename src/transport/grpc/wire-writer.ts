/**
 * Protobuf wire-format writing for the direct encoders (check-response-encoder.ts), the
 * counterpart of wire-reader.ts: tags, varints, length-delimited strings and sub-messages,
 * doubles, and pre-encoded byte runs, into one scratch buffer reused from call to call.
 *
 * Values are written as protobufjs's BufferWriter writes them (uint32 varints, int32 as a
 * 10-byte varint when negative, doubles little-endian), so an encoder built on it can be
 * compared with protobufjs byte for byte. Strings are always written as well-formed UTF-8:
 * Buffer's encoder turns a lone surrogate into U+FFFD (protobufjs writes it as a CESU-8
 * triple when the string is under 40 UTF-16 units, which a proto3 parser refuses).
 * https://protobuf.dev/programming-guides/encoding/
 */

/** Wire types (encoding.md "Message Structure"). */
export const WireType = { VARINT: 0, I64: 1, LEN: 2 } as const;

/** Above this the scratch buffer is given back after the message, not kept for the next. */
const KEEP_BYTES = 64 * 1024;

export class WireWriter {
  private buf: Buffer = Buffer.allocUnsafe(KEEP_BYTES);
  private pos = 0;

  /** Starts a new message (whatever a previous one, finished or thrown out of, left). */
  reset(): void {
    this.pos = 0;
  }

  /** The message written since reset(), as a Buffer of its own. */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    if (this.buf.length > KEEP_BYTES) this.buf = Buffer.allocUnsafe(KEEP_BYTES);
    this.pos = 0;
    return out;
  }

  /** Bytes encoded once, ahead of time (a constant field or sub-message, tag included). */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  tag(field: number, wireType: number): void {
    this.ensure(5);
    this.varint((field << 3) | wireType);
  }

  /** A uint32/enum field. */
  uint32Field(field: number, value: number): void {
    this.ensure(10);
    this.varint((field << 3) | WireType.VARINT);
    this.varint(value >>> 0);
  }

  /** An int32 field: a negative value is sign-extended to 64 bits (10 bytes), as protobufjs. */
  int32Field(field: number, value: number): void {
    if (typeof value !== 'number') throw new TypeError(`field ${field}: not a number`);
    this.ensure(15);
    this.varint((field << 3) | WireType.VARINT);
    if (value >= 0) {
      this.varint(value >>> 0);
      return;
    }
    // Two's complement of a 32-bit value, sign-extended: the high word is all ones.
    let low = value >>> 0;
    let high = 0xffffffff;
    const buf = this.buf;
    while (high !== 0 || low > 127) {
      buf[this.pos++] = (low & 127) | 128;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buf[this.pos++] = low;
  }

  boolField(field: number, value: boolean): void {
    this.ensure(6);
    this.varint((field << 3) | WireType.VARINT);
    this.buf[this.pos++] = value ? 1 : 0;
  }

  doubleField(field: number, value: number): void {
    this.ensure(13);
    this.varint((field << 3) | WireType.I64);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /** A string field (written even when empty, as protobufjs writes a set field). */
  stringField(field: number, value: string): void {
    // The types promise a string; a value that is not one is a bug upstream, refused here
    // rather than written as whatever its length reads as.
    if (typeof value !== 'string') throw new TypeError(`field ${field}: not a string`);
    const length = value.length;
    // At most 3 bytes per UTF-16 unit (a surrogate pair is 4 bytes for 2 units).
    this.ensure(10 + 3 * length);
    this.varint((field << 3) | WireType.LEN);
    const buf = this.buf;
    let i = 0;
    // Most strings here (header names, codes, ASCII values) are short ASCII: copy them in
    // one loop and fall back to Buffer's UTF-8 encoder at the first other unit.
    if (length < 128) {
      let at = this.pos;
      buf[at++] = length;
      for (; i < length; i++) {
        const unit = value.charCodeAt(i);
        if (unit > 0x7f) break;
        buf[at++] = unit;
      }
      if (i === length) {
        this.pos = at;
        return;
      }
    }
    const bytes = Buffer.byteLength(value, 'utf8');
    this.varint(bytes);
    this.pos += buf.write(value, this.pos, bytes, 'utf8');
  }

  /**
   * Opens a length-delimited field (a sub-message, a map entry): writes the tag and
   * reserves one byte for the length. Returns what ldelim() needs to close it.
   */
  fork(field: number): number {
    this.ensure(6);
    this.varint((field << 3) | WireType.LEN);
    return this.pos++;
  }

  /** Closes the field fork() opened: writes its length, moving the body if it needs more than one byte. */
  ldelim(lengthAt: number): void {
    const start = lengthAt + 1;
    const length = this.pos - start;
    if (length < 128) {
      this.buf[lengthAt] = length;
      return;
    }
    const extra = varintSize(length) - 1;
    this.ensure(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    const end = this.pos + extra;
    this.pos = lengthAt;
    this.varint(length);
    this.pos = end;
  }

  /** Room for n more bytes; the caller writes them. */
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** An unsigned 32-bit varint; room was ensured. */
  private varint(value: number): void {
    const buf = this.buf;
    let at = this.pos;
    while (value > 127) {
      buf[at++] = (value & 127) | 128;
      value >>>= 7;
    }
    buf[at++] = value;
    this.pos = at;
  }
}

function varintSize(value: number): number {
  return value < 1 << 7 ? 1 : value < 1 << 14 ? 2 : value < 1 << 21 ? 3 : value < 1 << 28 ? 4 : 5;
}

/** Bytes written once with a fresh writer, for the constant parts of a message. */
export function preEncode(write: (w: WireWriter) => void): Buffer {
  const w = new WireWriter();
  write(w);
  return w.finish();
}
