import { enter, leave, readMapEntry, skipString, type WireReader } from './wire-reader.js';

/**
 * envoy.config.core.v3.Metadata and google.protobuf.Struct/Value/ListValue wire bytes ->
 * protojson, for the direct CheckRequest decoder (check-request-decoder.ts), with
 * protobufjs's decode + toObject rules (see there).
 */

/** Metadata.filter_metadata as protojson, or POISON (see readStruct). */
export type Metadata = Record<string, unknown> | typeof POISON;

/**
 * A converted Struct (or a Value, list or Metadata holding one) whose map had an entry
 * without a value: protobufjs decodes it to null and toObject then throws on it. The throw
 * happens only if the poisoned message survives to the final message, so it travels up as a
 * value until decodeCheckRequest sees what is left.
 */
export const POISON: unique symbol = Symbol('poisoned');
const MISSING: unique symbol = Symbol('missing');

/**
 * Metadata as protojson: `filterMetadata` holds each namespace's Struct as the JSON object
 * it stands for; {} when there is none. `typed_filter_metadata` (google.protobuf.Any) is read
 * and left out: its JSON form needs the packed type's descriptor, which Gatehouse lacks.
 */
export function readMetadata(r: WireReader, depth: number): Metadata {
  const parentEnd = enter(r, depth);
  let filters: Record<string, unknown> | undefined;
  let poisoned = false;
  let typed: Map<string, boolean> | undefined;
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1: {
        const { key, value } = readMapEntry<unknown>(r, depth, readStruct, MISSING);
        filters ??= {};
        define(filters, key, value);
        if (value === MISSING || value === POISON) poisoned = true;
        break;
      }
      case 2: {
        // typed_filter_metadata: map<string, google.protobuf.Any>; only whether each final
        // entry has a value matters (toObject throws on one without).
        const { key, value: present } = readMapEntry(r, depth, readAnyPresent, false);
        (typed ??= new Map()).set(key, present);
        break;
      }
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  if (poisoned && filters !== undefined && hasPoison(filters)) return POISON;
  if (typed !== undefined && [...typed.values()].includes(false)) return POISON;
  return filters === undefined ? {} : { filterMetadata: filters };
}

/** A map value that is an Any: read (and checked) for whether it is there, not kept. */
function readAnyPresent(r: WireReader, depth: number): boolean {
  readAny(r, depth);
  return true;
}

function readAny(r: WireReader, depth: number): void {
  const parentEnd = enter(r, depth);
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1: // type_url
        skipString(r);
        break;
      case 2: // value (bytes): bounds-checked like bytes()
        r.skip(r.uint32());
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
}

/** google.protobuf.Struct -> the JSON object it stands for (protojson), or POISON. */
function readStruct(r: WireReader, depth: number): Record<string, unknown> | typeof POISON {
  const parentEnd = enter(r, depth);
  const result: Record<string, unknown> = {};
  let poisoned = false;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 !== 1) {
      r.skipType(tag & 7, depth);
      continue;
    }
    const { key, value } = readMapEntry<unknown>(r, depth, readValue, MISSING);
    define(result, key, value);
    if (value === MISSING || value === POISON) poisoned = true;
  }
  leave(r, parentEnd);
  // A repeated key replaces its value, so only the final values decide.
  return poisoned && hasPoison(result) ? POISON : result;
}

const VALUE_NULL = 1;
const VALUE_NUMBER = 2;
const VALUE_STRING = 4;
const VALUE_BOOL = 8;
const VALUE_STRUCT = 16;
const VALUE_LIST = 32;

/**
 * google.protobuf.Value -> JSON. protobufjs's decoder does not clear the other members of the
 * `kind` oneof, and toObject names in `kind` the last set member in declaration order
 * (null, number, string, bool, struct, list), so that member is the value; every set member
 * is converted, so a poisoned one poisons the Value even when another is chosen.
 */
function readValue(r: WireReader, depth: number): unknown {
  const parentEnd = enter(r, depth);
  let set = 0;
  let number = 0;
  let text = '';
  let bool = false;
  let struct: unknown;
  let list: unknown;
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        r.int32();
        set |= VALUE_NULL;
        break;
      case 2:
        number = r.double();
        set |= VALUE_NUMBER;
        break;
      case 3:
        text = r.string();
        set |= VALUE_STRING;
        break;
      case 4:
        bool = r.bool();
        set |= VALUE_BOOL;
        break;
      case 5:
        struct = readStruct(r, depth + 1);
        set |= VALUE_STRUCT;
        break;
      case 6:
        list = readList(r, depth + 1);
        set |= VALUE_LIST;
        break;
      default:
        r.skipType(tag & 7, depth);
    }
  }
  leave(r, parentEnd);
  if ((set & VALUE_STRUCT) !== 0 && struct === POISON) return POISON;
  if ((set & VALUE_LIST) !== 0 && list === POISON) return POISON;
  if ((set & VALUE_LIST) !== 0) return list;
  if ((set & VALUE_STRUCT) !== 0) return struct;
  if ((set & VALUE_BOOL) !== 0) return bool;
  if ((set & VALUE_STRING) !== 0) return text;
  if ((set & VALUE_NUMBER) !== 0) return number;
  return null;
}

function readList(r: WireReader, depth: number): unknown[] | typeof POISON {
  const parentEnd = enter(r, depth);
  const values: unknown[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) values.push(readValue(r, depth + 1));
    else r.skipType(tag & 7, depth);
  }
  leave(r, parentEnd);
  return values.includes(POISON) ? POISON : values;
}

function hasPoison(object: Record<string, unknown>): boolean {
  return Object.values(object).some((value) => value === MISSING || value === POISON);
}

/** defineProperty: a key named "__proto__" stays a key (protobufjs keeps it one too). */
export function define(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}
