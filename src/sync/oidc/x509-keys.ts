import { createHash, X509Certificate } from 'node:crypto';
import { exportJWK, importX509, type JSONWebKeySet, type JWK } from 'jose';
import { ASYMMETRIC_ALGORITHMS, type IssuerConfig } from '../../config/schema.js';
import { KeySourceError } from '../../net/oidc-errors.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/**
 * Turns a PEM file of signer certificates into a JWKS. Several certificates in one file
 * are several keys: that is how a static signer is rolled over (publish old and new,
 * then drop the old one). The key id is `kid` when given (one certificate only), else the
 * certificate's SHA-256 thumbprint, the `x5t#S256` value of RFC 7517 section 4.9, which
 * an issuer that signs with a certificate can put in its tokens as `kid`.
 *
 * The certificate is a pinned public key: trust comes from the configuration, not from a
 * chain or a validity period, so neither is checked here (as with a JWKS, which has none).
 */
export async function jwksFromCertificates(
  pem: string,
  config: IssuerConfig,
  source: string,
  kid: string | undefined,
): Promise<JSONWebKeySet> {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new KeySourceError('GH_OIDC_CERTIFICATE_INVALID', `${source} holds no PEM certificate`);
  }
  if (kid !== undefined && blocks.length > 1) {
    throw new KeySourceError(
      'GH_OIDC_CERTIFICATE_INVALID',
      `${source} holds ${blocks.length} certificates; a configured kid fits only one`,
    );
  }
  const keys: JWK[] = [];
  for (const block of blocks) {
    keys.push(await certificateToJwk(block, config, source, kid));
  }
  return { keys };
}

async function certificateToJwk(
  pem: string,
  config: IssuerConfig,
  source: string,
  kid: string | undefined,
): Promise<JWK> {
  let der: Buffer;
  try {
    der = new X509Certificate(pem).raw;
  } catch (error) {
    throw new KeySourceError('GH_OIDC_CERTIFICATE_INVALID', `${source}: ${String(error)}`, {
      cause: error,
    });
  }
  const thumbprint = createHash('sha256').update(der).digest('base64url');
  const jwk = await exportPublicJwk(pem, config, source);
  return {
    ...jwk,
    // No `alg`: the issuer's `algorithms` list already limits what this key verifies, and
    // one RSA key may serve RS256 and PS256 alike.
    use: 'sig',
    kid: kid ?? thumbprint,
    'x5t#S256': thumbprint,
    // RFC 7517 section 4.7: standard base64 (not base64url) of the DER certificate.
    x5c: [der.toString('base64')],
  };
}

/**
 * jose's importX509 needs the algorithm the key will be used with; the first of the
 * issuer's asymmetric algorithms that fits the certificate's key type is the one.
 */
async function exportPublicJwk(pem: string, config: IssuerConfig, source: string): Promise<JWK> {
  const candidates = config.algorithms.filter((alg) =>
    (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg),
  );
  for (const alg of candidates) {
    try {
      const key = await importX509(pem, alg, { extractable: true });
      return await exportJWK(key);
    } catch {
      // Not this algorithm's key type (an EC key offered as RS256, ...): try the next.
    }
  }
  throw new KeySourceError(
    'GH_OIDC_CERTIFICATE_INVALID',
    `${source}: the certificate's key fits none of ${candidates.join(', ') || '(no asymmetric algorithms)'}`,
  );
}
