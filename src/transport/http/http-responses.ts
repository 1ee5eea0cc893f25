import type { ServerResponse } from 'node:http';
import type { TransportName } from '../../check/check-input.js';
import { removalsAfterSet, type Decision, type HeaderList } from '../../decision/decision.js';

/**
 * Writes a decision as each HTTP check protocol expects it: 200 allows, the deny's 4xx
 * denies, with the deny's headers (WWW-Authenticate) and body. Never a 5xx: see
 * deny-codes.ts.
 */

/** Headers a policy may not set on our reply: they would corrupt the HTTP framing. */
const FRAMING_HEADERS = new Set([
  'connection',
  'content-length',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
]);

export function writeDecision(
  res: ServerResponse,
  decision: Decision,
  transport: TransportName,
): void {
  if (decision.allowed) {
    const headers: Array<readonly [string, string]> = [...decision.upstreamHeaders];
    if (transport === 'http-envoy') {
      // Envoy's HTTP mode reads this header as the list of request headers to strip.
      const toRemove = removalsAfterSet(decision);
      if (toRemove.length > 0) {
        headers.push(['x-envoy-auth-headers-to-remove', toRemove.join(',')]);
      }
      headers.push(...decision.responseHeaders);
    } else if (transport === 'nginx') {
      // NGINX passes none of these to the client by itself; `auth_request_set` +
      // `add_header` can (docs/tokens.md's DPoP-Nonce wiring). Traefik has no way at all: it
      // copies a 2xx answer's headers only onto the upstream request (authResponseHeaders).
      headers.push(...decision.responseHeaders);
    }
    send(res, 200, headers, '');
    return;
  }
  let status = decision.status;
  const headers: Array<readonly [string, string]> = [...decision.headers];
  // NGINX auth_request understands only 401 and 403 as denies; any other status becomes a
  // 500 for the client. Keep the deny a deny and say what it was.
  if (transport === 'nginx' && status !== 401 && status !== 403) {
    headers.push(['x-gatehouse-status', String(status)]);
    status = 403;
  }
  send(res, status, headers, decision.body);
}

export function send(res: ServerResponse, status: number, headers: HeaderList, body: string): void {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    if (FRAMING_HEADERS.has(key)) continue;
    const values = grouped.get(key);
    if (values === undefined) grouped.set(key, [value]);
    else values.push(value);
  }
  for (const [name, values] of grouped)
    res.setHeader(name, values.length === 1 ? (values[0] ?? '') : values);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.statusCode = status;
  res.end(body);
}
