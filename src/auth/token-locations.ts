import { normalizePath, parseQuery } from '../routes/normalize-path.js';

/**
 * RFC 6750 section 2: a bearer token may travel in the Authorization header (2.1), a
 * form-encoded body parameter (2.2) or a URI query parameter (2.3), and "clients MUST NOT
 * use more than one method to transmit the token in each request". Gatehouse reads tokens
 * from the header only; a request that also carries one elsewhere is malformed, since the
 * upstream may read the other one and act for a different caller than the one verified.
 */

/** The parameter name of RFC 6750 sections 2.2 and 2.3. */
const ACCESS_TOKEN = 'access_token';
const FORM_ENCODED = 'application/x-www-form-urlencoded';

export interface TokenCarrier {
  /** The request-target as received: path, maybe `?query`, maybe `#fragment`. */
  readonly path: string;
  readonly body: string;
  /** Names lower-cased; repeated headers joined with ",". */
  readonly headers: Readonly<Record<string, string>>;
}

export type OtherTokenLocation = 'query' | 'body';

/**
 * Where besides the Authorization header the request carries an `access_token` parameter,
 * if anywhere. The query is split off and parsed exactly as policies see it in
 * `parsed_query` (normalizePath, parseQuery), so `access%5Ftoken` is the same name. Any value counts,
 * even an empty one: the parameter's presence is the second method.
 */
export function otherTokenLocation(request: TokenCarrier): OtherTokenLocation | undefined {
  if (request.path.includes('?')) {
    const normalized = normalizePath(request.path);
    // A path normalizePath refuses was denied before authentication; nothing to read here.
    if (normalized.ok && parseQuery(normalized.query)[ACCESS_TOKEN] !== undefined) {
      return 'query';
    }
  }
  if (
    request.body !== '' &&
    isFormEncoded(request.headers['content-type']) &&
    parseQuery(request.body)[ACCESS_TOKEN] !== undefined
  ) {
    return 'body';
  }
  return undefined;
}

/**
 * RFC 6750 section 2.2: only an `application/x-www-form-urlencoded` body carries the
 * parameter. Media types are case-insensitive and may carry parameters (RFC 9110 8.3.1); two
 * Content-Type headers arrive joined with ",", and either one being form-encoded counts.
 */
function isFormEncoded(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  return contentType
    .split(',')
    .some((value) => (value.split(';')[0] ?? '').trim().toLowerCase() === FORM_ENCODED);
}
