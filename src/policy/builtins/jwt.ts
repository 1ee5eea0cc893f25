import { constants, createHmac, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import type { HostBuiltin } from '../opa-wasm-abi.js';
import type { DecisionClock } from './decision-clock.js';
import { verificationKeys, type VerificationKey } from './key-material.js';

/**
 * OPA's token builtins (OPA policy reference, "Tokens" and "Token verification"), which
 * the WebAssembly target leaves to the host. Synchronous, with node:crypto: the ABI calls
 * builtins synchronously, and jose verifies through WebCrypto, which is async.
 *
 * Errors follow OPA: a malformed token or key is an error (undefined in Rego); a
 * signature that does not verify is `false`; decode_verify answers `[false, {}, {}]` for
 * any token that does not verify or does not meet its constraints.
 */

interface DecodedToken {
  readonly header: Record<string, unknown>;
  readonly payload: unknown;
  readonly signature: Buffer;
  /** `<header>.<payload>` as sent: what the signature covers (RFC 7515 section 5.2). */
  readonly signingInput: string;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** RFC 7519 section 7.2: three base64url parts (no padding), a JSON object header. */
function decodeToken(token: unknown): DecodedToken {
  if (typeof token !== 'string') throw new TypeError('the token must be a string');
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('the token does not have three parts');
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
  for (const part of parts) {
    if (!BASE64URL.test(part)) throw new Error('the token is not base64url encoded');
  }
  const header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as unknown;
  if (!isRecord(header)) throw new Error('the token header is not a JSON object');
  // RFC 7516: a JWE has five parts; an `enc` header in three parts is not a JWS either.
  if ('enc' in header) throw new Error('JWE tokens are not supported');
  const payload = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8')) as unknown;
  return {
    header,
    payload,
    signature: Buffer.from(signaturePart, 'base64url'),
    signingInput: `${headerPart}.${payloadPart}`,
  };
}

type Family = 'RS' | 'PS' | 'ES' | 'HS' | 'EdDSA';

interface AlgorithmSpec {
  readonly family: Family;
  /** node:crypto digest name; undefined for EdDSA (the curve fixes the hash). */
  readonly hash: string | undefined;
  /** ES*: the curve and the raw signature length (RFC 7518 section 3.4). */
  readonly curve?: string;
  readonly signatureBytes?: number;
}

const ALGORITHMS: Readonly<Record<string, AlgorithmSpec>> = {
  RS256: { family: 'RS', hash: 'sha256' },
  RS384: { family: 'RS', hash: 'sha384' },
  RS512: { family: 'RS', hash: 'sha512' },
  PS256: { family: 'PS', hash: 'sha256' },
  PS384: { family: 'PS', hash: 'sha384' },
  PS512: { family: 'PS', hash: 'sha512' },
  ES256: { family: 'ES', hash: 'sha256', curve: 'prime256v1', signatureBytes: 64 },
  ES384: { family: 'ES', hash: 'sha384', curve: 'secp384r1', signatureBytes: 96 },
  ES512: { family: 'ES', hash: 'sha512', curve: 'secp521r1', signatureBytes: 132 },
  HS256: { family: 'HS', hash: 'sha256' },
  HS384: { family: 'HS', hash: 'sha384' },
  HS512: { family: 'HS', hash: 'sha512' },
  EdDSA: { family: 'EdDSA', hash: undefined },
};

/** Whether `key` can check an `alg` signature at all (RFC 7518 section 3.1, RFC 8037). */
function keyFits(key: KeyObject, spec: AlgorithmSpec): boolean {
  const type = key.asymmetricKeyType;
  switch (spec.family) {
    case 'RS':
    case 'PS':
      return type === 'rsa' || (spec.family === 'PS' && type === 'rsa-pss');
    case 'ES':
      return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === spec.curve;
    case 'EdDSA':
      return type === 'ed25519' || type === 'ed448';
    case 'HS':
      return false;
  }
}

function verifyWithKey(token: DecodedToken, spec: AlgorithmSpec, key: KeyObject): boolean {
  if (!keyFits(key, spec)) return false;
  const data = Buffer.from(token.signingInput);
  switch (spec.family) {
    case 'RS':
      return verify(
        spec.hash ?? null,
        data,
        { key, padding: constants.RSA_PKCS1_PADDING },
        token.signature,
      );
    case 'PS':
      return verify(
        spec.hash ?? null,
        data,
        // RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash output.
        {
          key,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
        },
        token.signature,
      );
    case 'ES':
      // JWS carries R || S (RFC 7518 section 3.4), not DER.
      if (token.signature.length !== spec.signatureBytes) return false;
      return verify(spec.hash ?? null, data, { key, dsaEncoding: 'ieee-p1363' }, token.signature);
    case 'EdDSA':
      return verify(null, data, key, token.signature);
    case 'HS':
      return false;
  }
}

function verifyHmac(token: DecodedToken, spec: AlgorithmSpec, secret: string): boolean {
  const expected = createHmac(spec.hash ?? 'sha256', secret)
    .update(token.signingInput)
    .digest();
  return expected.length === token.signature.length && timingSafeEqual(expected, token.signature);
}

/** Keys to try: those whose `kid` matches the token's, when both name one (RFC 7515 4.1.4). */
function candidates(keys: readonly VerificationKey[], kid: unknown): readonly VerificationKey[] {
  if (typeof kid !== 'string' || !keys.some((key) => key.kid !== undefined)) return keys;
  return keys.filter((key) => key.kid === kid);
}

function verifySignature(
  token: DecodedToken,
  alg: string,
  material: { cert: string } | { secret: string },
): boolean {
  const spec = ALGORITHMS[alg];
  if (spec === undefined) return false;
  if ('secret' in material) return spec.family === 'HS' && verifyHmac(token, spec, material.secret);
  if (spec.family === 'HS') return false;
  return candidates(verificationKeys(material.cert), token.header.kid).some(
    (key) => (key.alg === undefined || key.alg === alg) && verifyWithKey(token, spec, key.key),
  );
}

/** io.jwt.verify_<alg>(jwt, certificate | secret): the signature alone, as that algorithm. */
function verifier(alg: string): HostBuiltin {
  const hmac = alg.startsWith('HS');
  return (jwt, keyOrSecret) => {
    if (typeof keyOrSecret !== 'string') throw new TypeError('the key must be a string');
    const token = decodeToken(jwt);
    return verifySignature(token, alg, hmac ? { secret: keyOrSecret } : { cert: keyOrSecret });
  };
}

const CONSTRAINTS = new Set(['cert', 'secret', 'alg', 'iss', 'aud', 'time']);

/**
 * io.jwt.decode_verify(jwt, constraints): [valid, header, payload]. Constraints as OPA
 * documents them: exactly one of `cert` and `secret`; `alg` (else any the key fits);
 * `iss` (else any); `aud` (else only tokens without `aud`); `time` in ns (else now);
 * `exp` and `nbf` checked against that time. An unknown constraint is an error (undefined),
 * as `opa eval` answers it.
 */
function decodeVerify(clock: DecisionClock): HostBuiltin {
  const invalid = [false, {}, {}];
  return (jwt, constraints) => {
    if (!isRecord(constraints)) throw new TypeError('the constraints must be an object');
    const token = decodeToken(jwt);
    const unknown = Object.keys(constraints).find((name) => !CONSTRAINTS.has(name));
    if (unknown !== undefined) throw new Error(`unknown JWT constraint ${unknown}`);
    const { cert, secret, alg, iss, aud, time } = constraints;
    if ((cert === undefined) === (secret === undefined)) return invalid;
    if (cert !== undefined && typeof cert !== 'string') return invalid;
    if (secret !== undefined && typeof secret !== 'string') return invalid;
    const tokenAlg = token.header.alg;
    if (typeof tokenAlg !== 'string') return invalid;
    if (alg !== undefined && alg !== tokenAlg) return invalid;
    const material = typeof cert === 'string' ? { cert } : { secret: secret as string };
    if (!verifySignature(token, tokenAlg, material)) return invalid;

    const payload = token.payload;
    if (!isRecord(payload)) return invalid;
    if (iss !== undefined && payload.iss !== iss) return invalid;
    if (aud === undefined) {
      if (payload.aud !== undefined) return invalid;
    } else {
      const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      if (!audiences.includes(aud)) return invalid;
    }
    const nowS = (typeof time === 'number' ? time : clock.nowNs()) / 1e9;
    if (payload.exp !== undefined) {
      if (typeof payload.exp !== 'number' || nowS >= payload.exp) return invalid;
    }
    if (payload.nbf !== undefined) {
      if (typeof payload.nbf !== 'number' || nowS < payload.nbf) return invalid;
    }
    return [true, token.header, payload];
  };
}

export function jwtBuiltins(clock: DecisionClock): Array<[string, HostBuiltin]> {
  return [
    [
      'io.jwt.decode',
      (jwt) => {
        const token = decodeToken(jwt);
        return [token.header, token.payload, token.signature.toString('hex')];
      },
    ],
    ['io.jwt.decode_verify', decodeVerify(clock)],
    ...Object.keys(ALGORITHMS).map((alg): [string, HostBuiltin] => [
      `io.jwt.verify_${alg.toLowerCase()}`,
      verifier(alg),
    ]),
  ];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
