import type { METHOD_OVERRIDE_MODES } from '../config/schema.js';
import type { CheckInput } from './check-input.js';
import type { HeaderList } from '../decision/decision.js';

/**
 * Method override headers: many frameworks let `POST` plus `X-HTTP-Method-Override: DELETE`
 * act as a `DELETE`. Passed through unseen, a policy would authorize a POST while the
 * upstream performs a DELETE. `routing.methodOverride` chooses:
 *
 * - `strip` (default): the method is the request's own; every override header is removed
 *   from the allowed request (see METHOD_OVERRIDE_HEADERS), so the upstream never acts on one.
 * - `authorize`: on a `POST`, an override names the method the route and the policies see,
 *   and it is passed on (set from the answer) with that value; on any other method an override
 *   is not honoured and is removed. A value that is not one method token is a malformed
 *   request, and so are override headers that disagree.
 */
export type MethodOverrideMode = (typeof METHOD_OVERRIDE_MODES)[number];

export const METHOD_OVERRIDE_HEADERS = [
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
] as const;

/** RFC 9110 section 9.1: method = token (section 5.6.2); a short one. */
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;

export type EffectiveMethod =
  | {
      readonly ok: true;
      /** The method to route and authorize (upper-case). */
      readonly method: string;
      /** Override headers to set upstream: the authorized override, in `authorize` mode. */
      readonly headers: HeaderList;
    }
  | { readonly ok: false; readonly reason: string };

export function effectiveMethod(input: CheckInput, mode: MethodOverrideMode): EffectiveMethod {
  const own: EffectiveMethod = { ok: true, method: input.method, headers: [] };
  // Only POST is overridden: an override on GET (a "safe" method, RFC 9110 section 9.2.1)
  // would let a cacheable request change state. Elsewhere it is stripped, not honoured.
  if (mode === 'strip' || input.method !== 'POST') return own;
  const sent = METHOD_OVERRIDE_HEADERS.filter((name) => input.headers[name] !== undefined);
  if (sent.length === 0) return own;
  let method: string | undefined;
  for (const name of sent) {
    // Repeated headers arrive joined with ",", which is not a token: malformed too.
    const value = (input.headers[name] ?? '').trim();
    if (!METHOD_TOKEN.test(value)) return { ok: false, reason: `malformed ${name} value` };
    const upper = value.toUpperCase();
    if (method !== undefined && method !== upper) {
      return { ok: false, reason: 'method override headers name different methods' };
    }
    method = upper;
  }
  const effective = method ?? input.method;
  return {
    ok: true,
    method: effective,
    headers: sent.map((name) => [name, effective] as const),
  };
}
