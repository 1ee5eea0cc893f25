import type { IncomingMessage } from 'node:http';
import type { CheckInput, PeerInfo, TransportName } from '../../check/check-input.js';
import { firstForwardedFor } from './request-headers.js';

/**
 * Builds the CheckInput for each HTTP check protocol. Each function reads only its own
 * protocol's headers; whether the peer may send them is decided before (TrustedProxies).
 * The host is passed on as received: two Host (or X-Original-Host, X-Forwarded-Host)
 * headers arrive joined with "," (request-headers.ts), which the route step refuses.
 */

export type InputResult =
  | { readonly ok: true; readonly input: CheckInput }
  | { readonly ok: false; readonly reason: string };

export interface HttpCheckBase {
  readonly req: IncomingMessage;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Whether the peer is a trusted proxy, whose X-Forwarded-* headers may be believed. */
  readonly peerTrusted: boolean;
}

/**
 * Envoy's HTTP service mode: Envoy calls `<path_prefix><original path>` with the original
 * method and the allowed headers (Envoy docs: ext_authz HttpService.path_prefix).
 */
export function envoyHttpInput(base: HttpCheckBase, prefix: string): InputResult {
  const target = base.req.url ?? '';
  if (!target.startsWith(prefix))
    return { ok: false, reason: 'path does not start with the Envoy prefix' };
  const path = target.slice(prefix.length);
  return {
    ok: true,
    input: make(base, 'http-envoy', {
      method: base.req.method ?? '',
      path: path === '' ? '/' : path,
      host: base.headers.host ?? '',
      // Envoy sets these, but anyone can reach this port: believe them from trusted peers only.
      scheme: (base.peerTrusted ? base.headers['x-forwarded-proto'] : undefined) ?? 'http',
      source: {
        address:
          (base.peerTrusted ? firstForwardedFor(base.headers['x-forwarded-for']) : undefined) ??
          base.req.socket.remoteAddress,
      },
    }),
  };
}

/**
 * NGINX `auth_request`: the original request line travels in X-Original-URI and
 * X-Original-Method (set with proxy_set_header in the auth location); the original
 * headers come along with the subrequest.
 */
export function nginxInput(base: HttpCheckBase): InputResult {
  const uri = base.headers['x-original-uri'];
  const method = base.headers['x-original-method'];
  if (uri === undefined || method === undefined) {
    return {
      ok: false,
      reason:
        'X-Original-URI and X-Original-Method are required (set them in the auth_request location)',
    };
  }
  return {
    ok: true,
    input: make(base, 'nginx', {
      method,
      path: uri,
      host: base.headers['x-original-host'] ?? base.headers.host ?? '',
      scheme: base.headers['x-original-proto'] ?? base.headers['x-forwarded-proto'] ?? 'http',
      source: {
        address:
          base.headers['x-real-ip'] ??
          firstForwardedFor(base.headers['x-forwarded-for']) ??
          base.req.socket.remoteAddress,
      },
    }),
  };
}

/** Traefik `forwardAuth`: X-Forwarded-Method, -Proto, -Host, -Uri, -For (Traefik docs). */
export function traefikInput(base: HttpCheckBase): InputResult {
  const uri = base.headers['x-forwarded-uri'];
  const method = base.headers['x-forwarded-method'];
  if (uri === undefined || method === undefined) {
    return { ok: false, reason: 'X-Forwarded-Uri and X-Forwarded-Method are required' };
  }
  return {
    ok: true,
    input: make(base, 'traefik', {
      method,
      path: uri,
      host: base.headers['x-forwarded-host'] ?? base.headers.host ?? '',
      scheme: base.headers['x-forwarded-proto'] ?? 'http',
      source: {
        address:
          firstForwardedFor(base.headers['x-forwarded-for']) ?? base.req.socket.remoteAddress,
      },
    }),
  };
}

/**
 * The JSON decision API: the caller states the request to decide on.
 * `{ "method", "path", "host", "headers"?: {name: value}, "scheme"?, "source"?: {address} }`
 */
export function jsonInput(req: IncomingMessage, body: string): InputResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'request body is not valid JSON' };
  }
  if (!isRecord(parsed)) return { ok: false, reason: 'request body must be a JSON object' };
  const { method, path, host } = parsed;
  if (typeof method !== 'string' || typeof path !== 'string' || typeof host !== 'string') {
    return { ok: false, reason: '"method", "path" and "host" are required strings' };
  }
  const headers: Record<string, string> = {};
  if (parsed.headers !== undefined) {
    if (!isRecord(parsed.headers)) return { ok: false, reason: '"headers" must be an object' };
    for (const [name, value] of Object.entries(parsed.headers)) {
      if (typeof value !== 'string')
        return { ok: false, reason: `header "${name}" must be a string` };
      const key = name.toLowerCase();
      headers[key] = headers[key] === undefined ? value : `${headers[key]},${value}`;
    }
  }
  const source = isRecord(parsed.source) ? parsed.source : {};
  return {
    ok: true,
    input: make(
      {
        req,
        headers,
        body: typeof parsed.body === 'string' ? parsed.body : '',
        peerTrusted: false,
      },
      'json',
      {
        method,
        path,
        host,
        scheme: typeof parsed.scheme === 'string' ? parsed.scheme : 'http',
        source: { address: typeof source.address === 'string' ? source.address : undefined },
        // A Host in "headers" that names another authority than "host" is ambiguous.
        otherHostValues: headers.host === undefined ? [] : [headers.host],
      },
    ),
  };
}

function make(
  base: HttpCheckBase,
  transport: TransportName,
  fields: {
    method: string;
    path: string;
    host: string;
    scheme: string;
    source: PeerInfo;
    otherHostValues?: readonly string[];
  },
): CheckInput {
  return {
    transport,
    method: fields.method.toUpperCase(),
    path: fields.path,
    host: fields.host,
    scheme: fields.scheme,
    protocol: `HTTP/${base.req.httpVersion}`,
    headers: base.headers,
    requestId: base.headers['x-request-id'] ?? '',
    body: base.body,
    source: fields.source,
    destination: { address: base.req.socket.localAddress, port: base.req.socket.localPort },
    contextExtensions: {},
    peerTrusted: base.peerTrusted,
    ...(fields.otherHostValues === undefined ? {} : { otherHostValues: fields.otherHostValues }),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
