/**
 * Normalizes the request-target a client sent into the one form that route matching and
 * policies see. This decides which API (and so which policy) applies to a request, so it
 * rejects anything two HTTP stacks could read differently instead of guessing.
 *
 * The input is the origin-form request-target (RFC 9112 3.2.1: an absolute path, maybe a
 * `?query`), as Envoy's `:path` or NGINX's `$request_uri` carry it. `new URL()` is never
 * used: it reads `//admin` as a network-path reference whose host is `admin`
 * (RFC 3986 4.2), and applies WHATWG quirks (`\` as `/`) that no origin server shares.
 *
 * What the result holds, once accepted:
 * - `segments`: the path segments, percent-decoded exactly once, dot segments resolved,
 *   empty segments dropped. Route matching uses these.
 * - `path`: the same segments re-encoded in one canonical way (see `encodeSegment`), with
 *   the trailing slash kept. It is safe to log, compare or feed back into `normalizePath`
 *   (the function is idempotent on its own output); never percent-decode it yourself and
 *   compare the result with a template, use `segments`.
 * - `query`: the raw query, without the `?`, not decoded (see `parseQuery`).
 */

export type NormalizedPath =
  | {
      readonly ok: true;
      readonly path: string;
      readonly segments: readonly string[];
      readonly query: string;
    }
  | { readonly ok: false; readonly reason: string };

/** The longest request-target accepted, in UTF-16 code units (characters of the string). */
export const MAX_REQUEST_TARGET_LENGTH = 8192;

const HEX_PAIR = /^[0-9A-Fa-f]{2}$/;

// A UTF-16 surrogate without its other half: such a string has no UTF-8 encoding.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const FIRST_SURROGATE = 0xd800;

// Raw control characters (RFC 5234 CTL: 0x00-0x1F and 0x7F) are never valid in a
// request-target (RFC 3986 2, RFC 9112 3.2); a parser that lets one through may cut
// the line or the log entry there.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001F\u007F]/;

// Characters a segment may carry unencoded: RFC 3986 3.3 `pchar` minus `pct-encoded`,
// that is unreserved (2.3), sub-delims (2.2), ':' and '@'. Everything else is encoded.
const NOT_PCHAR = /[^A-Za-z0-9\-._~!$&'()*+,;=:@]/gu;
const ALL_PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]*$/;

function reject(reason: string): NormalizedPath {
  return { ok: false, reason };
}

/**
 * Why a byte (raw character code or percent-decoded octet) may not appear in a path, or
 * undefined when it may.
 */
function forbidden(code: number, encoded: boolean): string | undefined {
  const how = encoded ? 'encoded ' : '';
  // An encoded '/' is data to some servers and a separator to others (Tomcat's
  // ALLOW_ENCODED_SLASH, Envoy's path_with_escaped_slashes_action): the route seen
  // here could differ from the one that serves the request. RFC 3986 2.2 makes
  // "%2F" and "/" different, which is exactly the ambiguity.
  if (code === 0x2f && encoded) return 'encoded slash in path';
  // Windows servers and some frameworks treat '\' as '/', so the same ambiguity.
  if (code === 0x5c) return `${how}backslash in path`;
  if (code === 0x00) return `${how}NUL in path`;
  if (code < 0x20 || code === 0x7f) return `${how}control character in path`;
  return undefined;
}

/** Percent-encodes every character outside `pchar` (RFC 3986 3.3), with upper-case hex. */
function encodeSegment(segment: string): string {
  // RFC 3986 6.2.2.1: upper-case hex is the normal form; encodeURIComponent emits it.
  if (ALL_PCHAR.test(segment)) return segment;
  return segment.replace(NOT_PCHAR, (ch) => encodeURIComponent(ch));
}

/**
 * Normalizes an origin-form request-target. Never throws: anything it will not
 * normalize comes back as `{ ok: false, reason }`, which the caller must deny as a
 * malformed request.
 */
export function normalizePath(requestTarget: string): NormalizedPath {
  return normalizePlainPath(requestTarget) ?? normalizeAnyPath(requestTarget);
}

// Characters that `encodeSegment` keeps as they are (`pchar` without '%'), by code.
const PCHAR_CODE = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@") {
  PCHAR_CODE[ch.charCodeAt(0)] = 1;
}

/**
 * The common request-target, decided in one scan: a path of `pchar` (RFC 3986 3.3) other
 * than '%' and '/', no empty segment ("//"), no segment starting with '.', and a query or
 * fragment without control characters. Such a path decodes to itself, has no dot segment
 * to resolve and no character to re-encode, so `normalizeAnyPath` would return it as it is
 * with its segments split on '/'. Anything else (undefined here) takes `normalizeAnyPath`;
 * test/routes/normalize-path.property.test.ts checks both give the same result.
 */
function normalizePlainPath(requestTarget: string): NormalizedPath | undefined {
  const length = requestTarget.length;
  if (length > MAX_REQUEST_TARGET_LENGTH || requestTarget.charCodeAt(0) !== 0x2f) return undefined;
  let end = length;
  const segments: string[] = [];
  let segmentStart = 1;
  for (let i = 1; i < length; i++) {
    const code = requestTarget.charCodeAt(i);
    if (code === 0x2f /* '/' */) {
      // An empty segment ("//") is merged by the full path: not plain.
      if (i === segmentStart) return undefined;
      segments.push(requestTarget.slice(segmentStart, i));
      segmentStart = i + 1;
    } else if (code === 0x3f /* '?' */ || code === 0x23 /* '#' */) {
      end = i;
      break;
    } else if (code >= 128 || PCHAR_CODE[code] !== 1) {
      return undefined;
    } else if (code === 0x2e /* '.' */ && i === segmentStart) {
      return undefined;
    }
  }
  // The last segment; a path ending in '/' keeps the slash and has no empty last segment.
  if (end > segmentStart) segments.push(requestTarget.slice(segmentStart, end));
  const hashAt = requestTarget.indexOf('#', end);
  const query =
    end === length || requestTarget.charCodeAt(end) === 0x23
      ? ''
      : requestTarget.slice(end + 1, hashAt === -1 ? length : hashAt);
  // The query and fragment are checked as the full path checks them.
  if (end < length && CONTROL.test(requestTarget.slice(end))) return undefined;
  return { ok: true, path: requestTarget.slice(0, end), segments, query };
}

/**
 * `normalizePath` for every request-target: the definition `normalizePlainPath` is a
 * shortcut of (exported for the property test that compares them).
 */
export function normalizeAnyPath(requestTarget: string): NormalizedPath {
  if (requestTarget.length > MAX_REQUEST_TARGET_LENGTH) {
    return reject(`request-target longer than ${MAX_REQUEST_TARGET_LENGTH} characters`);
  }

  // RFC 3986 3.5: the fragment starts at the first '#' and is never sent to the origin
  // (RFC 9110 7.1); a client that sends one anyway must not change the route.
  const hashAt = requestTarget.indexOf('#');
  const beforeFragment = hashAt === -1 ? requestTarget : requestTarget.slice(0, hashAt);
  const afterPath = hashAt === -1 ? '' : requestTarget.slice(hashAt);
  // RFC 3986 3.4: the query starts at the first '?' (a '?' inside it is data).
  const queryAt = beforeFragment.indexOf('?');
  const rawPath = queryAt === -1 ? beforeFragment : beforeFragment.slice(0, queryAt);
  const query = queryAt === -1 ? '' : beforeFragment.slice(queryAt + 1);

  // RFC 9112 3.2.1: origin-form is an absolute path. This also turns away asterisk-form
  // (`*`) and absolute-form (`http://host/path`), which a proxy in front should have
  // rewritten.
  if (!rawPath.startsWith('/')) return reject('path does not start with "/"');

  let maySurrogate = false;
  for (let i = 0; i < rawPath.length; i++) {
    const code = rawPath.charCodeAt(i);
    if (code >= FIRST_SURROGATE) maySurrogate = true;
    if (code === 0x25 /* '%' */) {
      // RFC 3986 2.1: '%' must be followed by exactly two hex digits.
      const hex = rawPath.slice(i + 1, i + 3);
      if (!HEX_PAIR.test(hex)) return reject('invalid percent-encoding in path');
      const why = forbidden(Number.parseInt(hex, 16), true);
      if (why !== undefined) return reject(why);
      i += 2;
    } else {
      const why = forbidden(code, false);
      if (why !== undefined) return reject(why);
    }
  }
  if (maySurrogate && LONE_SURROGATE.test(rawPath)) return reject('invalid UTF-8 in path');
  if (CONTROL.test(query) || CONTROL.test(afterPath)) {
    return reject('control character in query or fragment');
  }

  // RFC 3986 5.2.4 (remove_dot_segments), applied to decoded segments: RFC 3986 2.3 and
  // 6.2.2.2 make "%2E" the same as ".", so "/a/%2e%2e/b" is "/b". Resolving dots before
  // decoding would let "/public/%2e%2e/admin" reach /admin while matching /public/*.
  const rawSegments = rawPath.split('/');
  const segments: string[] = [];
  let trailingSlash = false;
  // Index 0 is the empty string before the leading '/'.
  for (let i = 1; i < rawSegments.length; i++) {
    const raw = rawSegments[i] ?? '';
    let segment: string;
    try {
      // Decode exactly once: "%252e" becomes the literal text "%2e", an ordinary
      // segment, never a second-round ".". The percent syntax was checked above, so a
      // failure here can only be an invalid or overlong UTF-8 sequence (ECMA-262
      // Decode rejects both).
      segment = raw.includes('%') ? decodeURIComponent(raw) : raw;
    } catch {
      return reject('invalid UTF-8 in path');
    }
    const last = i === rawSegments.length - 1;
    if (segment === '' || segment === '.') {
      // Empty segments (from "//") are merged: "//admin" is "/admin", the way most
      // origin servers and Envoy's merge_slashes read it. "." is dropped (5.2.4 B).
      trailingSlash = last;
    } else if (segment === '..') {
      // 5.2.4 C: ".." removes the previous segment; above the root it stays at root.
      segments.pop();
      trailingSlash = last;
    } else if (segment.charCodeAt(0) === 0x2e /* '.' */ && /^\.\.?;/.test(segment)) {
      // Tomcat and Spring strip ";params" before resolving dots, so "/public/..;/admin"
      // reaches /admin there while it would look like a literal segment here.
      return reject('dot-segment with path parameters in path');
    } else {
      segments.push(segment);
      trailingSlash = false;
    }
  }

  const path =
    segments.length === 0
      ? '/'
      : `/${segments.map(encodeSegment).join('/')}${trailingSlash ? '/' : ''}`;
  return { ok: true, path, segments, query };
}

/** Decodes one query key or value; text that is not valid percent-encoding stays as sent. */
function decodeQueryComponent(raw: string): string {
  // Without '+' or '%' there is nothing to decode: decodeURIComponent returns such text as
  // it is (ECMA-262 Decode copies every character that is not '%').
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  // application/x-www-form-urlencoded (WHATWG URL 5.1): '+' is a space, and it is
  // replaced before percent-decoding so that "%2B" stays a literal '+'.
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw;
  }
}

/**
 * Parses a raw query (without the leading `?`) into a map of arrays, the shape of
 * OPA-Envoy's `input.parsed_query`: `a=1&a=2&b` is `{ a: ['1', '2'], b: [''] }`.
 * Pairs split on '&', key from value on the first '='; empty pairs (`a=1&&b=2`) are
 * skipped, as Go's url.ParseQuery does; ';' is an ordinary character. Unlike Go, a pair
 * with invalid percent-encoding is kept, with that key or value as sent. Never throws.
 * The map has no prototype, so keys such as `__proto__` are plain keys.
 */
export function parseQuery(query: string): Record<string, string[]> {
  const result = prototypeFree();
  if (query === '') return result;
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeQueryComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decodeQueryComponent(pair.slice(eq + 1));
    const values = result[key];
    if (values === undefined) result[key] = [value];
    else values.push(value);
  }
  return result;
}

/**
 * An empty object without a prototype. `Object.create(null)` makes one in V8's dictionary
 * mode, which costs several times more to create and to `JSON.stringify` than an ordinary
 * object whose prototype is then set to null (it keeps its fast properties); both hold no
 * inherited keys, so `__proto__` set after this is an ordinary key.
 */
function prototypeFree(): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  Object.setPrototypeOf(result, null);
  return result;
}
