import type { JWTPayload } from 'jose';
import { readBearerCredential } from '../auth/bearer-credential.js';
import { looksLikeCompactJws } from '../auth/compact-jws.js';
import { checkDpopBinding, type TokenScheme } from '../auth/dpop/bound-token.js';
import { readDpopCredential, readDpopProof } from '../auth/dpop/dpop-credential.js';
import { DPOP_FAILURES, type DpopFailure } from '../auth/dpop/dpop-failures.js';
import { perProcessDpopNonces, type DpopNonces } from '../auth/dpop/nonce.js';
import type { DpopReplayStore } from '../auth/dpop/replay-store.js';
import { verifyDpopProof } from '../auth/dpop/verify-dpop-proof.js';
import { checkCertificateBinding } from '../auth/certificate/certificate-binding.js';
import { presentedCertificate } from '../auth/certificate/presented-certificate.js';
import { introspectionDenyCode } from '../auth/introspection/deny-intent.js';
import type { IntrospectionResult } from '../auth/introspection/introspection-client.js';
import type { IssuerKeys } from '../auth/issuer-keys.js';
import { staleKeysReason, type KeysRefreshedAt } from '../auth/key-freshness.js';
import { verifyJwt, type VerifyRequirements, type VerifyResult } from '../auth/jwt-verifier.js';
import { hasRequiredScopes } from '../auth/scopes.js';
import { otherTokenLocation } from '../auth/token-locations.js';
import type { ApiAuth } from '../routes/catalog.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import type { CheckInput } from './check-input.js';
import type { HeaderList } from './decision.js';
import type { DenyCode } from './deny-codes.js';

export interface DpopSettings {
  readonly algorithms: readonly string[];
  readonly iatWindowS: number;
  readonly replay: DpopReplayStore;
  /** Server nonces for APIs with `dpopNonce: required`; default: a per-process secret. */
  readonly nonces?: DpopNonces | undefined;
}

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
}

type AuthFailure = Extract<AuthOutcome, { readonly ok: false }>;

/** What the authenticator needs of an introspection client (see IssuerIntrospector). */
export interface TokenIntrospector {
  introspect(token: string): Promise<IntrospectionResult>;
}

export type AuthOutcome =
  | {
      readonly ok: true;
      readonly claims: JWTPayload | undefined;
      /** For the client's response: a fresh `DPoP-Nonce` on nonce APIs. */
      readonly responseHeaders?: HeaderList;
    }
  | {
      readonly ok: false;
      readonly code: DenyCode;
      readonly reason: string;
      /** For an insufficient_scope challenge. */
      readonly scopes?: readonly string[];
      /** Besides the challenge: the `DPoP-Nonce` to use (RFC 9449 section 9). */
      readonly headers?: HeaderList;
    };

/**
 * Step 2 of the pipeline: what the matched API accepts. Reads the credential (Bearer, or
 * DPoP with its proof), verifies the token, checks its binding to the proof key, then
 * its scopes. Each failure carries the deny code that decides the answer.
 */
export class Authenticator {
  constructor(private readonly options: AuthenticatorOptions) {}

  async authenticate(input: CheckInput, snapshot: Snapshot, auth: ApiAuth): Promise<AuthOutcome> {
    if (auth.mode === 'none') return { ok: true, claims: undefined };

    const credential = readCredential(input.headers);
    if (credential.kind === 'malformed') return fail('GH_ERR_INVALID_REQUEST', credential.reason);
    if (credential.kind === 'none') {
      return auth.mode === 'required'
        ? fail('GH_ERR_NO_CREDENTIAL', 'no access token')
        : { ok: true, claims: undefined };
    }
    const elsewhere = otherTokenLocation(input);
    if (elsewhere !== undefined) {
      return fail(
        'GH_ERR_INVALID_REQUEST',
        `a token in the Authorization header and the ${elsewhere}`,
      );
    }

    const requirements: VerifyRequirements = {
      issuers: auth.issuers,
      audiences: auth.audiences,
      maxTokenBytes: this.options.maxTokenBytes,
      defaultClockSkewS: this.options.clockSkewS,
    };
    const introspector = isCompactJws(credential.token) ? undefined : this.introspectorFor(auth);
    let claims: JWTPayload;
    if (introspector === undefined) {
      const verified = await this.verifyToken(credential.token, snapshot, requirements);
      if (!verified.ok) return fail(verified.code, verified.reason);
      const stale = this.staleKeys(verified.issuer, snapshot);
      if (stale !== undefined) return fail('GH_ERR_ISSUER_KEYS_STALE', stale);
      claims = verified.claims;
    } else {
      const introspected = await this.introspect(introspector, credential.token, snapshot, auth);
      if (!introspected.ok) return introspected;
      claims = introspected.claims;
    }

    const nonces = auth.dpopNonce === 'required' ? this.dpopNonces() : undefined;
    const binding = await this.checkDpop(
      input,
      credential.scheme,
      credential.token,
      claims,
      nonces,
    );
    // RFC 9449 sections 8 and 9: a nonce API tells DPoP clients the nonce to use.
    const nonceHeader: HeaderList =
      nonces === undefined || credential.scheme !== 'DPoP'
        ? []
        : [['dpop-nonce', nonces.current()]];
    if (binding !== undefined) {
      const code = dpopDenyCode(binding);
      return code === 'GH_ERR_DPOP_NONCE'
        ? { ok: false, code, reason: binding.reason, headers: nonceHeader }
        : fail(code, binding.reason);
    }
    const certificateProblem = checkCertificate(input, claims);
    if (certificateProblem !== undefined) return fail('GH_ERR_TOKEN_BINDING', certificateProblem);

    if (!hasRequiredScopes(claims, auth.scopes, auth.scopesMatch)) {
      const needed = `${auth.scopesMatch} of: ${auth.scopes.join(' ')}`;
      return {
        ok: false,
        code: 'GH_ERR_SCOPE_MISSING',
        reason: `the token lacks the scopes (${needed})`,
        scopes: auth.scopes,
      };
    }
    return nonceHeader.length === 0
      ? { ok: true, claims }
      : { ok: true, claims, responseHeaders: nonceHeader };
  }

  private dpopNonces(): DpopNonces {
    return this.options.dpop.nonces ?? perProcessDpopNonces();
  }

  /** The issuer's maxKeyStalenessS, against when its keys were last loaded (read live). */
  private staleKeys(issuer: string, snapshot: Snapshot): string | undefined {
    const config = snapshot.issuers.get(issuer)?.config;
    if (config?.maxKeyStalenessS === undefined) return undefined;
    return staleKeysReason(config, this.options.keysRefreshedAt?.(issuer), Date.now());
  }

  /** The introspection of the first issuer this API accepts that has one. */
  private introspectorFor(auth: ApiAuth): [string, TokenIntrospector] | undefined {
    const introspectors = this.options.introspectors;
    if (introspectors === undefined) return undefined;
    for (const [issuer, introspector] of introspectors) {
      if (auth.issuers === undefined || auth.issuers.includes(issuer))
        return [issuer, introspector];
    }
    return undefined;
  }

  /**
   * RFC 7662: an opaque token is asked about at its issuer. Inactive is an invalid token;
   * no answer is an explicit deny (never an allow). An active answer must not name another
   * issuer or only other audiences (RFC 7662 section 2.2 iss, aud).
   */
  private async introspect(
    [issuer, introspector]: [string, TokenIntrospector],
    token: string,
    snapshot: Snapshot,
    auth: ApiAuth,
  ): Promise<{ readonly ok: true; readonly claims: JWTPayload } | AuthFailure> {
    if (token.length > this.options.maxTokenBytes) {
      return {
        ok: false,
        code: 'GH_ERR_TOKEN_TOO_LARGE',
        reason: `token is over ${this.options.maxTokenBytes} bytes`,
      };
    }
    const result = await introspector.introspect(token);
    if (result.kind !== 'active') {
      const reason = result.kind === 'inactive' ? `inactive at ${issuer}` : result.reason;
      return { ok: false, code: introspectionDenyCode(result) ?? 'GH_ERR_INTERNAL', reason };
    }
    const claims = result.claims as JWTPayload;
    if (claims.iss !== undefined && claims.iss !== issuer) {
      return {
        ok: false,
        code: 'GH_ERR_TOKEN_ISSUER',
        reason: `introspected iss "${claims.iss}" is not ${issuer}`,
      };
    }
    const accepted = auth.audiences ?? snapshot.issuers.get(issuer)?.config.audiences ?? [];
    const audiences = claims.aud === undefined ? undefined : [claims.aud].flat();
    if (audiences !== undefined && !audiences.some((aud) => accepted.includes(aud))) {
      return {
        ok: false,
        code: 'GH_ERR_TOKEN_AUDIENCE',
        reason: 'introspected aud names none of the accepted audiences',
      };
    }
    return { ok: true, claims };
  }

  /**
   * RFC 9449: with the DPoP scheme, the proof must be valid for this request and its key
   * must be the one the token is bound to; a DPoP-bound token sent as Bearer is refused.
   * Returns the failure, or undefined when the binding holds.
   */
  private async checkDpop(
    input: CheckInput,
    scheme: TokenScheme,
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
          code: 'DPOP_ERR_PROOF_MISSING',
          reason: 'DPoP scheme without a DPoP proof',
        };
      }
      if (proof.kind === 'malformed') return { ok: false, code: proof.code, reason: proof.reason };
      const result = await verifyDpopProof(
        { proof: proof.proof, method: input.method, url: requestUrl(input), accessToken: token },
        { ...this.options.dpop, nonce: nonces },
      );
      if (!result.ok) return result;
      jkt = result.jkt;
    }
    const binding = checkDpopBinding(claims, jkt, scheme);
    return binding.ok ? undefined : binding;
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
    const cached = snapshot.tokenCache.get(token, requirementsKey);
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
      snapshot.tokenCache.set(token, requirementsKey, verified, skewS);
    }
    return verified;
  }
}

/**
 * RFC 8705 section 3: a token with cnf.x5t#S256 is good only with that client certificate:
 * Envoy's peer certificate, or one a trusted proxy forwarded. Returns the problem, if any.
 */
function checkCertificate(input: CheckInput, claims: JWTPayload): string | undefined {
  // Most tokens are unbound: skip the certificate parsing for them.
  if (claims.cnf === undefined) return undefined;
  const presented = presentedCertificate({
    peerCertificate: input.source.certificate,
    headers: input.headers,
    peerTrusted: input.peerTrusted ?? false,
  });
  const result = checkCertificateBinding(
    claims,
    presented.kind === 'presented' ? presented : undefined,
  );
  if (result.ok) return undefined;
  return presented.kind === 'invalid' ? `${result.reason} (${presented.reason})` : result.reason;
}

type Credential =
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed'; readonly reason: string }
  | { readonly kind: 'token'; readonly scheme: TokenScheme; readonly token: string };

/** `Authorization: DPoP <token>` (RFC 9449 section 7.1) or `Bearer <token>` (RFC 6750). */
function readCredential(headers: Readonly<Record<string, string>>): Credential {
  const dpop = readDpopCredential(headers);
  if (dpop.kind === 'malformed') return dpop;
  if (dpop.kind === 'dpop') return { kind: 'token', scheme: 'DPoP', token: dpop.token };
  const bearer = readBearerCredential(headers);
  if (bearer.kind === 'bearer') return { kind: 'token', scheme: 'Bearer', token: bearer.token };
  return bearer;
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
  if (failure.code === 'DPOP_ERR_REPLAY_STORE_UNAVAILABLE') return 'GH_ERR_DPOP_REPLAY_UNCHECKED';
  switch (DPOP_FAILURES[failure.code].error) {
    case 'invalid_dpop_proof':
      return 'GH_ERR_DPOP_PROOF';
    case 'use_dpop_nonce':
      return 'GH_ERR_DPOP_NONCE';
    case 'invalid_token':
      return 'GH_ERR_TOKEN_BINDING';
  }
}

/**
 * Three base64url parts: a JWS. Anything else is opaque to us (RFC 7515 section 7.1). A
 * padded or base64 re-spelling of a JWS counts as one: verifyJwt refuses it as malformed,
 * and it is never sent to introspection.
 */
function isCompactJws(token: string): boolean {
  return looksLikeCompactJws(token);
}

function fail(code: DenyCode, reason: string): AuthOutcome {
  return { ok: false, code, reason };
}
