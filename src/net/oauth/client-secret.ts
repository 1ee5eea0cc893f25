/**
 * Encodes one value with the application/x-www-form-urlencoded serializer (WHATWG URL,
 * section 5.2, the one URLSearchParams uses): space becomes "+", everything outside
 * ALPHA / DIGIT / "*-._" becomes %XX of its UTF-8 bytes.
 */
export function formUrlEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice('v='.length);
}

/**
 * The `Authorization` header value for client_secret_basic. RFC 6749 section 2.3.1: the
 * client identifier and the secret are first encoded with application/x-www-form-urlencoded
 * (Appendix B), and only then joined with ":" and base64-encoded as the HTTP Basic user-id
 * and password (RFC 7617). Skipping the first step breaks any id or secret with ":", "%",
 * "+" or non-ASCII characters: a ":" in the client_id would move the split point, and a
 * server that decodes (as the RFC says it must) turns a literal "+" into a space.
 */
export function basicAuthorization(clientId: string, secret: string): string {
  const credentials = `${formUrlEncode(clientId)}:${formUrlEncode(secret)}`;
  return `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
}

/**
 * RFC 6749 Appendix A.1 and A.2: client-id and client-secret are `*VSCHAR`, printable ASCII
 * (%x20-7E). Servers refuse anything else (oidc-provider does), so refuse it up front.
 */
export function isVsChars(value: string): boolean {
  return /^[\x20-\x7e]*$/.test(value);
}
