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
  const upstreamHeaders = [...levelsMerged(parts), ...parts.overrideHeaders];
  const everyRemoval = identityRemovals(parts.identityHeaders);
  let removals = everyRemoval;
  if (upstreamHeaders.length > 0) {
    const set = new Set(upstreamHeaders.map(([name]) => name.toLowerCase()));
    removals = everyRemoval.filter((name) => !set.has(name));
  }
  let withPolicies: Set<string> | undefined;
  for (const name of parts.policyRemovals) {
    withPolicies ??= new Set(removals);
    withPolicies.add(name);
  }
  return {
    upstreamHeaders,
    upstreamHeadersToRemove: withPolicies === undefined ? removals : [...withPolicies],
  };
}

// Every identity and method override header, once each, by identityHeaders array: the
// snapshot's own array, the same for every check on that snapshot (read-only, as
// AllowHeaders is). An allow removes these minus the ones it sets.
const removalsByIdentityHeaders = new WeakMap<readonly string[], readonly string[]>();

function identityRemovals(identityHeaders: readonly string[]): readonly string[] {
  let removals = removalsByIdentityHeaders.get(identityHeaders);
  if (removals === undefined) {
    removals = [...new Set([...identityHeaders, ...METHOD_OVERRIDE_HEADERS])];
    removalsByIdentityHeaders.set(identityHeaders, removals);
  }
  return removals;
}

/**
 * `innerLevelWins` over the claim headers and the levels', without its maps when at most
 * one of them sets headers and no name repeats there (the common allow: none, or one
 * level's one header): such a list is its own result.
 */
function levelsMerged(parts: AllowHeaderParts): HeaderList {
  let only: HeaderList = parts.claimHeaders;
  let nonEmpty = only.length > 0 ? 1 : 0;
  for (const headers of parts.levelHeaders) {
    if (headers.length === 0) continue;
    only = headers;
    nonEmpty += 1;
  }
  if (nonEmpty === 0) return [];
  if (nonEmpty === 1 && namesDiffer(only)) return only;
  return innerLevelWins([parts.claimHeaders, ...parts.levelHeaders]);
}

/** Whether no two headers have the same name (compared as innerLevelWins compares them). */
function namesDiffer(headers: HeaderList): boolean {
  for (let i = 1; i < headers.length; i++) {
    for (let j = 0; j < i; j++) if (headers[i]?.[0] === headers[j]?.[0]) return false;
  }
  return true;
}

/**
 * The header changes of any allow, the general merge: `allowHeaders` answers the same with
 * fewer maps and sets (test/check/allow-headers.property.test.ts compares the two).
 */
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
