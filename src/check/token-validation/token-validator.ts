import type { JWTPayload } from 'jose';
import type { TokenScheme } from '../../auth/dpop/bound-token.js';
import type { ApiAuth } from '../../routes/catalog.js';
import type { Snapshot } from '../../snapshot/snapshot.js';
import type { CheckInput } from '../check-input.js';
import type { HeaderList } from '../../decision/decision.js';
import type { DenyCode } from '../../decision/deny-codes.js';

/**
 * The two seams of the authenticate step. A token type (JWT, an opaque token by
 * introspection, ...) is one TokenValidator; a way a token is bound to its sender (DPoP,
 * a client certificate) is one BindingCheck. Adding either is one file plus its tests and
 * one entry in the Authenticator's lists; the orchestration does not change.
 */

/** The access token a request carries and the scheme it came with (RFC 6750, RFC 9449). */
export interface PresentedToken {
  readonly scheme: TokenScheme;
  readonly token: string;
}

/** A failed step: the deny code that decides the answer, and what the logs say. */
export interface AuthFailure {
  readonly ok: false;
  readonly code: DenyCode;
  readonly reason: string;
  /**
   * The finer cause, from a closed set of src/errors/error-codes.ts (a GH_DPOP_*,
   * GH_CERT_* or GH_INTROSPECTION_* code): the deny's `detail` in logs and metrics.
   */
  readonly detail?: string;
  /** For an insufficient_scope challenge. */
  readonly scopes?: readonly string[];
  /** Besides the challenge: the `DPoP-Nonce` to use (RFC 9449 section 9). */
  readonly headers?: HeaderList;
}

export type TokenValidation = { readonly ok: true; readonly claims: JWTPayload } | AuthFailure;

export interface TokenValidator {
  /** Whether this validator is the one for the token, on an API with this auth. */
  accepts(token: PresentedToken, auth: ApiAuth): boolean;
  /** The token's verified claims, or why it is not accepted. Never throws for a bad token. */
  validate(token: PresentedToken, snapshot: Snapshot, auth: ApiAuth): Promise<TokenValidation>;
}

export type BindingOutcome =
  | {
      readonly ok: true;
      /** For the client's response on an allow, e.g. a fresh `DPoP-Nonce`. */
      readonly responseHeaders?: HeaderList;
    }
  | AuthFailure;

export interface BindingCheck {
  /**
   * Whether the token may be used by this request, given its verified claims. A token
   * without the binding this check is about passes (`ok: true`) unless the request claims
   * one it does not have.
   */
  check(
    input: CheckInput,
    token: PresentedToken,
    claims: JWTPayload,
    auth: ApiAuth,
  ): Promise<BindingOutcome>;
}

export function authFailure(code: DenyCode, reason: string, detail?: string): AuthFailure {
  return detail === undefined ? { ok: false, code, reason } : { ok: false, code, reason, detail };
}
