import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { HostBuiltin } from '../opa-wasm-abi.js';

/**
 * OPA's string and encoding builtins that the WebAssembly target leaves to the host, with
 * the semantics the OPA policy reference documents (Go's formatting and URL escaping).
 */
export function encodingBuiltins(): Array<[string, HostBuiltin]> {
  return [
    ['sprintf', (format, values) => sprintf(text(format), list(values))],
    ['trace', () => true],
    ['hex.encode', (value) => Buffer.from(text(value)).toString('hex')],
    [
      'hex.decode',
      (value) => {
        const hex = text(value);
        if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new Error('invalid hex');
        return Buffer.from(hex, 'hex').toString('utf8');
      },
    ],
    ['base64url.encode_no_pad', (value) => Buffer.from(text(value)).toString('base64url')],
    ['urlquery.encode', (value) => queryEscape(text(value))],
    ['urlquery.decode', (value) => queryUnescape(text(value))],
    ['urlquery.encode_object', (value) => encodeQueryObject(value)],
    ['urlquery.decode_object', (value) => decodeQueryObject(text(value))],
    ['regex.split', (pattern, value) => text(value).split(new RegExp(text(pattern)))],
    [
      'strings.count',
      (search, substring) => {
        const haystack = text(search);
        const needle = text(substring);
        // Go's strings.Count: an empty substring counts the gaps between code points.
        if (needle === '') return Array.from(haystack).length + 1;
        return haystack.split(needle).length - 1;
      },
    ],
    [
      'strings.any_prefix_match',
      (search, base) => strings(search).some((s) => strings(base).some((p) => s.startsWith(p))),
    ],
    [
      'strings.any_suffix_match',
      (search, base) => strings(search).some((s) => strings(base).some((p) => s.endsWith(p))),
    ],
    [
      'indexof_n',
      (haystack, needle) => {
        const value = Array.from(text(haystack));
        const target = Array.from(text(needle));
        const found: number[] = [];
        for (let i = 0; i + target.length <= value.length; i++) {
          if (target.every((char, j) => value[i + j] === char)) found.push(i);
        }
        return found;
      },
    ],
    [
      'yaml.is_valid',
      (value) => {
        try {
          parseYaml(text(value));
          return true;
        } catch {
          return false;
        }
      },
    ],
    ['yaml.marshal', (value) => stringifyYaml(value)],
    ['yaml.unmarshal', (value) => parseYaml(text(value)) as unknown],
  ];
}

function text(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError('operand must be a string');
  return value;
}

function list(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new TypeError('operand must be an array');
  return value;
}

/** A string, or an array or set (sets arrive as arrays) of strings. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return list(value).map(text);
}

// ---- URL query escaping (Go net/url QueryEscape / QueryUnescape) ------------------------

function queryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

function queryUnescape(value: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(value)) throw new Error('invalid URL escape');
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

function encodeQueryObject(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('operand must be an object');
  }
  // Go's url.Values.Encode: keys sorted, each value its own pair.
  return Object.keys(value)
    .sort()
    .flatMap((key) =>
      strings((value as Record<string, unknown>)[key]).map(
        (item) => `${queryEscape(key)}=${queryEscape(item)}`,
      ),
    )
    .join('&');
}

function decodeQueryObject(value: string): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const pair of value.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const key = queryUnescape(at < 0 ? pair : pair.slice(0, at));
    const item = at < 0 ? '' : queryUnescape(pair.slice(at + 1));
    (result[key] ??= []).push(item);
  }
  return result;
}

// ---- sprintf (Go's fmt verbs, as OPA passes Rego values to them) ---------------------------

const VERB = /%([-+ #0]*)(\d+)?(?:\.(\d+))?([vsdfeEgGqxXtbo%])/g;

export function sprintf(format: string, values: readonly unknown[]): string {
  let next = 0;
  return format.replace(
    VERB,
    (
      _match,
      flags: string,
      width: string | undefined,
      precision: string | undefined,
      verb: string,
    ) => {
      if (verb === '%') return '%';
      if (next >= values.length) return `%!${verb}(MISSING)`;
      const value = values[next++];
      const formatted = formatVerb(
        verb,
        value,
        precision === undefined ? undefined : Number(precision),
      );
      const size = width === undefined ? 0 : Number(width);
      if (formatted.length >= size) return formatted;
      const pad = (flags.includes('0') && !flags.includes('-') ? '0' : ' ').repeat(
        size - formatted.length,
      );
      return flags.includes('-') ? formatted + pad : pad + formatted;
    },
  );
}

function formatVerb(verb: string, value: unknown, precision: number | undefined): string {
  switch (verb) {
    case 'd':
      return typeof value === 'number' && Number.isInteger(value)
        ? String(value)
        : `%!d(${regoString(value)})`;
    case 'f':
    case 'e':
    case 'E':
    case 'g':
    case 'G': {
      if (typeof value !== 'number') return `%!${verb}(${regoString(value)})`;
      if (verb === 'f') return value.toFixed(precision ?? 6);
      if (verb === 'e' || verb === 'E') {
        const out = value.toExponential(precision ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
        return verb === 'E' ? out.toUpperCase() : out;
      }
      return precision === undefined ? String(value) : String(Number(value.toPrecision(precision)));
    }
    case 'q':
      return JSON.stringify(typeof value === 'string' ? value : regoString(value));
    case 'x':
    case 'X': {
      const hex =
        typeof value === 'number' && Number.isInteger(value)
          ? value.toString(16)
          : Buffer.from(typeof value === 'string' ? value : regoString(value)).toString('hex');
      return verb === 'X' ? hex.toUpperCase() : hex;
    }
    case 'o':
      return typeof value === 'number'
        ? Math.trunc(value).toString(8)
        : `%!o(${regoString(value)})`;
    case 'b':
      return typeof value === 'number'
        ? Math.trunc(value).toString(2)
        : `%!b(${regoString(value)})`;
    case 't':
      return typeof value === 'boolean' ? String(value) : `%!t(${regoString(value)})`;
    default:
      // %v and %s: strings bare, numbers and booleans plainly, composites as Rego prints them.
      return typeof value === 'string' ? value : regoString(value);
  }
}

/** A value as Rego prints it: JSON with ", " and ": " separators. */
function regoString(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(regoString).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value)
      .map(([key, item]) => `${JSON.stringify(key)}: ${regoString(item)}`)
      .join(', ')}}`;
  }
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}
