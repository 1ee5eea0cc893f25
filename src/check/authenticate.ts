import type { JWTPayload } from 'jose';
import { readBearerCredential } from '../auth/bearer-credential.js';
import { readDpopCredential } from '../auth/dpop/dpop-credential.js';
import type { IssuerKeys } from '../auth/issuer-keys.js';
import type { KeysRefreshedAt } from '../auth/key-freshness.js';
import {
  VerifiedTokenCaches,
  type VerifiedTokenCacheOptions,
} from '../auth/verified-token-cache.js';
import { hasRequiredScopes } from '../auth/scopes.js';
import { otherTokenLocation } from '../auth/token-locations.js';
import type { ApiAuth } from '../routes/catalog.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import type { CheckInput } from './check-input.js';
import type { HeaderList } from '../decision/decision.js';
import { CertificateBinding } from './token-validation/certificate-binding-check.js';
import { DpopBinding, type DpopSettings } from './token-validation/dpop-binding.js';
import {
  IntrospectionValidator,
  type TokenIntrospector,
} from './token-validation/introspection-validator.js';
import { JwtValidator } from './token-validation/jwt-validator.js';
import {
  authFailure,
  type AuthFailure,
  type BindingCheck,
  type PresentedToken,
  type TokenValidator,
} from './token-validation/token-validator.js';

export type { DpopSettings, TokenIntrospector };

export interface AuthenticatorOptions {
  readonly maxTokenBytes: number;
  readonly clockSkewS: number;
  readonly dpop: DpopSettings;
  /** RFC 7662 introspection by issuer, for opaque (non-JWT) tokens. */
  readonly introspectors?: ReadonlyMap<string, TokenIntrospector> | undefined;
  /** See PipelineOptions.keysForUnknownKid. */
  readonly keysForUnknownKid?:
    ((issuer: string, kid: string) => Promise<IssuerKeys | undefined>) | undefined;
  /** See PipelineOptions.keysRefreshedAt. */
  readonly keysRefreshedAt?: KeysRefreshedAt | undefined;
  /** Verified JWTs: one cache per key set, kept here because the snapshot is frozen. */
  readonly tokenCache: VerifiedTokenCacheOptions;
}

export type AuthOutcome =
  | {
      readonly ok: true;
      readonly claims: JWTPayload | undefined;
      /** For the client's response: a fresh `DPoP-Nonce` on nonce APIs. */
      readonly responseHeaders?: HeaderList;
    }
  | AuthFailure;

/**
 * Step 2 of the pipeline: what the matched API accepts. Reads the credential (Bearer, or
 * DPoP with its proof), has the first validator that accepts the token verify it, runs
 * every binding check (DPoP proof key, client certificate), then checks the scopes. Each
 * failure carries the deny code that decides the answer.
 */
export class Authenticator {
  /** In order: the first that accepts a token validates it; JWT takes the rest. */
  private readonly validators: readonly TokenValidator[];
  /** All run, in order, on every validated token. */
  private readonly bindings: readonly BindingCheck[];

  /** Verified JWTs, per key set: mutable, so here and not in the frozen snapshot. */
  readonly tokenCaches: VerifiedTokenCaches;

  constructor(options: AuthenticatorOptions) {
    this.tokenCaches = new VerifiedTokenCaches(options.tokenCache);
    this.validators = [
      ...(options.introspectors === undefined
        ? []
        : [new IntrospectionValidator(options.introspectors, options.maxTokenBytes)]),
      new JwtValidator({ ...options, tokenCaches: this.tokenCaches }),
    ];
    this.bindings = [new DpopBinding(options.dpop), new CertificateBinding()];
  }

  async authenticate(input: CheckInput, snapshot: Snapshot, auth: ApiAuth): Promise<AuthOutcome> {
    if (auth.mode === 'none') return { ok: true, claims: undefined };

    const credential = readCredential(input.headers);
    if (credential.kind === 'malformed') {
      return authFailure('GH_ERR_INVALID_REQUEST', credential.reason);
    }
    if (credential.kind === 'none') {
      return auth.mode === 'required'
        ? authFailure('GH_ERR_NO_CREDENTIAL', 'no access token')
        : { ok: true, claims: undefined };
    }
    const elsewhere = otherTokenLocation(input);
    if (elsewhere !== undefined) {
      return authFailure(
        'GH_ERR_INVALID_REQUEST',
        `a token in the Authorization header and the ${elsewhere}`,
      );
    }

    const validator = this.validators.find((candidate) => candidate.accepts(credential, auth));
    if (validator === undefined) return authFailure('GH_ERR_INTERNAL', 'no token validator');
    const validated = await validator.validate(credential, snapshot, auth);
    if (!validated.ok) return validated;
    const claims = validated.claims;

    const responseHeaders: Array<readonly [string, string]> = [];
    for (const binding of this.bindings) {
      const bound = await binding.check(input, credential, claims, auth);
      if (!bound.ok) return bound;
      if (bound.responseHeaders !== undefined) responseHeaders.push(...bound.responseHeaders);
    }

    if (!hasRequiredScopes(claims, auth.scopes, auth.scopesMatch)) {
      const needed = `${auth.scopesMatch} of: ${auth.scopes.join(' ')}`;
      return {
        ok: false,
        code: 'GH_ERR_SCOPE_MISSING',
        reason: `the token lacks the scopes (${needed})`,
        scopes: auth.scopes,
      };
    }
    return responseHeaders.length === 0
      ? { ok: true, claims }
      : { ok: true, claims, responseHeaders };
  }
}

type Credential =
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed'; readonly reason: string }
  | ({ readonly kind: 'token' } & PresentedToken);

/** `Authorization: DPoP <token>` (RFC 9449 section 7.1) or `Bearer <token>` (RFC 6750). */
function readCredential(headers: Readonly<Record<string, string>>): Credential {
  const dpop = readDpopCredential(headers);
  if (dpop.kind === 'malformed') return dpop;
  if (dpop.kind === 'dpop') return { kind: 'token', scheme: 'DPoP', token: dpop.token };
  const bearer = readBearerCredential(headers);
  if (bearer.kind === 'bearer') return { kind: 'token', scheme: 'Bearer', token: bearer.token };
  return bearer;
}
