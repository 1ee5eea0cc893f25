/**
 * Is a decoded request header section well-formed (RFC 9113 8.2, 8.3.1)? A malformed one is
 * a stream error PROTOCOL_ERROR (RFC 9113 8.1.1): the stream is reset, its handler never runs.
 */

/** RFC 9113 8.2.2: fields that are connection-specific in HTTP/1.1 and malformed in HTTP/2. */
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path']);

/**
 * RFC 9113 8.2.1: a name holds no octet 0x00-0x20, 0x41-0x5a (upper case) or 0x7f-0xff, and
 * a colon only as its first character (the pseudo-headers, checked by the caller).
 */
function validName(name: string, from: number): boolean {
  if (name.length === from) return false;
  for (let i = from; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || (c >= 0x41 && c <= 0x5a) || c >= 0x7f || c === 0x3a) return false;
  }
  return true;
}

/** RFC 9113 8.2.1: no NUL, CR or LF; no leading or trailing SP or HTAB. */
function validValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return false;
  }
  return true;
}

/** Why a request section is malformed, or undefined when it is well-formed. */
export interface RequestCheck {
  readonly malformed: string | undefined;
  /** The content-length the request declared (RFC 9113 8.1.1), or -1. */
  readonly contentLength: number;
}

const OK_NO_LENGTH: RequestCheck = { malformed: undefined, contentLength: -1 };

function malformed(reason: string): RequestCheck {
  return { malformed: reason, contentLength: -1 };
}

/** Checks the fields of a request's HEADERS: [name, value, ...] in block order. */
export function checkRequestFields(fields: readonly string[]): RequestCheck {
  let method: string | undefined;
  let scheme: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  let regularSeen = false;
  let contentLength = -1;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    if (!validValue(value)) return malformed(`invalid value of ${name}`);
    if (name.charCodeAt(0) === 0x3a) {
      // RFC 9113 8.3: pseudo-headers only before the regular fields, only the defined
      // request ones, each at most once.
      if (regularSeen) return malformed('pseudo-header after a regular field');
      if (!REQUEST_PSEUDO.has(name)) return malformed(`unknown pseudo-header ${name}`);
      if (name === ':method') {
        if (method !== undefined) return malformed('duplicate :method');
        method = value;
      } else if (name === ':scheme') {
        if (scheme !== undefined) return malformed('duplicate :scheme');
        scheme = value;
      } else if (name === ':path') {
        if (path !== undefined) return malformed('duplicate :path');
        path = value;
      } else {
        if (authority !== undefined) return malformed('duplicate :authority');
        authority = value;
      }
      continue;
    }
    regularSeen = true;
    if (!validName(name, 0)) return malformed(`invalid field name ${JSON.stringify(name)}`);
    if (CONNECTION_SPECIFIC.has(name)) return malformed(`connection-specific field ${name}`);
    if (name === 'te' && value !== 'trailers') return malformed('te other than trailers');
    if (name === 'content-length') {
      // RFC 9110 8.6: 1*DIGIT; repeated values must agree.
      if (!/^[0-9]{1,15}$/.test(value)) return malformed('invalid content-length');
      const n = Number(value);
      if (contentLength !== -1 && contentLength !== n)
        return malformed('conflicting content-length');
      contentLength = n;
    }
  }
  if (method === undefined) return malformed('missing :method');
  if (method === 'CONNECT') {
    // RFC 9113 8.5: CONNECT carries :authority and neither :scheme nor :path.
    if (authority === undefined || scheme !== undefined || path !== undefined)
      return malformed('malformed CONNECT');
  } else {
    if (scheme === undefined) return malformed('missing :scheme');
    // RFC 9113 8.3.1: :path is never empty for http and https URIs.
    if (path === undefined || path.length === 0) return malformed('missing :path');
  }
  return contentLength === -1 ? OK_NO_LENGTH : { malformed: undefined, contentLength };
}

/** RFC 9113 8.1: trailers carry no pseudo-headers; names follow the same rules. */
export function checkTrailerFields(fields: readonly string[]): string | undefined {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    if (!validName(name, 0)) return `invalid trailer name ${JSON.stringify(name)}`;
    if (!validValue(fields[i + 1] as string)) return `invalid value of ${name}`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
  }
  return undefined;
}
