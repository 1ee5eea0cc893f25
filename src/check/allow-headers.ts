import type { HeaderList } from '../decision/decision.js';
import { METHOD_OVERRIDE_HEADERS } from './method-override.js';

/**
 * The header changes of an allow (respond step): what is set on the upstream request and
 * what is removed from it.
 *
 * Set: the claim headers, then each policy level's headers (an inner level's header replaces
 * an outer level's of the same name), then the authorized method override, if any.
 *
 * Removed: every identity header of the snapshot and every method override header, unless
 * this decision sets it, plus whatever a policy asks to remove. A header this decision sets
 * must not be in the removal list: Envoy applies `headers_to_remove` (and
 * `x-envoy-auth-headers-to-remove`) after setting the ok response's headers
 * (ext_authz.cc, Filter::onComplete), so listing it would remove our own value. A set header
 * still replaces the client's: its first value is OVERWRITE_IF_EXISTS_OR_ADD on gRPC, and
 * Envoy's HTTP mode sets (not appends) `allowed_upstream_headers`.
 */
export interface AllowHeaders {
  readonly upstreamHeaders: HeaderList;
  readonly upstreamHeadersToRemove: readonly string[];
}

export interface AllowHeaderParts {
  /** From claimsToHeaders, already encoded. */
  readonly claimHeaders: HeaderList;
  /** Each policy level's headers, outermost first. */
  readonly levelHeaders: readonly HeaderList[];
  /** The method override passed on (authorize mode), else empty. */
  readonly overrideHeaders: HeaderList;
  /** The snapshot's identity headers (lower-case). */
  readonly identityHeaders: readonly string[];
  /** Names the policies asked to remove (lower-case). */
  readonly policyRemovals: Iterable<string>;
}

export function allowHeaders(parts: AllowHeaderParts): AllowHeaders {
  const upstreamHeaders = [
    ...innerLevelWins([parts.claimHeaders, ...parts.levelHeaders]),
    ...parts.overrideHeaders,
  ];
  const set = new Set(upstreamHeaders.map(([name]) => name.toLowerCase()));
  const toRemove = new Set<string>();
  for (const name of parts.identityHeaders) if (!set.has(name)) toRemove.add(name);
  for (const name of METHOD_OVERRIDE_HEADERS) if (!set.has(name)) toRemove.add(name);
  for (const name of parts.policyRemovals) toRemove.add(name);
  return { upstreamHeaders, upstreamHeadersToRemove: [...toRemove] };
}

/**
 * An inner level's header replaces an outer level's header of the same name (API over
 * service over global); several values for one name from the same level all stay.
 */
function innerLevelWins(levels: readonly HeaderList[]): HeaderList {
  const byName = new Map<string, Array<readonly [string, string]>>();
  for (const headers of levels) {
    const setHere = new Set<string>();
    for (const header of headers) {
      if (!setHere.has(header[0])) byName.set(header[0], []);
      setHere.add(header[0]);
      byName.get(header[0])?.push(header);
    }
  }
  return [...byName.values()].flat();
}
