import type { StructMessage, ValueMessage } from './wire-types.js';

/**
 * google.protobuf.Struct <-> JSON, in the plain-object form proto-loader decodes and encodes
 * (load-protos.ts options; protobufjs's built-in struct.proto names Value's fields in camelCase,
 * and the set oneof member is named in `kind`).
 * protojson maps a Struct to the JSON object it stands for
 * (https://protobuf.dev/programming-guides/json/), which is what a policy sees.
 */

/** Struct message -> JSON object. Anything that is not a Struct reads as {}. */
export function structToJson(struct: unknown): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  const fields = isObject(struct) ? (struct as StructMessage).fields : undefined;
  if (!isObject(fields)) return result;
  for (const [key, value] of Object.entries(fields)) {
    // defineProperty: a key named "__proto__" stays a key.
    Object.defineProperty(result, key, {
      value: valueToJson(value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return result;
}

function valueToJson(value: unknown): unknown {
  if (!isObject(value)) return null;
  const message = value as ValueMessage;
  switch (message.kind) {
    case 'numberValue':
      return message.numberValue ?? 0;
    case 'stringValue':
      return message.stringValue ?? '';
    case 'boolValue':
      return message.boolValue ?? false;
    case 'structValue':
      return structToJson(message.structValue);
    case 'listValue':
      return Array.isArray(message.listValue?.values)
        ? message.listValue.values.map(valueToJson)
        : [];
    default:
      return null;
  }
}

/** JSON object -> Struct message (numbers as doubles, as protobuf's Value holds them). */
export function jsonToStruct(object: Readonly<Record<string, unknown>>): StructMessage {
  const fields: Record<string, ValueMessage> = {};
  for (const [key, value] of Object.entries(object)) {
    Object.defineProperty(fields, key, {
      value: jsonToValue(value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { fields };
}

function jsonToValue(value: unknown): ValueMessage {
  if (value === null || value === undefined) return { nullValue: 0 };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(jsonToValue) } };
  if (typeof value === 'object') {
    return { structValue: jsonToStruct(value as Record<string, unknown>) };
  }
  return { nullValue: 0 };
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}
