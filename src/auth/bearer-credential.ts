/**
 * Reads the bearer token from a request's Authorization header (RFC 6750 section 2.1).
 * Repeated Authorization headers arrive joined with "," (see CheckInput.headers); a comma
 * is not a b64token character, so two tokens are a malformed request, never "the first".
 */

export type BearerCredential =
  | { readonly kind: 'none' }
  | { readonly kind: 'bearer'; readonly token: string }
  | { readonly kind: 'malformed'; readonly reason: string };

// RFC 6750 section 2.1: credentials = "Bearer" 1*SP b64token
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const SCHEME = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?: |$)/;

export function readBearerCredential(headers: Readonly<Record<string, string>>): BearerCredential {
  const value = headers.authorization;
  if (value === undefined) return { kind: 'none' };
  const match = BEARER.exec(value);
  if (match?.[1] !== undefined) return { kind: 'bearer', token: match[1] };
  const scheme = SCHEME.exec(value)?.[1];
  if (scheme === undefined)
    return { kind: 'malformed', reason: 'unparseable Authorization header' };
  if (scheme.toLowerCase() === 'bearer') {
    return {
      kind: 'malformed',
      reason: value.includes(',')
        ? 'more than one Authorization header or credential'
        : 'Bearer credential is not a valid b64token',
    };
  }
  // Another scheme (Basic, ...) is not a bearer credential: answer as if none was sent,
  // with the Bearer challenge saying what is expected (RFC 6750 section 3).
  return { kind: 'none' };
}
