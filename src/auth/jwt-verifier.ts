import {
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type ProtectedHeaderParameters,
} from 'jose';
import type { DenyCode } from '../decision/deny-codes.js';
import { compactJwsProblem } from './compact-jws.js';
import { fastPathCovers, verifySignature, type FastKeySet } from './fast-jws-keys.js';
import type { IssuerKeys } from './issuer-keys.js';
import { claimFailure, joseNowS, type ClaimRules } from './jwt-claim-rules.js';

export interface VerifyRequirements {
  /** Issuers accepted for this API (their `issuer` values); undefined = all configured. */
  readonly issuers: readonly string[] | undefined;
  /** Audiences accepted for this API; undefined = the issuer's configured audiences. */
  readonly audiences: readonly string[] | undefined;
  readonly maxTokenBytes: number;
  readonly defaultClockSkewS: number;
  /** The current time, in epoch seconds; default: the system clock. */
  readonly nowS?: number;
}

export type VerifyResult =
  | {
      readonly ok: true;
      readonly claims: JWTPayload;
      readonly issuer: string;
      /** With the issuer's maxTokenAgeS: iat + maxTokenAgeS, past which this verdict ends. */
      readonly notAfterS?: number;
    }
  | {
      readonly ok: false;
      readonly code: DenyCode;
      readonly reason: string;
      /** Set when the issuer is known but not the token's key: a refresh may help. */
      readonly unknownKid?: { readonly issuer: string; readonly kid: string };
    };

/**
 * Verifies a JWT access token against the snapshot's issuers (RFC 7519, RFC 8725):
 * size first, then structure, then the issuer named by `iss` picks the keys, algorithms
 * and audiences, and the signature, exp, nbf, iss and aud are checked: synchronously with
 * node:crypto for the public-key algorithms (fast-jws-keys.ts, deciding as jose does), by
 * jose for the rest (HS*, a crit header).
 */
export async function verifyJwt(
  token: string,
  issuers: ReadonlyMap<string, IssuerKeys>,
  requirements: VerifyRequirements,
): Promise<VerifyResult> {
  if (token.length > requirements.maxTokenBytes) {
    return fail(
      'GH_ERR_TOKEN_TOO_LARGE',
      `token is ${token.length} bytes, over ${requirements.maxTokenBytes}`,
    );
  }
  const parts = token.split('.');
  if (parts.length === 5)
    return fail('GH_ERR_TOKEN_MALFORMED', 'encrypted tokens (JWE) are not accepted');
  if (parts.length !== 3) return fail('GH_ERR_TOKEN_MALFORMED', 'not a compact JWS');
  // Before anything decodes it: only one spelling of a token is that token (compact-jws.ts).
  const encodingProblem = compactJwsProblem(token);
  if (encodingProblem !== undefined) return fail('GH_ERR_TOKEN_MALFORMED', encodingProblem);

  let header: ProtectedHeaderParameters;
  let decoded: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    decoded = decodeJwt(token);
  } catch (error) {
    return fail('GH_ERR_TOKEN_MALFORMED', `cannot decode token: ${errorText(error)}`);
  }
  const { alg, kid } = header;
  const iss: unknown = decoded.iss;
  const headerProblem = checkHeader(header);
  if (headerProblem !== undefined) return fail('GH_ERR_TOKEN_HEADER', headerProblem);
  // RFC 7515 section 4.1.1: alg is a string; a header is attacker input, so it may not be.
  if (typeof alg !== 'string' || alg.toLowerCase() === 'none') {
    return fail('GH_ERR_TOKEN_ALG', `algorithm "${alg ?? '(missing)'}" is never accepted`);
  }
  if (typeof iss !== 'string') return fail('GH_ERR_TOKEN_ISSUER', 'token has no iss claim');
  const keys = issuers.get(iss);
  if (
    keys === undefined ||
    (requirements.issuers !== undefined && !requirements.issuers.includes(iss))
  ) {
    return fail('GH_ERR_TOKEN_ISSUER', `issuer "${iss}" is not accepted here`);
  }
  const config = keys.config;
  if (!(config.algorithms as readonly string[]).includes(alg)) {
    return fail('GH_ERR_TOKEN_ALG', `algorithm ${alg} is not allowed for issuer ${iss}`);
  }
  // RFC 9068 section 4: an access-token resource server may insist on typ "at+jwt", which
  // also keeps ID tokens and other JWTs of the issuer from passing as access tokens.
  if (config.requireTypAtJwt && !AT_JWT_TYPES.has((header.typ ?? '').toLowerCase())) {
    return fail('GH_ERR_TOKEN_HEADER', `typ "${header.typ ?? '(missing)'}" is not at+jwt`);
  }
  const key = alg.startsWith('HS') ? keys.hmacSecret : keys.jwks;
  if (key === undefined) {
    return {
      ok: false,
      code: 'GH_ERR_TOKEN_KEY_UNKNOWN',
      reason: `issuer ${iss} has no key for ${alg}`,
      unknownKid: { issuer: iss, kid: typeof kid === 'string' ? kid : '' },
    };
  }

  const nowS = requirements.nowS ?? Math.floor(Date.now() / 1000);
  const skewS = config.clockSkewS ?? requirements.defaultClockSkewS;
  const audience = [...(requirements.audiences ?? config.audiences)];
  // Access tokens must expire (RFC 9068 section 2.2); more where the issuer says so.
  const requiredClaims = ['exp', ...config.requiredClaims];
  // The fast path covers what jose verifies with a JWKS key and no extension header (crit,
  // RFC 7515 section 4.1.11, b64 of RFC 7797): those, and odd clock inputs jose refuses
  // as a TypeError, stay with jose so the decision is jose's own.
  const fastKeys =
    !(key instanceof Uint8Array) &&
    header.crit === undefined &&
    fastPathCovers(alg) &&
    Number.isFinite(skewS) &&
    skewS >= 0 &&
    Number.isFinite(nowS)
      ? keys.fastKeys
      : undefined;
  let payload: JWTPayload;
  if (fastKeys !== undefined) {
    const verdict = verifyWithFastKeys(token, decoded, header, fastKeys, {
      issuer: iss,
      audiences: audience,
      clockToleranceS: skewS,
      nowS: joseNowS(nowS),
      requiredClaims,
    });
    if (!verdict.ok) return withUnknownKid(verdict, iss, kid);
    payload = verdict.claims;
  } else {
    try {
      const options = {
        issuer: iss,
        audience,
        algorithms: [...config.algorithms],
        clockTolerance: skewS,
        currentDate: new Date(nowS * 1000),
        requiredClaims,
      };
      ({ payload } =
        key instanceof Uint8Array
          ? await jwtVerify(token, key, options)
          : await jwtVerify(token, key satisfies JWTVerifyGetKey, options));
    } catch (error) {
      return withUnknownKid(mapJoseError(error), iss, kid);
    }
  }
  const claimProblem = checkClaimTypes(payload);
  if (claimProblem !== undefined) return fail('GH_ERR_TOKEN_CLAIMS', claimProblem);
  const iatProblem = checkIssuedAt(payload.iat, nowS, skewS, config.maxTokenAgeS);
  if (iatProblem !== undefined) return iatProblem;
  const maxAgeS = config.maxTokenAgeS;
  return maxAgeS === undefined || payload.iat === undefined
    ? { ok: true, claims: payload, issuer: iss }
    : { ok: true, claims: payload, issuer: iss, notAfterS: payload.iat + maxAgeS };
}

/** An unknown key may be a rotation: the caller may refresh the issuer's keys once. */
function withUnknownKid(result: VerifyResult, iss: string, kid: string | undefined): VerifyResult {
  if (!result.ok && result.code === 'GH_ERR_TOKEN_KEY_UNKNOWN') {
    return { ...result, unknownKid: { issuer: iss, kid: typeof kid === 'string' ? kid : '' } };
  }
  return result;
}

type FastVerdict =
  | { readonly ok: true; readonly claims: JWTPayload }
  | { readonly ok: false; readonly code: DenyCode; readonly reason: string };

/**
 * jose's jwtVerify for a compact JWS with a JWKS key, synchronously: key selection, import
 * outcome, signature (RFC 7515 section 5.2), then the claim rules, each failure with the
 * deny code mapJoseError gives jose's error for it. `decoded` is the payload the caller
 * already parsed from the same (strictly encoded, so ASCII) token.
 */
function verifyWithFastKeys(
  token: string,
  decoded: JWTPayload,
  header: ProtectedHeaderParameters,
  keys: FastKeySet,
  rules: ClaimRules,
): FastVerdict {
  const alg = header.alg ?? '';
  const selection = keys.select(alg, header.kid);
  if (selection.kind === 'none') {
    return fail('GH_ERR_TOKEN_KEY_UNKNOWN', 'no applicable key found in the JSON Web Key Set');
  }
  if (selection.kind === 'multiple') {
    return fail(
      'GH_ERR_TOKEN_MALFORMED',
      'ERR_JWKS_MULTIPLE_MATCHING_KEYS: multiple matching keys found in the JSON Web Key Set',
    );
  }
  if (selection.kind === 'unusable') return fail('GH_ERR_TOKEN_MALFORMED', selection.reason);
  const dot = token.lastIndexOf('.');
  const signingInput = Buffer.from(token.slice(0, dot), 'latin1');
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  if (!verifySignature(alg, selection.key, signingInput, signature)) {
    return fail('GH_ERR_TOKEN_SIGNATURE', 'signature verification failed');
  }
  const failure = claimFailure(decoded, rules);
  if (failure !== undefined) {
    return failure.expired
      ? fail('GH_ERR_TOKEN_EXPIRED', failure.reason)
      : fail(claimCode(failure.claim), claimReason(failure.claim, failure.reason));
  }
  return { ok: true, claims: decoded };
}

const AT_JWT_TYPES = new Set(['at+jwt', 'application/at+jwt']);

/** JWT types that are never access tokens (a DPoP proof, a logout token, ...). */
const FOREIGN_TYPES = new Set([
  'dpop+jwt',
  'logout+jwt',
  'secevent+jwt',
  'token-introspection+jwt',
  'jwt-bearer+jwt',
]);

/**
 * RFC 8725 section 3.10 and 2.6: keys come from configuration only. A token that names its
 * own key (jwk), or where to fetch one (jku, x5u, x5c), is refused outright rather than
 * ignored, so a confused deputy elsewhere can never be steered by it.
 */
function checkHeader(header: ProtectedHeaderParameters): string | undefined {
  for (const hint of ['jwk', 'jku', 'x5u', 'x5c'] as const) {
    if (header[hint] !== undefined) return `header "${hint}" (a key hint) is not accepted`;
  }
  // RFC 7515 section 4.1.9: typ is a string; anything else is a malformed header.
  if (header.typ !== undefined && typeof header.typ !== 'string')
    return 'header "typ" is not a string';
  const typ = header.typ?.toLowerCase();
  if (typ !== undefined && FOREIGN_TYPES.has(typ.replace(/^application\//, ''))) {
    return `a ${typ} token is not an access token`;
  }
  if (header.enc !== undefined) return 'encrypted tokens (JWE) are not accepted';
  return undefined;
}

/** Numeric dates must be sane integers (RFC 7519 section 2); jose checks only "a number". */
function checkClaimTypes(claims: JWTPayload): string | undefined {
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const value: unknown = claims[name];
    if (value === undefined) continue;
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      Math.abs(value) > MAX_NUMERIC_DATE
    ) {
      return `claim "${name}" is not a valid NumericDate`;
    }
  }
  if (claims.sub !== undefined && typeof claims.sub !== 'string')
    return 'claim "sub" is not a string';
  return undefined;
}

/**
 * `iat` (RFC 7519 section 4.1.6; RFC 9068 section 4): never later than now plus the clock
 * skew, which no honest issuer produces; with maxTokenAgeS, required and at most that old.
 * Runs after checkClaimTypes, so a present iat is a sane number.
 */
function checkIssuedAt(
  iat: number | undefined,
  nowS: number,
  skewS: number,
  maxTokenAgeS: number | undefined,
): VerifyResult | undefined {
  if (iat === undefined) {
    return maxTokenAgeS === undefined
      ? undefined
      : fail('GH_ERR_TOKEN_CLAIMS', `no iat claim, which maxTokenAgeS (${maxTokenAgeS}s) needs`);
  }
  if (iat - nowS > skewS) {
    return fail('GH_ERR_TOKEN_NOT_YET_VALID', `iat is ${iat - nowS}s in the future`);
  }
  if (maxTokenAgeS !== undefined && nowS - iat > maxTokenAgeS + skewS) {
    return fail(
      'GH_ERR_TOKEN_EXPIRED',
      `issued ${nowS - iat}s ago, older than maxTokenAgeS (${maxTokenAgeS}s)`,
    );
  }
  return undefined;
}

/** Year 2286 or so: anything past it is a forgery or a bug, not a lifetime. */
const MAX_NUMERIC_DATE = 10_000_000_000;

function mapJoseError(error: unknown): VerifyResult {
  if (error instanceof errors.JWTExpired) return fail('GH_ERR_TOKEN_EXPIRED', error.message);
  if (error instanceof errors.JWTClaimValidationFailed) {
    return fail(claimCode(error.claim), claimReason(error.claim, error.message));
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return fail('GH_ERR_TOKEN_ALG', error.message);
  if (error instanceof errors.JWKSNoMatchingKey)
    return fail('GH_ERR_TOKEN_KEY_UNKNOWN', error.message);
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return fail('GH_ERR_TOKEN_SIGNATURE', error.message);
  }
  if (error instanceof errors.JOSEError) {
    return fail('GH_ERR_TOKEN_MALFORMED', `${error.code}: ${error.message}`);
  }
  // Anything else (a TypeError from a key import, ...) is still an invalid token to the
  // client: fail closed.
  return fail('GH_ERR_TOKEN_MALFORMED', errorText(error));
}

/** The deny code for a failed claim check (jose's JWTClaimValidationFailed.claim). */
function claimCode(claim: string): DenyCode {
  switch (claim) {
    case 'nbf':
      return 'GH_ERR_TOKEN_NOT_YET_VALID';
    case 'iss':
      return 'GH_ERR_TOKEN_ISSUER';
    case 'aud':
      return 'GH_ERR_TOKEN_AUDIENCE';
    default:
      return 'GH_ERR_TOKEN_CLAIMS';
  }
}

function claimReason(claim: string, message: string): string {
  return claimCode(claim) === 'GH_ERR_TOKEN_CLAIMS' ? `${claim}: ${message}` : message;
}

function fail(code: DenyCode, reason: string): { ok: false; code: DenyCode; reason: string } {
  return { ok: false, code, reason };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
