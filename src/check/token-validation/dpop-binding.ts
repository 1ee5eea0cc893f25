import type { JWTPayload } from 'jose';
import { checkDpopBinding } from '../../auth/dpop/bound-token.js';
import { readDpopProof } from '../../auth/dpop/dpop-credential.js';
import { DPOP_FAILURES, type DpopFailure } from '../../auth/dpop/dpop-failures.js';
import { perProcessDpopNonces, type DpopNonces } from '../../auth/dpop/nonce.js';
import type { DpopReplayStore } from '../../auth/dpop/replay-store.js';
import { verifyDpopProof } from '../../auth/dpop/verify-dpop-proof.js';
import type { ApiAuth } from '../../routes/catalog.js';
import type { CheckInput } from '../check-input.js';
import type { HeaderList } from '../../decision/decision.js';
import type { DenyCode } from '../../decision/deny-codes.js';
import type { BindingCheck, BindingOutcome, PresentedToken } from './token-validator.js';

export interface DpopSettings {
  readonly algorithms: readonly string[];
  readonly iatWindowS: number;
  readonly replay: DpopReplayStore;
  /** Server nonces for APIs with `dpopNonce: required`; default: a per-process secret. */
  readonly nonces?: DpopNonces | undefined;
}

/**
 * RFC 9449: with the DPoP scheme, the proof must be valid for this request and its key
 * must be the one the token is bound to; a DPoP-bound token sent as Bearer is refused.
 * On a nonce API (`auth.dpopNonce: required`), DPoP clients are told the nonce to use
 * (sections 8 and 9): on an allow, and with a `use_dpop_nonce` deny.
 */
export class DpopBinding implements BindingCheck {
  constructor(private readonly settings: DpopSettings) {}

  async check(
    input: CheckInput,
    { scheme, token }: PresentedToken,
    claims: JWTPayload,
    auth: ApiAuth,
  ): Promise<BindingOutcome> {
    const nonces =
      auth.dpopNonce === 'required' ? (this.settings.nonces ?? perProcessDpopNonces()) : undefined;
    const failure = await this.failure(input, scheme, token, claims, nonces);
    // Read after the proof check: if the nonce window turned meanwhile, the newest one.
    const nonceHeader: HeaderList =
      nonces === undefined || scheme !== 'DPoP' ? [] : [['dpop-nonce', nonces.current()]];
    if (failure === undefined) {
      return nonceHeader.length === 0 ? { ok: true } : { ok: true, responseHeaders: nonceHeader };
    }
    const code = dpopDenyCode(failure);
    return code === 'GH_ERR_DPOP_NONCE'
      ? { ok: false, code, reason: failure.reason, detail: failure.code, headers: nonceHeader }
      : { ok: false, code, reason: failure.reason, detail: failure.code };
  }

  /** The failure, or undefined when the proof (if any) and the binding hold. */
  private async failure(
    input: CheckInput,
    scheme: PresentedToken['scheme'],
    token: string,
    claims: JWTPayload,
    nonces: DpopNonces | undefined,
  ): Promise<DpopFailure | undefined> {
    let jkt: string | undefined;
    if (scheme === 'DPoP') {
      const proof = readDpopProof(input.headers);
      if (proof.kind === 'none') {
        return {
          ok: false,
          code: 'GH_DPOP_PROOF_MISSING',
          reason: 'DPoP scheme without a DPoP proof',
        };
      }
      if (proof.kind === 'malformed') return { ok: false, code: proof.code, reason: proof.reason };
      const result = await verifyDpopProof(
        { proof: proof.proof, method: input.method, url: requestUrl(input), accessToken: token },
        { ...this.settings, nonce: nonces },
      );
      if (!result.ok) return result;
      jkt = result.jkt;
    }
    const binding = checkDpopBinding(claims, jkt, scheme);
    return binding.ok ? undefined : binding;
  }
}

/** The request URL as the client addressed it, for the proof's htu (query is ignored there). */
function requestUrl(input: CheckInput): string {
  const scheme = input.scheme === '' ? 'https' : input.scheme.toLowerCase();
  return `${scheme}://${input.host}${input.path}`;
}

/**
 * Proof problems answer `DPoP error="invalid_dpop_proof"`, a missing or stale nonce
 * `use_dpop_nonce`; binding problems `invalid_token`.
 */
function dpopDenyCode(failure: DpopFailure): DenyCode {
  // Not the client's fault, and a new proof would fare no better: no DPoP challenge.
  if (failure.code === 'GH_DPOP_REPLAY_STORE_UNAVAILABLE') return 'GH_ERR_DPOP_REPLAY_UNCHECKED';
  switch (DPOP_FAILURES[failure.code].error) {
    case 'invalid_dpop_proof':
      return 'GH_ERR_DPOP_PROOF';
    case 'use_dpop_nonce':
      return 'GH_ERR_DPOP_NONCE';
    case 'invalid_token':
      return 'GH_ERR_TOKEN_BINDING';
  }
}
