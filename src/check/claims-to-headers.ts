import type { JWTPayload } from 'jose';
import type { HeaderList } from './decision.js';

/**
 * Turns verified claims into upstream request headers (catalog `claimsToHeaders`).
 * A value is emitted only when it is a string, number or boolean (or an array of them,
 * joined with ","), and never with a control character: a claim with CR/LF in it must not
 * become a second header upstream (RFC 9110 section 5.5).
 */
export function claimsToHeaders(
  mapping: ReadonlyArray<readonly [header: string, claimPath: string]>,
  claims: JWTPayload | undefined,
): HeaderList {
  if (claims === undefined || mapping.length === 0) return [];
  const headers: Array<readonly [string, string]> = [];
  for (const [header, claimPath] of mapping) {
    const value = headerValue(readPath(claims, claimPath));
    if (value !== undefined) headers.push([header, value]);
  }
  return headers;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function headerValue(value: unknown): string | undefined {
  const scalar = (item: unknown): string | undefined =>
    typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean'
      ? String(item)
      : undefined;
  let text: string | undefined;
  if (Array.isArray(value)) {
    const items = value.map(scalar);
    text = items.every((item) => item !== undefined) ? items.join(',') : undefined;
  } else {
    text = scalar(value);
  }
  return text === undefined || hasControlCharacter(text) ? undefined : text;
}

function readPath(claims: JWTPayload, path: string): unknown {
  let node: unknown = claims;
  for (const key of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
