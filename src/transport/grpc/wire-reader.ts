import protobufjs from 'protobufjs';

/**
 * Framing for the direct decoders (check-request-decoder.ts): sub-messages, map entries and
 * scalar reads exactly as protobufjs's generated decoders do them, on protobufjs's own Reader,
 * so a direct decoder accepts and refuses the same bytes.
 */

const { Reader, util } = protobufjs;
export type WireReader = protobufjs.Reader;

/** A reader over the bytes: a BufferReader for a Buffer, as protobufjs's decode() makes. */
export function wireReader(bytes: Uint8Array): WireReader {
  return Reader.create(bytes);
}

/**
 * Enters a length-delimited sub-message: refuses one nested too deep or longer than what is
 * left of its parent, and narrows the reader to it. Returns the parent's end, for leave().
 */
export function enter(r: WireReader, depth: number): number {
  const length = r.uint32();
  if (depth > Reader.recursionLimit) throw new Error('maximum nesting depth exceeded');
  const end = r.pos + length;
  if (end > r.len) throw new RangeError('index out of range');
  const parentEnd = r.len;
  r.len = end;
  return parentEnd;
}

/** Leaves a sub-message or map entry: its last field must end exactly at its end. */
export function leave(r: WireReader, parentEnd: number): void {
  if (r.pos !== r.len) throw new RangeError('index out of range');
  r.len = parentEnd;
}

/** A map entry: like a sub-message, but without the nesting check. */
export function enterEntry(r: WireReader): number {
  const end = r.uint32() + r.pos;
  if (end > r.len) throw new RangeError('index out of range');
  const parentEnd = r.len;
  r.len = end;
  return parentEnd;
}

/**
 * A string field that is not kept: BufferReader.string() clamps a length past the end to
 * the end instead of refusing it, so this moves exactly as far without building the string.
 */
export function skipString(r: WireReader): void {
  const length = r.uint32();
  r.pos = Math.min(r.pos + length, r.len);
}

/** int64 as proto-loader's `longs: Number` converts it (LongBits.toNumber, signed). */
export function int64(r: WireReader): number {
  const value: { low: number; high: number } | number = r.int64();
  return typeof value === 'number'
    ? value
    : new util.LongBits(value.low >>> 0, value.high >>> 0).toNumber();
}

/**
 * One map<K, V> entry (key field 1, value field 2) as protobufjs decodes it: a repeated
 * field's last value wins, and an entry without a value field gets `missing`. Every map the
 * decoder reads (headers, labels, context extensions, metadata, Struct fields) goes
 * through here.
 */
export function readMapEntry<V>(
  r: WireReader,
  depth: number,
  readValue: (r: WireReader, depth: number) => V,
  missing: V,
): { readonly key: string; readonly value: V } {
  const parentEnd = enterEntry(r);
  let key = '';
  let value = missing;
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        key = r.string();
        break;
      case 2:
        value = readValue(r, depth + 1);
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  return { key, value };
}

const readString = (r: WireReader): string => r.string();

/** map<string, string>: the last value of a repeated key wins, as in protobufjs. */
export function readStringEntry(r: WireReader, depth: number, into: Map<string, string>): void {
  const { key, value } = readMapEntry(r, depth, readString, '');
  into.set(key, value);
}
