import { GatehouseError } from '../../errors/gatehouse-error.js';

/**
 * OPA's canonical form of a structured bundle file: the bytes its bundle signature hashes
 * for data.json, data.yaml, data.yml and .manifest (OPA bundle/hash.go, `walk`): objects
 * with their keys in sorted order, no whitespace, every primitive as Go's encoding/json
 * writes it with HTML escaping off. Whitespace, key order and formatting of the file do not
 * change the hash; content does.
 *
 * Two details decide whether a digest matches OPA's, and both were checked against
 * signatures that `opa sign` and `opa build --signing-key` (OPA 1.22) produce:
 * - numbers keep their literal text ("1.50" stays "1.50", 12345678901234567890 keeps every
 *   digit), because OPA decodes JSON with UseNumber (util.Unmarshal);
 * - strings are escaped as Go does: `"` `\` and control characters, `\b \f \n \r \t` in
 *   short form (Go 1.22+), U+2028 and U+2029 as `\u2028` `\u2029`, everything else (HTML
 *   characters, non-ASCII) as is; a lone surrogate becomes U+FFFD as Go's decoder makes it.
 */

export class CanonicalJsonError extends GatehouseError<'GH_BUNDLE_INVALID'> {
  constructor(message: string) {
    super('GH_BUNDLE_INVALID', message);
    this.name = 'CanonicalJsonError';
  }
}

/** Deeper than this is not data anyone writes; the limit keeps recursion off the stack's edge. */
const MAX_DEPTH = 1000;

/** Parses JSON text (RFC 8259, an optional UTF-8 BOM) and returns its canonical form. */
export function canonicalJsonFromText(text: string): string {
  return new CanonicalParser(text).parseDocument();
}

/**
 * The canonical form of an already decoded value (a YAML document). Numbers are written as
 * JavaScript writes them, which matches Go's float64 encoding (ES6 number-to-string rules),
 * the form OPA's YAML-to-JSON conversion produces.
 */
export function canonicalJsonFromValue(value: unknown, depth = 0): string {
  if (depth > MAX_DEPTH) throw new CanonicalJsonError('document is nested too deeply');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'string':
      return goQuote(value);
    case 'object':
      if (Array.isArray(value)) {
        return `[${value.map((item: unknown) => canonicalJsonFromValue(item, depth + 1)).join(',')}]`;
      }
      if (
        Object.getPrototypeOf(value) === Object.prototype ||
        Object.getPrototypeOf(value) === null
      ) {
        const members = Object.entries(value as Record<string, unknown>).map(
          ([key, member]): [string, string] => [
            wellFormed(key),
            canonicalJsonFromValue(member, depth + 1),
          ],
        );
        return canonicalObject(members);
      }
      throw new CanonicalJsonError(`a ${value.constructor.name} is not a JSON value`);
    default:
      throw new CanonicalJsonError(`a ${typeof value} is not a JSON value`);
  }
}

/** Go's sort.Strings: byte order of the UTF-8 encoding, which is code point order. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Members in document order; a repeated key keeps its last value, as a Go map does. */
function canonicalObject(members: ReadonlyArray<readonly [string, string]>): string {
  const byKey = new Map<string, string>();
  for (const [key, value] of members) byKey.set(key, value);
  const keys = [...byKey.keys()].sort(compareUtf8);
  return `{${keys.map((key) => `${goQuote(key)}:${byKey.get(key) ?? 'null'}`).join(',')}}`;
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** A string as Go's encoding/json writes it with SetEscapeHTML(false) (encode.go, appendString). */
function goQuote(text: string): string {
  let out = '"';
  for (const char of wellFormed(text)) {
    const short = SHORT_ESCAPES[char];
    if (short !== undefined) {
      out += short;
      continue;
    }
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x2028 || code === 0x2029) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else {
      out += char;
    }
  }
  return `${out}"`;
}

/** Lone surrogates become U+FFFD, as Go's decoder turns them into utf8.RuneError. */
function wellFormed(text: string): string {
  return text.replace(
    /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
    '\uFFFD',
  );
}

/** Not a quote, a backslash or a control character: copied into a string as is. */
function isPlainStringChar(code: number): boolean {
  return code >= 0x20 && code !== 0x22 && code !== 0x5c;
}

/** A strict RFC 8259 recursive-descent parser that writes the canonical form as it goes. */
class CanonicalParser {
  private index = 0;

  constructor(private readonly text: string) {
    // Go's util.Unmarshal strips a UTF-8 byte order mark before decoding.
    if (text.startsWith('\uFEFF')) this.index = 1;
  }

  parseDocument(): string {
    const value = this.parseValue(0);
    this.skipWhitespace();
    if (this.index < this.text.length) this.fail('unexpected text after the JSON value');
    return value;
  }

  private parseValue(depth: number): string {
    if (depth > MAX_DEPTH) this.fail('document is nested too deeply');
    this.skipWhitespace();
    const char = this.text[this.index];
    switch (char) {
      case '{':
        return this.parseObject(depth);
      case '[':
        return this.parseArray(depth);
      case '"':
        return goQuote(this.parseString());
      case 't':
        return this.parseLiteral('true');
      case 'f':
        return this.parseLiteral('false');
      case 'n':
        return this.parseLiteral('null');
      default:
        if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) {
          return this.parseNumber();
        }
        return this.fail(char === undefined ? 'unexpected end of input' : 'unexpected character');
    }
  }

  private parseObject(depth: number): string {
    this.index++; // {
    const members: Array<[string, string]> = [];
    this.skipWhitespace();
    if (this.text[this.index] === '}') {
      this.index++;
      return '{}';
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.index] !== '"') this.fail('expected a string key');
      const key = wellFormed(this.parseString());
      this.skipWhitespace();
      if (this.text[this.index] !== ':') this.fail('expected ":"');
      this.index++;
      members.push([key, this.parseValue(depth + 1)]);
      this.skipWhitespace();
      const next = this.text[this.index];
      this.index++;
      if (next === '}') return canonicalObject(members);
      if (next !== ',') this.fail('expected "," or "}"', this.index - 1);
    }
  }

  private parseArray(depth: number): string {
    this.index++; // [
    const items: string[] = [];
    this.skipWhitespace();
    if (this.text[this.index] === ']') {
      this.index++;
      return '[]';
    }
    for (;;) {
      items.push(this.parseValue(depth + 1));
      this.skipWhitespace();
      const next = this.text[this.index];
      this.index++;
      if (next === ']') return `[${items.join(',')}]`;
      if (next !== ',') this.fail('expected "," or "]"', this.index - 1);
    }
  }

  private parseString(): string {
    this.index++; // opening quote
    let out = '';
    for (;;) {
      const char = this.text[this.index];
      if (char === undefined) this.fail('unterminated string');
      if (char === '"') {
        this.index++;
        return out;
      }
      if (char < ' ') this.fail('control character in a string');
      if (char !== '\\') {
        // Copy the run of plain characters in one slice: data files can be megabytes.
        const start = this.index;
        while (
          this.index < this.text.length &&
          isPlainStringChar(this.text.charCodeAt(this.index))
        ) {
          this.index++;
        }
        out += this.text.slice(start, this.index);
        continue;
      }
      const escape = this.text[this.index + 1];
      this.index += 2;
      switch (escape) {
        case '"':
        case '\\':
        case '/':
          out += escape;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const hex = this.text.slice(this.index, this.index + 4);
          if (!/^[0-9A-Fa-f]{4}$/.test(hex)) this.fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          this.index += 4;
          break;
        }
        default:
          this.fail('bad escape', this.index - 1);
      }
    }
  }

  /** Kept as written: OPA hashes json.Number's literal text. */
  private parseNumber(): string {
    const match = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    match.lastIndex = this.index;
    const found = match.exec(this.text);
    if (found === null) return this.fail('bad number');
    this.index += found[0].length;
    return found[0];
  }

  private parseLiteral(literal: 'true' | 'false' | 'null'): string {
    if (!this.text.startsWith(literal, this.index)) this.fail('unexpected word');
    this.index += literal.length;
    return literal;
  }

  private skipWhitespace(): void {
    for (;;) {
      const code = this.text.charCodeAt(this.index);
      if (code !== 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) return;
      this.index++;
    }
  }

  private fail(why: string, at = this.index): never {
    throw new CanonicalJsonError(`invalid JSON at offset ${at}: ${why}`);
  }
}
