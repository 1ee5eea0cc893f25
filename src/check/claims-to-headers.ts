import type { JWTPayload } from 'jose';
import type { HeaderList } from '../decision/decision.js';

/**
 * Turns verified claims into upstream request headers (catalog `claimsToHeaders`), with one
 * encoding on every transport, so the upstream can always decode what it gets:
 *
 * - visible ASCII (RFC 5234 VCHAR, 0x21-0x7E) is sent as is, except `%`;
 * - `%`, the space and every non-ASCII character are percent-encoded as their UTF-8 octets
 *   (RFC 3986 section 2.1, upper-case hex; the same octets RFC 8187 section 3.2 uses), so
 *   RFC 3986 percent-decoding (`decodeURIComponent`) gives back the claim exactly;
 * - an array of scalars is its items, each encoded so and with `,` also encoded (`%2C`),
 *   joined with `,`: splitting on `,` and decoding each item is unambiguous.
 *
 * What cannot be carried denies instead of being dropped or sent raw: a control character
 * (a CR/LF would end the header, RFC 9110 section 5.5), text that is not well-formed
 * Unicode, an object or an array holding one, or an encoded value over
 * MAX_CLAIM_HEADER_BYTES. A claim that is absent (or `null`) sets no header.
 */

/**
 * Longest encoded value, in bytes. NGINX must fit the whole auth_request answer in
 * `proxy_buffer_size` (4 KiB or 8 KiB by default, ngx_http_proxy_module), so a longer value
 * could never arrive there.
 */
export const MAX_CLAIM_HEADER_BYTES = 4096;

export type ClaimHeaders =
  | { readonly ok: true; readonly headers: HeaderList }
  | {
      readonly ok: false;
      /** For logs only: which header and claim, and why (never the value). */
      readonly reason: string;
    };

type Encoded =
  | { readonly kind: 'absent' }
  | { readonly kind: 'value'; readonly text: string }
  | { readonly kind: 'unrepresentable'; readonly why: string };

export function claimsToHeaders(
  mapping: ReadonlyArray<readonly [header: string, claimPath: string]>,
  claims: JWTPayload | undefined,
): ClaimHeaders {
  if (claims === undefined || mapping.length === 0) return { ok: true, headers: [] };
  const headers: Array<readonly [string, string]> = [];
  for (const [header, claimPath] of mapping) {
    const encoded = encodeClaim(readPath(claims, claimPath));
    if (encoded.kind === 'unrepresentable') {
      return {
        ok: false,
        reason: `claim "${claimPath}" cannot be sent as header ${header}: ${encoded.why}`,
      };
    }
    if (encoded.kind === 'value') headers.push([header, encoded.text]);
  }
  return { ok: true, headers };
}

/** One claim value as a header value, in the encoding described above. */
export function encodeClaim(value: unknown): Encoded {
  if (value === undefined || value === null) return { kind: 'absent' };
  let text: string | { readonly why: string };
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (const item of value as unknown[]) {
      const encoded = encodeScalar(item, true);
      if (typeof encoded !== 'string') return { kind: 'unrepresentable', ...encoded };
      items.push(encoded);
    }
    text = items.join(',');
  } else {
    text = encodeScalar(value, false);
  }
  if (typeof text !== 'string') return { kind: 'unrepresentable', ...text };
  if (text.length > MAX_CLAIM_HEADER_BYTES) {
    return { kind: 'unrepresentable', why: `longer than ${MAX_CLAIM_HEADER_BYTES} bytes encoded` };
  }
  return { kind: 'value', text };
}

function encodeScalar(value: unknown, inList: boolean): string | { readonly why: string } {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') {
    return { why: `${kindOf(value)} is not a string, number or boolean` };
  }
  return percentEncode(value, inList);
}

/** Visible ASCII but `%` (and `,` in a list) as is; the rest as percent-encoded UTF-8. */
function percentEncode(text: string, inList: boolean): string | { readonly why: string } {
  let out = '';
  // for...of walks code points, so a surrogate pair is one character.
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (code > 0x20 && code < 0x7f && code !== 0x25 && !(inList && code === 0x2c)) {
      out += char;
    } else if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
      // C0 controls, DEL and C1 controls (Unicode general category Cc).
      return { why: 'it contains a control character' };
    } else if (code >= 0xd800 && code <= 0xdfff) {
      return { why: 'it is not well-formed Unicode (a lone surrogate)' };
    } else {
      for (const byte of Buffer.from(char, 'utf8')) {
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
      }
    }
  }
  return out;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a nested array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function readPath(claims: JWTPayload, path: string): unknown {
  let node: unknown = claims;
  for (const key of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
