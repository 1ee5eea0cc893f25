/**
 * `parsed_path`, `parsed_query` and form bodies exactly as opa-envoy-plugin derives them,
 * which is Go's net/url: `url.Parse(path)`, then the decoded path with its leading slashes
 * trimmed and split on "/", and `URL.Query()` (`url.ParseQuery`, errors dropped) for the
 * query. Reimplemented from the documented behaviour of Go's net/url
 * (https://pkg.go.dev/net/url), not from its code.
 *
 * So a trailing slash leaves an empty last segment (`/orders/` is ["orders", ""]), the root
 * is [""], `%2F` decodes to a "/" before the split (so it splits too), and `..` is not
 * resolved: policies written for OPA-Envoy read the same values. Gatehouse's own route step still refuses
 * ambiguous paths before any of this (normalize-path.ts).
 */

export type GoUrlResult =
  | {
      readonly ok: true;
      readonly parsedPath: string[];
      readonly parsedQuery: Record<string, string[]>;
    }
  | { readonly ok: false; readonly reason: string };

const utf8 = new TextEncoder();
const decoder = new TextDecoder('utf-8');

/** Go's url.Parse of a request's `:path`, as opa-envoy-plugin calls it. */
export function parsePathAndQuery(target: string): GoUrlResult {
  const hash = target.indexOf('#');
  const withoutFragment = hash === -1 ? target : target.slice(0, hash);
  if (hash !== -1 && unescape(target.slice(hash + 1), false) === undefined) {
    return { ok: false, reason: 'invalid URL escape in the fragment' };
  }
  // Go refuses any ASCII control character in a URL.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(withoutFragment)) {
    return { ok: false, reason: 'invalid control character in URL' };
  }
  const question = withoutFragment.indexOf('?');
  let rest = question === -1 ? withoutFragment : withoutFragment.slice(0, question);
  const rawQuery = question === -1 ? '' : withoutFragment.slice(question + 1);

  if (rest !== '*') {
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(rest);
    if (scheme !== null) return { ok: false, reason: 'the path has a URL scheme' };
    if (!rest.startsWith('/')) {
      const colon = rest.indexOf(':');
      const slash = rest.indexOf('/');
      if (colon !== -1 && (slash === -1 || colon < slash)) {
        return { ok: false, reason: 'first path segment in URL cannot contain colon' };
      }
    }
    // "//host/path" is a network-path reference: Go reads "host" as the authority.
    if (rest.startsWith('//') && !rest.startsWith('///')) {
      const slash = rest.indexOf('/', 2);
      rest = slash === -1 ? '' : rest.slice(slash);
    }
  }
  const path = unescape(rest, false);
  if (path === undefined) return { ok: false, reason: 'invalid URL escape in the path' };
  return {
    ok: true,
    parsedPath: path.replace(/^\/+/, '').split('/'),
    parsedQuery: parseQuery(rawQuery).values,
  };
}

/**
 * Go's url.ParseQuery: "&"-separated pairs, "+" is a space, pairs with a ";" or a bad
 * escape are skipped and reported. `error` is the first problem, as Go returns it.
 */
export function parseQuery(query: string): {
  values: Record<string, string[]>;
  error: string | undefined;
} {
  const values: Record<string, string[]> = {};
  let error: string | undefined;
  for (const part of query.split('&')) {
    if (part.includes(';')) {
      error ??= 'invalid semicolon separator in query';
      continue;
    }
    if (part === '') continue;
    const equals = part.indexOf('=');
    const key = unescape(equals === -1 ? part : part.slice(0, equals), true);
    const value = unescape(equals === -1 ? '' : part.slice(equals + 1), true);
    if (key === undefined || value === undefined) {
      error ??= 'invalid URL escape in query';
      continue;
    }
    const list = Object.hasOwn(values, key) ? values[key] : undefined;
    if (list === undefined) {
      Object.defineProperty(values, key, {
        value: [value],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      list.push(value);
    }
  }
  return { values, error };
}

/**
 * Percent-decoding; `plusIsSpace` for query components. A "%" without two hex digits is an
 * error (undefined). Decoded bytes that are not UTF-8 become U+FFFD, as Go's JSON encoder
 * writes them into the input document.
 */
function unescape(text: string, plusIsSpace: boolean): string | undefined {
  if (!text.includes('%') && !(plusIsSpace && text.includes('+'))) return text;
  const bytes = utf8.encode(text);
  const out = new Uint8Array(bytes.length);
  let length = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] ?? 0;
    if (byte === 0x25) {
      const high = hex(bytes[i + 1]);
      const low = hex(bytes[i + 2]);
      if (high === undefined || low === undefined) return undefined;
      out[length++] = high * 16 + low;
      i += 2;
    } else if (byte === 0x2b && plusIsSpace) {
      out[length++] = 0x20;
    } else {
      out[length++] = byte;
    }
  }
  return decoder.decode(out.subarray(0, length));
}

function hex(byte: number | undefined): number | undefined {
  if (byte === undefined) return undefined;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return undefined;
}
