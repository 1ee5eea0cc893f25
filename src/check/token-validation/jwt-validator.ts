import type { IssuerKeys } from '../../auth/issuer-keys.js';
import { verifyJwt, type VerifyRequirements, type VerifyResult } from '../../auth/jwt-verifier.js';
import { staleKeysReason, type KeysRefreshedAt } from '../../auth/key-freshness.js';
import type { ApiAuth } from '../../routes/catalog.js';
import type { Snapshot } from '../../snapshot/snapshot.js';
import type { VerifiedTokenCaches } from '../../auth/verified-token-cache.js';
import {
  authFailure,
  type PresentedToken,
  type TokenValidation,
  type TokenValidator,
} from './token-validator.js';

export interface JwtValidatorOptions {
  readonly maxTokenBytes: number;
  readonly clockSkewS: number;
  /** See PipelineOptions.keysForUnknownKid. */
  readonly keysForUnknownKid?:
    ((issuer: string, kid: string) => Promise<IssuerKeys | undefined>) | undefined;
  /** See PipelineOptions.keysRefreshedAt. */
  readonly keysRefreshedAt?: KeysRefreshedAt | undefined;
  /** Verified JWTs, one cache per key set (owned by the authenticator, not the snapshot). */
  readonly tokenCaches: VerifiedTokenCaches;
}

/**
 * JWT access tokens (RFC 7519, RFC 9068), verified against the snapshot's issuer keys. The
 * last validator in the list: it takes every token no other one accepts, so an opaque
 * token on an API without introspection is refused here as malformed.
 */
export class JwtValidator implements TokenValidator {
  constructor(private readonly options: JwtValidatorOptions) {}

  accepts(): boolean {
    return true;
  }

  async validate(
    { token }: PresentedToken,
    snapshot: Snapshot,
    auth: ApiAuth,
  ): Promise<TokenValidation> {
    const requirements: VerifyRequirements = {
      issuers: auth.issuers,
      audiences: auth.audiences,
      maxTokenBytes: this.options.maxTokenBytes,
      defaultClockSkewS: this.options.clockSkewS,
    };
    const verified = await this.verifyToken(token, snapshot, requirements);
    if (!verified.ok) return authFailure(verified.code, verified.reason);
    const stale = this.staleKeys(verified.issuer, snapshot);
    if (stale !== undefined) return authFailure('GH_ERR_ISSUER_KEYS_STALE', stale);
    return { ok: true, claims: verified.claims };
  }

  /** The issuer's maxKeyStalenessS, against when its keys were last loaded (read live). */
  private staleKeys(issuer: string, snapshot: Snapshot): string | undefined {
    const config = snapshot.issuers.get(issuer)?.config;
    if (config?.maxKeyStalenessS === undefined) return undefined;
    return staleKeysReason(config, this.options.keysRefreshedAt?.(issuer), Date.now());
  }

  /**
   * Verifies a JWT, from the snapshot's cache when it verified before under the same
   * requirements. A token naming an unknown kid gets one rate-limited key refresh.
   */
  private async verifyToken(
    token: string,
    snapshot: Snapshot,
    requirements: VerifyRequirements,
  ): Promise<VerifyResult> {
    const requirementsKey = `${requirements.issuers?.join(' ') ?? '*'}\0${requirements.audiences?.join(' ') ?? '*'}`;
    const tokenCache = this.options.tokenCaches.for(snapshot);
    const cached = tokenCache.get(token, requirementsKey);
    if (cached !== undefined) return { ok: true, claims: cached.claims, issuer: cached.issuer };

    let verified = await verifyJwt(token, snapshot.issuers, requirements);
    const refresh = this.options.keysForUnknownKid;
    if (!verified.ok && verified.unknownKid !== undefined && refresh !== undefined) {
      // Keys may have rotated since this snapshot: verify once more with fresh keys.
      const { issuer, kid } = verified.unknownKid;
      const fresh = await refresh(issuer, kid);
      if (fresh !== undefined) {
        verified = await verifyJwt(
          token,
          new Map(snapshot.issuers).set(issuer, fresh),
          requirements,
        );
      }
    }
    if (verified.ok) {
      const skewS =
        snapshot.issuers.get(verified.issuer)?.config.clockSkewS ?? requirements.defaultClockSkewS;
      tokenCache.set(token, requirementsKey, verified, skewS);
    }
    return verified;
  }
}
