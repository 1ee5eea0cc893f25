import { isIP } from 'node:net';

/**
 * Key material and metadata must come over TLS: a JWKS fetched over plain HTTP lets anyone
 * on the path substitute their own keys and mint tokens Gatehouse would accept (RFC 8414
 * section 2 requires an https issuer; OIDC Discovery 1.0 section 3 an https jwks_uri
 * for the same reason). Plain HTTP is allowed only to loopback, for tests and local
 * development, where nobody else is on the path.
 *
 * Returns the parsed URL, or a reason it is refused.
 */
export function parseSecureUrl(value: string): { url: URL } | { reason: string } {
  const url = URL.parse(value);
  if (url === null) return { reason: 'is not an absolute URL' };
  if (url.username !== '' || url.password !== '') {
    return { reason: 'must not carry credentials in the URL' };
  }
  if (url.protocol === 'https:') return { url };
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return { url };
  return { reason: 'must use https (http only for loopback hosts)' };
}

/** localhost, 127.0.0.0/8 and ::1: names and addresses that never leave the host. */
export function isLoopbackHost(hostname: string): boolean {
  // URL keeps the brackets of an IPv6 host.
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (host === 'localhost' || host.endsWith('.localhost')) return true; // RFC 6761 section 6.3
  switch (isIP(host)) {
    case 4:
      return host.startsWith('127.');
    case 6:
      return host === '::1';
    default:
      return false;
  }
}
