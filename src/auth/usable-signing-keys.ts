import { importJWK, type JSONWebKeySet, type JWK } from 'jose';
import type { ASYMMETRIC_ALGORITHMS } from '../jose/jws-algorithms.js';

/**
 * Which keys of a JWKS can verify this issuer's tokens, given the algorithms the issuer is
 * configured for. A key set in which none can is no update: adopting it would refuse every
 * valid token of the issuer (an empty `keys` array, only encryption keys, only keys of an
 * algorithm not configured), so the key source keeps the previous keys instead.
 */
export interface SigningKeyAssessment {
  /** The kid (or `#index`) of each key that can verify at least one configured algorithm. */
  readonly usable: readonly string[];
  /** Each other key, with why it cannot. */
  readonly refused: readonly { readonly key: string; readonly reason: string }[];
}

type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/**
 * The key type (and curve) each algorithm verifies with: RFC 7518 section 3.1 (RS*, PS*:
 * RSA; ES256/384/512: EC on P-256/P-384/P-521, section 3.4) and RFC 8037 section 3.1
 * (EdDSA: OKP on Ed25519 or Ed448; "Ed25519" names the curve itself).
 */
const KEY_TYPE: Readonly<Record<AsymmetricAlgorithm, { kty: string; crv?: readonly string[] }>> = {
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: ['P-256'] },
  ES384: { kty: 'EC', crv: ['P-384'] },
  ES512: { kty: 'EC', crv: ['P-521'] },
  EdDSA: { kty: 'OKP', crv: ['Ed25519', 'Ed448'] },
  Ed25519: { kty: 'OKP', crv: ['Ed25519'] },
};

/** jose refuses RSA keys under 2048 bits for RS* and PS* when verifying (RFC 7518 section 3.3). */
const MIN_RSA_BITS = 2048;

/** Sorts a JWKS's keys into those that can verify `algorithms` and those that cannot. */
export async function assessSigningKeys(
  jwks: JSONWebKeySet,
  algorithms: readonly string[],
): Promise<SigningKeyAssessment> {
  const asymmetric = algorithms.filter((alg): alg is AsymmetricAlgorithm =>
    Object.hasOwn(KEY_TYPE, alg),
  );
  const usable: string[] = [];
  const refused: { key: string; reason: string }[] = [];
  for (const [index, key] of jwks.keys.entries()) {
    const name = typeof key.kid === 'string' ? key.kid : `#${index}`;
    const reason = await whyUnusable(key, asymmetric);
    if (reason === undefined) usable.push(name);
    else refused.push({ key: name, reason });
  }
  return { usable, refused };
}

/** Undefined when the key verifies at least one of `algorithms`; else the reason it does not. */
async function whyUnusable(
  key: JWK,
  algorithms: readonly AsymmetricAlgorithm[],
): Promise<string | undefined> {
  // RFC 7517 section 4.2: "enc" keys are for encryption; section 4.3: key_ops must allow verify.
  if (key.use !== undefined && key.use !== 'sig') return `use is "${key.use}", not "sig"`;
  if (key.key_ops !== undefined && !key.key_ops.includes('verify')) {
    return `key_ops [${key.key_ops.join(', ')}] lacks "verify"`;
  }
  // RFC 7517 section 4.4: a key with alg is used with that algorithm only.
  const candidates =
    key.alg === undefined ? algorithms : algorithms.filter((alg) => alg === key.alg);
  if (candidates.length === 0) {
    return key.alg === undefined
      ? 'no public-key algorithm is configured'
      : `alg ${key.alg} is not among the configured algorithms (${algorithms.join(', ')})`;
  }
  const fitting = candidates.filter((alg) => fits(key, alg));
  const [alg] = fitting;
  if (alg === undefined) {
    const curve = key.crv === undefined ? '' : ` ${key.crv}`;
    return `a ${key.kty ?? '?'}${curve} key verifies none of ${candidates.join(', ')}`;
  }
  if (key.kty === 'RSA' && rsaBits(key) < MIN_RSA_BITS) {
    return `an RSA key of ${rsaBits(key)} bits is under ${MIN_RSA_BITS}`;
  }
  try {
    await importJWK(key, alg);
  } catch (error) {
    return `cannot be imported for ${alg}: ${error instanceof Error ? error.message : String(error)}`;
  }
  return undefined;
}

function fits(key: JWK, alg: AsymmetricAlgorithm): boolean {
  const wanted = KEY_TYPE[alg];
  if (key.kty !== wanted.kty) return false;
  return wanted.crv === undefined || (key.crv !== undefined && wanted.crv.includes(key.crv));
}

/** The modulus length from the base64url `n` (leading zero octets aside). */
function rsaBits(key: JWK): number {
  if (typeof key.n !== 'string') return 0;
  const modulus = Buffer.from(key.n, 'base64url');
  const first = modulus.findIndex((octet) => octet !== 0);
  if (first === -1) return 0;
  return (modulus.length - first) * 8 - Math.clz32(modulus[first] ?? 0) + 24;
}
