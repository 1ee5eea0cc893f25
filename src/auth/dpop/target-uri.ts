/**
 * The part of an HTTP URI a proof's `htu` is compared on (RFC 9449 section 4.3 check 9):
 * scheme, authority and path, with query and fragment ignored.
 *
 * RFC 9449 section 4.3 asks for syntax- and scheme-based normalization first (RFC 3986
 * sections 6.2.2 and 6.2.3). WHATWG URL parsing does most of it: lower-case scheme and
 * host, the default port dropped, an empty path as "/", dot segments removed. What it
 * leaves, percent-encoding case and encoded unreserved characters (RFC 3986 sections
 * 6.2.2.1 and 6.2.2.2), is normalized here.
 *
 * Returns undefined for anything that is not an absolute http(s) URI, and for one with
 * userinfo, which an http(s) target URI must not carry (RFC 9110 section 4.2.4).
 */
export function comparableTargetUri(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  return `${url.protocol}//${url.host}${normalizePercentEncoding(url.pathname)}`;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

function normalizePercentEncoding(path: string): string {
  return path.replace(/%[0-9A-Fa-f]{2}/g, (encoded) => {
    const char = String.fromCharCode(Number.parseInt(encoded.slice(1), 16));
    return UNRESERVED.test(char) ? char : encoded.toUpperCase();
  });
}
