import { createHash } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';

/**
 * A hash of a key set that ignores member order and key order, so a provider that
 * reorders its JSON (or its keys) between answers is not reported as a key change.
 */
export function hashJwks(jwks: JSONWebKeySet): string {
  const keys = jwks.keys.map((key) => canonicalJson(key)).sort();
  return createHash('sha256').update(JSON.stringify(keys)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, member]) => `${JSON.stringify(name)}:${canonicalJson(member)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}
