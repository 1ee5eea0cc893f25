/**
 * The members of an active introspection response (RFC 7662 section 2.2), with the types
 * that section gives them, checked. Other members (extensions such as `cnf`, RFC 8705
 * section 3.2, or `authorization_details`, RFC 9396 section 9.2) are kept as sent.
 * Typed to fit jose's JWTPayload, so scopes.ts and policy input take them as they are.
 */
export interface IntrospectionClaims {
  readonly active: true;
  /** Space-separated scopes (RFC 6749 section 3.3). */
  readonly scope?: string;
  readonly client_id?: string;
  readonly username?: string;
  readonly token_type?: string;
  /** NumericDate seconds (RFC 7519 section 2). */
  readonly exp?: number;
  readonly iat?: number;
  readonly nbf?: number;
  readonly sub?: string;
  readonly aud?: string | string[];
  readonly iss?: string;
  readonly jti?: string;
  /** Confirmation: the key or certificate the token is bound to (RFC 7800 section 3.1). */
  readonly cnf?: Readonly<Record<string, unknown>>;
  readonly [claim: string]: unknown;
}

export type ParsedIntrospection =
  | { readonly kind: 'active'; readonly claims: IntrospectionClaims }
  | { readonly kind: 'inactive' }
  | { readonly kind: 'malformed'; readonly reason: string };

const NUMERIC_DATES = ['exp', 'iat', 'nbf'] as const;
const STRINGS = ['scope', 'client_id', 'username', 'token_type', 'sub', 'iss', 'jti'] as const;

/**
 * Parses the body of a 200 answer strictly: a JSON object whose `active` is a boolean
 * (RFC 7662 section 2.2: "REQUIRED. Boolean indicator"). `active: false` is inactive
 * whatever else is there. `active: true` is active only if every member section 2.2
 * defines has its type; one that does not (a string `exp`, a numeric `scope`, a `null`)
 * makes the whole answer malformed: a server that gets types wrong cannot be trusted to
 * have got `active` right. Like opa-envoy-plugin reading a policy result: anything
 * unexpected is an error, never an allow.
 *
 * Reasons name the member and the problem, never a value: the answer may echo the token.
 */
export function parseIntrospectionBody(text: string): ParsedIntrospection {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return malformed('the body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return malformed('the body is not a JSON object');
  }
  const body = value as Record<string, unknown>;
  const { active } = body;
  if (typeof active !== 'boolean') {
    return malformed(
      active === undefined
        ? '"active" is missing'
        : `"active" is ${typeName(active)}, not a boolean`,
    );
  }
  // RFC 7662 section 2.2: with `active: false` the server "SHOULD NOT include any
  // additional information"; whatever it included is not looked at.
  if (!active) return { kind: 'inactive' };

  for (const name of NUMERIC_DATES) {
    const claim = body[name];
    if (claim === undefined) continue;
    if (typeof claim !== 'number') {
      return malformed(`"${name}" is ${typeName(claim)}, not a NumericDate (seconds)`);
    }
    // JSON.parse never yields NaN or Infinity; a negative date is no instant a token has.
    if (claim < 0) return malformed(`"${name}" is a negative number, not a NumericDate`);
  }
  for (const name of STRINGS) {
    const claim = body[name];
    if (claim !== undefined && typeof claim !== 'string') {
      return malformed(`"${name}" is ${typeName(claim)}, not a string`);
    }
  }
  // RFC 7662 section 2.2 defers to RFC 7519 section 4.1.3: a string or an array of strings.
  const { aud } = body;
  if (
    aud !== undefined &&
    typeof aud !== 'string' &&
    !(Array.isArray(aud) && aud.every((item) => typeof item === 'string'))
  ) {
    return malformed(`"aud" is ${typeName(aud)}, not a string or an array of strings`);
  }
  const { cnf } = body;
  if (cnf !== undefined && (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf))) {
    return malformed(`"cnf" is ${typeName(cnf)}, not an object`);
  }
  // Shared by every caller the cache serves: nobody may change what another one sees.
  return { kind: 'active', claims: deepFreeze(body) as IntrospectionClaims };
}

function malformed(reason: string): ParsedIntrospection {
  return { kind: 'malformed', reason };
}

/** The JSON type of a value, for messages: never the value itself. */
function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}
