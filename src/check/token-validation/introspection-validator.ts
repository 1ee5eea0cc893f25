import type { JWTPayload } from 'jose';
import { looksLikeCompactJws } from '../../auth/compact-jws.js';
import { introspectionDenyCode } from '../../auth/introspection/deny-intent.js';
import type { IntrospectionResult } from '../../auth/introspection/introspection-client.js';
import type { ApiAuth } from '../../routes/catalog.js';
import type { Snapshot } from '../../snapshot/snapshot.js';
import {
  authFailure,
  type PresentedToken,
  type TokenValidation,
  type TokenValidator,
} from './token-validator.js';

/** What the authenticator needs of an introspection client (see IssuerIntrospector). */
export interface TokenIntrospector {
  introspect(token: string): Promise<IntrospectionResult>;
}

/**
 * Opaque tokens, asked about at their issuer (RFC 7662). Takes a token that is not a
 * compact JWS on an API that accepts an issuer with introspection. Three base64url parts
 * are a JWS, anything else is opaque (RFC 7515 section 7.1); a padded or base64 re-spelling
 * of a JWS counts as one: verifyJwt refuses it as malformed, and it is never introspected.
 */
export class IntrospectionValidator implements TokenValidator {
  constructor(
    private readonly introspectors: ReadonlyMap<string, TokenIntrospector>,
    private readonly maxTokenBytes: number,
  ) {}

  accepts({ token }: PresentedToken, auth: ApiAuth): boolean {
    return !looksLikeCompactJws(token) && this.introspectorFor(auth) !== undefined;
  }

  /**
   * Inactive is an invalid token; no answer is an explicit deny (never an allow). An active
   * answer must not name another issuer or only other audiences (RFC 7662 section 2.2 iss,
   * aud).
   */
  async validate(
    { token }: PresentedToken,
    snapshot: Snapshot,
    auth: ApiAuth,
  ): Promise<TokenValidation> {
    const found = this.introspectorFor(auth);
    if (found === undefined) return authFailure('GH_ERR_INTERNAL', 'no introspection for this API');
    const [issuer, introspector] = found;
    if (token.length > this.maxTokenBytes) {
      return authFailure('GH_ERR_TOKEN_TOO_LARGE', `token is over ${this.maxTokenBytes} bytes`);
    }
    const result = await introspector.introspect(token);
    if (result.kind === 'inactive') {
      return authFailure(
        introspectionDenyCode(result) ?? 'GH_ERR_INTERNAL',
        `inactive at ${issuer}`,
      );
    }
    if (result.kind === 'unavailable') {
      return authFailure(
        introspectionDenyCode(result) ?? 'GH_ERR_INTERNAL',
        result.reason,
        result.code,
      );
    }
    const claims = result.claims as JWTPayload;
    if (claims.iss !== undefined && claims.iss !== issuer) {
      return authFailure(
        'GH_ERR_TOKEN_ISSUER',
        `introspected iss "${claims.iss}" is not ${issuer}`,
      );
    }
    const accepted = auth.audiences ?? snapshot.issuers.get(issuer)?.config.audiences ?? [];
    const audiences = claims.aud === undefined ? undefined : [claims.aud].flat();
    if (audiences !== undefined && !audiences.some((aud) => accepted.includes(aud))) {
      return authFailure(
        'GH_ERR_TOKEN_AUDIENCE',
        'introspected aud names none of the accepted audiences',
      );
    }
    return { ok: true, claims };
  }

  /** The introspection of the first issuer this API accepts that has one. */
  private introspectorFor(auth: ApiAuth): [string, TokenIntrospector] | undefined {
    for (const [issuer, introspector] of this.introspectors) {
      if (auth.issuers === undefined || auth.issuers.includes(issuer))
        return [issuer, introspector];
    }
    return undefined;
  }
}
