/**
 * Validates and normalizes the authority a request names (Host, `:authority`, or the
 * forwarded host a proxy reports) into the one form that route matching and policies see.
 * The host picks the route tier (see route-table.ts), so a value two HTTP stacks could read
 * as different hosts is refused instead of guessed at: a refused host must never fall
 * through to the routes for "any host", whose rules may be weaker.
 *
 * Accepted (RFC 9110 7.2 and RFC 9112 3.2: `Host = uri-host [ ":" port ]`, with RFC 3986
 * 3.2.2 and 3.2.3 for the parts):
 * - a reg-name of DNS-style labels: ASCII letters, digits, '-' and '_', 1-63 characters
 *   each, at most 253 in all, one trailing dot allowed;
 * - an IPv4 address in strict dotted-decimal form (RFC 3986 3.2.2 `IPv4address`);
 * - an IPv6 address in brackets (RFC 3986 `IP-literal`), without a zone (RFC 6874);
 * - an optional port of 1-5 digits, 1-65535, without leading zeros.
 *
 * Refused: an empty value, several values (a comma list: repeated headers are joined with
 * ","), userinfo (`a@b`), whitespace or control characters, a path, query or fragment
 * character, percent-encoding, non-ASCII, empty labels, an empty or bad port, unbracketed
 * IPv6, IPvFuture, and names whose last label is numeric but that are not a strict IPv4
 * address (`127.1`, `0x7f.0.0.1`, `01.2.3.4`: WHATWG URL and inet_aton read them as
 * addresses, DNS as names).
 *
 * The normal form (RFC 3986 6.2.2.1 and 6.2.3): lower case (RFC 9110 4.2.3, hosts are
 * case-insensitive), one trailing dot dropped (RFC 1034 3.1: the same absolute name),
 * IPv6 in RFC 5952 form, and the scheme's default port dropped (80 for http, 443 for
 * https). `normalizeAuthority` is idempotent on its own output.
 */
import { isIPv6, SocketAddress } from 'node:net';

declare const canonicalHostBrand: unique symbol;

/**
 * A host in normal form, without a port: only `normalizeHost` and `normalizeAuthority`
 * make one, so a route table can never be asked about a raw Host value.
 */
export type CanonicalHost = string & { readonly [canonicalHostBrand]: true };

export type HostKind = 'reg-name' | 'ipv4' | 'ipv6';

export type NormalizedHost =
  | { readonly ok: true; readonly host: CanonicalHost; readonly kind: HostKind }
  | { readonly ok: false; readonly reason: string };

export type NormalizedAuthority =
  | {
      readonly ok: true;
      /** The host in normal form (IPv6 in brackets), without a port. */
      readonly host: CanonicalHost;
      readonly kind: HostKind;
      /** The port when it is not the scheme's default; undefined otherwise. */
      readonly port: number | undefined;
      /** `host[:port]` in normal form: what policies see as the request's host. */
      readonly authority: string;
    }
  | { readonly ok: false; readonly reason: string };

/** Longer than any valid authority: a bracketed IPv6 with an IPv4 tail and a port. */
const MAX_AUTHORITY_LENGTH = 300;
const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

/** RFC 9110 4.2.1 and 4.2.2: the ports `http` and `https` URIs default to. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443 };

// Checked on the raw value, before lower-casing: String.prototype.toLowerCase maps some
// non-ASCII letters to ASCII ones (U+212A KELVIN SIGN becomes "k"), which would let a
// second spelling of a name through.
const LABEL = /^[A-Za-z0-9_-]+$/;
// WHATWG URL "ends in a number": such a host is parsed as an IPv4 address there.
const NUMERIC_LABEL = /^(?:[0-9]+|0[xX][0-9A-Fa-f]*)$/;
const DEC_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${DEC_OCTET}(?:\\.${DEC_OCTET}){3}$`);
const PORT = /^[1-9][0-9]{0,4}$/;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const WHITESPACE_OR_CONTROL = /[\s\u0000-\u001F\u007F]/;
const PATH_QUERY_FRAGMENT = /[/?#\\]/;

function refuse(reason: string): { readonly ok: false; readonly reason: string } {
  return { ok: false, reason };
}

/** Why a value cannot be a single authority at all, whatever its structure; or undefined. */
function ambiguity(value: string): string | undefined {
  if (value === '') return 'empty host';
  if (value.length > MAX_AUTHORITY_LENGTH) {
    return `host longer than ${MAX_AUTHORITY_LENGTH} characters`;
  }
  // OWS around a field value is not part of it (RFC 9110 5.5); a value that still has any
  // came through a path that did not parse it as HTTP does.
  if (WHITESPACE_OR_CONTROL.test(value)) return 'whitespace or control character in host';
  // Repeated Host (or forwarded host) headers arrive joined with "," (RFC 9110 5.3).
  if (value.includes(',')) return 'several hosts (a comma-separated list)';
  // RFC 9110 4.2.4: http(s) URIs carry no userinfo; `a@b` is host `b` to a URL parser and
  // an unknown name to a router.
  if (value.includes('@')) return 'userinfo in host';
  if (PATH_QUERY_FRAGMENT.test(value)) return 'path, query or fragment character in host';
  if (value.includes('%')) return 'percent-encoding in host';
  return undefined;
}

/**
 * Validates and normalizes a host without a port: a reg-name, an IPv4 address or a
 * bracketed IPv6 address. Never throws.
 */
export function normalizeHost(raw: string): NormalizedHost {
  const why = ambiguity(raw);
  if (why !== undefined) return refuse(why);
  if (raw.startsWith('[')) return normalizeIpLiteral(raw);
  if (raw.includes(':')) return refuse('colon in host (a port, or IPv6 without brackets)');

  // RFC 1034 3.1: "example.com." and "example.com" name the same node; drop one dot only.
  const name = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (name.length > MAX_NAME_LENGTH) {
    return refuse(`host name longer than ${MAX_NAME_LENGTH} characters`);
  }
  const labels = name.split('.');
  for (const label of labels) {
    if (label === '') return refuse('empty label in host');
    if (label.length > MAX_LABEL_LENGTH) {
      return refuse(`host label longer than ${MAX_LABEL_LENGTH} characters`);
    }
    if (!LABEL.test(label)) return refuse('character not allowed in a host name');
  }
  if (NUMERIC_LABEL.test(labels[labels.length - 1] ?? '')) {
    if (!IPV4.test(name)) return refuse('numeric host that is not a dotted-decimal IPv4 address');
    return { ok: true, host: name as CanonicalHost, kind: 'ipv4' };
  }
  return { ok: true, host: name.toLowerCase() as CanonicalHost, kind: 'reg-name' };
}

/** `[IPv6address]` (RFC 3986 3.2.2), canonicalized as RFC 5952 section 4 prescribes. */
function normalizeIpLiteral(raw: string): NormalizedHost {
  if (!raw.endsWith(']')) return refuse('unterminated IPv6 literal in host');
  const inner = raw.slice(1, -1);
  // IPvFuture ("[v1.x]") names no address anyone can route to.
  if (/^v/i.test(inner)) return refuse('IPvFuture literal in host');
  // isIPv6 accepts "fe80::1%eth0"; a zone (RFC 6874) is meaningless off the host. The
  // percent sign was already refused, this keeps the rule local.
  if (inner.includes('%') || !isIPv6(inner)) return refuse('invalid IPv6 literal in host');
  // SocketAddress formats with inet_ntop: lower case, longest zero run compressed, an
  // IPv4-mapped tail kept dotted (RFC 5952 4 and 5).
  const canonical = new SocketAddress({ address: inner, family: 'ipv6' }).address;
  return { ok: true, host: `[${canonical}]` as CanonicalHost, kind: 'ipv6' };
}

/**
 * Validates and normalizes an authority, `host[:port]`, as a request names it. `scheme`
 * (case-insensitive) decides which port is the default and is dropped; an unknown or empty
 * scheme drops none. Never throws: a refusal must be denied as a malformed request.
 */
export function normalizeAuthority(raw: string, scheme: string): NormalizedAuthority {
  const why = ambiguity(raw);
  if (why !== undefined) return refuse(why);

  let hostPart = raw;
  let portPart: string | undefined;
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close === -1) return refuse('unterminated IPv6 literal in host');
    hostPart = raw.slice(0, close + 1);
    const rest = raw.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return refuse('characters after the IPv6 literal in host');
      portPart = rest.slice(1);
    }
  } else {
    const colon = raw.indexOf(':');
    if (colon !== -1) {
      if (raw.indexOf(':', colon + 1) !== -1) {
        return refuse('several colons in host (IPv6 without brackets, or two ports)');
      }
      hostPart = raw.slice(0, colon);
      portPart = raw.slice(colon + 1);
    }
  }

  let port: number | undefined;
  if (portPart !== undefined) {
    // RFC 3986 3.2.3 allows an empty port and leading zeros; both are spellings some
    // stacks refuse or read differently, and no client needs them.
    if (!PORT.test(portPart)) return refuse('invalid port in host');
    port = Number(portPart);
    if (port > 65535) return refuse('invalid port in host');
    if (port === DEFAULT_PORTS[scheme.toLowerCase()]) port = undefined;
  }

  const host = normalizeHost(hostPart);
  if (!host.ok) return host;
  return {
    ok: true,
    host: host.host,
    kind: host.kind,
    port,
    authority: port === undefined ? host.host : `${host.host}:${port}`,
  };
}

/**
 * The authority of a request that may name it in more than one place (over gRPC, Envoy's
 * `host` attribute and the `:authority` / `host` headers): every value must be valid and
 * name the same authority once normalized (RFC 9113 8.3.1 asks a server to treat a Host
 * that differs from `:authority` as malformed), else the request is ambiguous.
 */
export function normalizeRequestAuthority(
  host: string,
  others: readonly string[],
  scheme: string,
): NormalizedAuthority {
  const primary = normalizeAuthority(host, scheme);
  if (!primary.ok) return primary;
  for (const other of others) {
    const also = normalizeAuthority(other, scheme);
    if (!also.ok) return refuse(`second host value: ${also.reason}`);
    if (also.authority !== primary.authority) {
      return refuse('the request names two different hosts');
    }
  }
  return primary;
}
