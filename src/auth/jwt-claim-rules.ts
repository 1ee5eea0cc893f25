import type { JWTPayload } from 'jose';

/**
 * The registered-claim checks jose's jwtVerify makes (RFC 7519 section 4.1), for the options
 * verifyJwt passes it (issuer, audience, clockTolerance, currentDate, requiredClaims), in
 * jose's order, so the fast path fails the same claim first. Gatehouse's own stricter checks
 * (NumericDate sanity, iat, maxTokenAgeS) run after either path, in jwt-verifier.ts.
 */
export interface ClaimRules {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly clockToleranceS: number;
  /** jose's "now": whole seconds of currentDate. */
  readonly nowS: number;
  readonly requiredClaims: readonly string[];
}

/** A failed check: which claim, and whether jose says expired (JWTExpired) or failed. */
export interface ClaimFailure {
  readonly claim: string;
  readonly expired: boolean;
  readonly reason: string;
}

export function claimFailure(claims: JWTPayload, rules: ClaimRules): ClaimFailure | undefined {
  // jose checks presence in this order: iss, aud, then the required claims last to first.
  const presence = new Set(['iss', 'aud', ...[...rules.requiredClaims].reverse()]);
  for (const claim of presence) {
    if (!Object.hasOwn(claims, claim)) return failed(claim, `missing required "${claim}" claim`);
  }
  if (claims.iss !== rules.issuer) return failed('iss', 'unexpected "iss" claim value');
  if (!audienceMatches(claims.aud, rules.audiences)) {
    return failed('aud', 'unexpected "aud" claim value');
  }
  const { nowS, clockToleranceS: tolerance } = rules;
  const iat: unknown = claims.iat;
  if (iat !== undefined && typeof iat !== 'number') {
    return failed('iat', '"iat" claim must be a number');
  }
  const nbf: unknown = claims.nbf;
  if (nbf !== undefined && typeof nbf !== 'number') {
    return failed('nbf', '"nbf" claim must be a number');
  }
  if (nbf !== undefined && nbf > nowS + tolerance) {
    return failed('nbf', '"nbf" claim timestamp check failed');
  }
  const exp: unknown = claims.exp;
  if (exp !== undefined && typeof exp !== 'number') {
    return failed('exp', '"exp" claim must be a number');
  }
  if (exp !== undefined && exp <= nowS - tolerance) {
    return { claim: 'exp', expired: true, reason: '"exp" claim timestamp check failed' };
  }
  return undefined;
}

/**
 * jose's currentDate -> now: `new Date(nowS * 1000)` keeps whole milliseconds (TimeClip),
 * and jose floors that to seconds.
 */
export function joseNowS(nowS: number): number {
  return Math.floor(new Date(nowS * 1000).getTime() / 1000);
}

/** RFC 7519 section 4.1.3: one of the accepted audiences, as the string or in the array. */
function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  if (Array.isArray(aud)) return accepted.some((one) => (aud as unknown[]).includes(one));
  return false;
}

function failed(claim: string, reason: string): ClaimFailure {
  return { claim, expired: false, reason };
}
