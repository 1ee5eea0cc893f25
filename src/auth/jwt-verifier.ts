import {
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { DenyCode } from '../check/deny-codes.js';
import type { IssuerKeys } from './issuer-keys.js';

export interface VerifyRequirements {
  /** Issuers accepted for this API (their `issuer` values); undefined = all configured. */
  readonly issuers: readonly string[] | undefined;
  /** Audiences accepted for this API; undefined = the issuer's configured audiences. */
  readonly audiences: readonly string[] | undefined;
  readonly maxTokenBytes: number;
  readonly defaultClockSkewS: number;
}

export type VerifyResult =
  | { readonly ok: true; readonly claims: JWTPayload; readonly issuer: string }
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
 * and audiences, and jose checks signature, exp, nbf, iss and aud.
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

  let alg: string | undefined;
  let kid: string | undefined;
  let iss: unknown;
  try {
    const header = decodeProtectedHeader(token);
    alg = header.alg;
    kid = header.kid;
    iss = decodeJwt(token).iss;
  } catch (error) {
    return fail('GH_ERR_TOKEN_MALFORMED', `cannot decode token: ${errorText(error)}`);
  }
  if (alg === undefined || alg.toLowerCase() === 'none') {
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
  const key = alg.startsWith('HS') ? keys.hmacSecret : keys.jwks;
  if (key === undefined) {
    return {
      ok: false,
      code: 'GH_ERR_TOKEN_KEY_UNKNOWN',
      reason: `issuer ${iss} has no key for ${alg}`,
      unknownKid: { issuer: iss, kid: kid ?? '' },
    };
  }

  try {
    const options = {
      issuer: iss,
      audience: [...(requirements.audiences ?? config.audiences)],
      algorithms: [...config.algorithms],
      clockTolerance: config.clockSkewS ?? requirements.defaultClockSkewS,
      // Access tokens must expire (RFC 9068 section 2.2).
      requiredClaims: ['exp'],
    };
    const { payload } =
      key instanceof Uint8Array
        ? await jwtVerify(token, key, options)
        : await jwtVerify(token, key satisfies JWTVerifyGetKey, options);
    return { ok: true, claims: payload, issuer: iss };
  } catch (error) {
    const result = mapJoseError(error);
    if (!result.ok && result.code === 'GH_ERR_TOKEN_KEY_UNKNOWN') {
      return { ...result, unknownKid: { issuer: iss, kid: kid ?? '' } };
    }
    return result;
  }
}

function mapJoseError(error: unknown): VerifyResult {
  if (error instanceof errors.JWTExpired) return fail('GH_ERR_TOKEN_EXPIRED', error.message);
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'nbf':
        return fail('GH_ERR_TOKEN_NOT_YET_VALID', error.message);
      case 'iss':
        return fail('GH_ERR_TOKEN_ISSUER', error.message);
      case 'aud':
        return fail('GH_ERR_TOKEN_AUDIENCE', error.message);
      default:
        return fail('GH_ERR_TOKEN_CLAIMS', `${error.claim}: ${error.message}`);
    }
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

function fail(code: DenyCode, reason: string): VerifyResult {
  return { ok: false, code, reason };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
