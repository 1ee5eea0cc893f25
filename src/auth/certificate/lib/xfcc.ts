/**
 * Tokenizer for Envoy's X-Forwarded-Client-Cert (Envoy docs: HTTP header manipulation,
 * x-forwarded-client-cert): a ","-separated list of elements, one per proxy; each element
 * a ";"-separated list of key=value pairs; keys case-insensitive, values case-sensitive;
 * a value holding "," ";" or "=" is double-quoted, with a double quote inside written \".
 *
 * Envoy quotes Cert, Chain and Subject but writes By, URI and DNS unquoted even when they
 * hold those characters (a TODO in its conn_manager_utility.cc), and the URI and DNS SANs
 * come from the client's certificate. So the parse must never let a later pair override an
 * earlier one: the caller refuses repeated Cert or Hash keys rather than picking one.
 */

export interface XfccPair {
  /** Lower-cased. */
  readonly key: string;
  readonly value: string;
}

export type XfccElement = readonly XfccPair[];

export type XfccParse =
  | { readonly ok: true; readonly elements: readonly XfccElement[] }
  | { readonly ok: false; readonly reason: string };

const KEY = /^[A-Za-z0-9_-]+$/;

export function parseXfcc(header: string): XfccParse {
  const elements: XfccElement[] = [];
  let pairs: XfccPair[] = [];
  let i = 0;
  const fail = (reason: string): XfccParse => ({ ok: false, reason: `${reason} at offset ${i}` });

  for (;;) {
    i = skipSpace(header, i);
    const equals = header.indexOf('=', i);
    if (equals === -1) return fail('a pair without "="');
    const key = header.slice(i, equals).trim();
    if (!KEY.test(key)) return fail('an empty or invalid key');
    i = equals + 1;

    let value = '';
    if (header[i] === '"') {
      i++;
      let closed = false;
      while (i < header.length) {
        const char = header[i];
        if (char === '"') {
          closed = true;
          i++;
          break;
        }
        // Envoy's docs escape only the double quote; Envoy's Subject is in RFC 2253 form,
        // which escapes with a backslash too (a trailing "\\"). Reading backslash as
        // "take the next character" is right for both.
        if (char === '\\') {
          i++;
          if (i >= header.length) break;
        }
        value += header.charAt(i);
        i++;
      }
      if (!closed) return fail('an unterminated quoted value');
    } else {
      const end = nextDelimiter(header, i);
      value = header.slice(i, end).trim();
      if (value.includes('"')) return fail('a double quote inside an unquoted value');
      i = end;
    }
    pairs.push({ key: key.toLowerCase(), value });

    i = skipSpace(header, i);
    if (i >= header.length) {
      elements.push(pairs);
      return { ok: true, elements };
    }
    const delimiter = header[i];
    i++;
    if (delimiter === ',') {
      elements.push(pairs);
      pairs = [];
    } else if (delimiter !== ';') {
      return fail('text after a quoted value');
    }
  }
}

function nextDelimiter(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const char = text[i];
    if (char === ';' || char === ',') return i;
  }
  return text.length;
}

/** Optional whitespace around list elements (RFC 9110 section 5.6.1). */
function skipSpace(text: string, from: number): number {
  let i = from;
  while (text[i] === ' ' || text[i] === '\t') i++;
  return i;
}
