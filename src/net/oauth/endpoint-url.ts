import { isLoopbackHost } from '../secure-url.js';

/**
 * Checks an authorization server URL (issuer or token endpoint) before any credential is
 * sent to it. RFC 6749 section 2.3.1 requires TLS whenever a client secret travels, and
 * section 3.2 says the same of the token endpoint; a signed assertion or an access token is
 * no safer in clear text. Plain HTTP is allowed only to loopback hosts, for tests and local
 * development, where nobody else is on the path.
 *
 * Returns the URL exactly as given (an issuer is compared character for character, OIDC
 * Discovery 1.0 section 4.3, and a token endpoint is a client assertion's `aud`), or the
 * reason it is refused.
 */
export function checkEndpointUrl(value: string): { url: string } | { reason: string } {
  const url = URL.parse(value);
  if (url === null) return { reason: 'is not an absolute URL' };
  // A URL's userinfo would end up in error messages and logs.
  if (url.username !== '' || url.password !== '') {
    return { reason: 'must not carry credentials in the URL' };
  }
  // RFC 6749 section 3.2: "The endpoint URI MUST NOT include a fragment component."
  if (url.hash !== '') return { reason: 'must not have a fragment' };
  if (url.protocol === 'https:') return { url: value };
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return { url: value };
  return { reason: 'must use https (http only for loopback hosts)' };
}
