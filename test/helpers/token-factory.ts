import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
} from 'jose';

export const TEST_ISSUER = 'https://issuer.test.gatehouse';
export const TEST_AUDIENCE = 'orders-api';

/** An RSA signing key and its public JWKS, as a real issuer would publish it. */
export interface TestIssuer {
  readonly issuer: string;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly jwks: JSONWebKeySet;
  sign(claims?: JWTPayload, options?: SignOptions): Promise<string>;
}

export interface SignOptions {
  readonly header?: Record<string, unknown>;
  readonly omit?: readonly ('exp' | 'iss' | 'aud')[];
}

export async function createTestIssuer(
  issuer = TEST_ISSUER,
  kid = 'test-key-1',
): Promise<TestIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return {
    issuer,
    kid,
    privateKey,
    publicJwk,
    jwks: { keys: [publicJwk] },
    async sign(claims = {}, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const omit = new Set(options.omit ?? []);
      const payload: JWTPayload = {
        sub: 'alice',
        roles: ['reader'],
        scope: 'orders:read',
        iat: now,
        ...(omit.has('iss') ? {} : { iss: issuer }),
        ...(omit.has('aud') ? {} : { aud: TEST_AUDIENCE }),
        ...(omit.has('exp') ? {} : { exp: now + 600 }),
        ...claims,
      };
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt', ...options.header })
        .sign(privateKey);
    },
  };
}

/** base64url of a JSON value, for hand-built (forged) tokens. */
export function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString(
    'base64url',
  );
}
