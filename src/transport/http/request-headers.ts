/**
 * Request headers as one lower-cased record, built from rawHeaders. Node's `req.headers`
 * silently drops a second Authorization header; here repeated headers are joined with ","
 * (RFC 9110 section 5.3; cookies with "; ", RFC 6265 section 5.4) exactly as Envoy does in
 * a CheckRequest, so a duplicate stays visible to the pipeline and is refused.
 */
export function joinRawHeaders(rawHeaders: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    const value = rawHeaders[i + 1] ?? '';
    const existing = headers[name];
    headers[name] =
      existing === undefined ? value : `${existing}${name === 'cookie' ? '; ' : ','}${value}`;
  }
  return headers;
}

/** The first address of X-Forwarded-For (the client as the first proxy saw it). */
export function firstForwardedFor(value: string | undefined): string | undefined {
  const first = value?.split(',')[0]?.trim();
  return first === undefined || first === '' ? undefined : first;
}
