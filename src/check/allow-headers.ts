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
  return nothingSet(parts) ? removalsOnly(parts) : mergedAllowHeaders(parts);
}

/** Whether the decision sets no header: no claim header, no level header, no override. */
function nothingSet(parts: AllowHeaderParts): boolean {
  if (parts.claimHeaders.length > 0 || parts.overrideHeaders.length > 0) return false;
  for (const headers of parts.levelHeaders) if (headers.length > 0) return false;
  return true;
}

// The removal list of an allow that sets nothing, by identityHeaders array: the snapshot's
// own array, the same for every check on that snapshot (read-only, as AllowHeaders is).
const identityRemovals = new WeakMap<readonly string[], readonly string[]>();

/**
 * `mergedAllowHeaders` when nothing is set (the common allow): every identity and method
 * override header is removed, then whatever the policies ask to remove, in that order.
 * test/check/allow-headers.property.test.ts checks both on the same parts.
 */
function removalsOnly(parts: AllowHeaderParts): AllowHeaders {
  let removals = identityRemovals.get(parts.identityHeaders);
  if (removals === undefined) {
    removals = [...new Set([...parts.identityHeaders, ...METHOD_OVERRIDE_HEADERS])];
    identityRemovals.set(parts.identityHeaders, removals);
  }
  let withPolicies: Set<string> | undefined;
  for (const name of parts.policyRemovals) {
    withPolicies ??= new Set(removals);
    withPolicies.add(name);
  }
  return {
    upstreamHeaders: [],
    upstreamHeadersToRemove: withPolicies === undefined ? removals : [...withPolicies],
  };
}

/** The header changes of any allow (`allowHeaders` takes `removalsOnly` when it may). */
export function mergedAllowHeaders(parts: AllowHeaderParts): AllowHeaders {
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
