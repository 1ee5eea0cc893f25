import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { Agent } from 'undici';
import { configError } from './errors.js';

/** PEM text or bytes, as node:tls takes them. */
export type Pem = string | Buffer;

export interface TlsMaterial {
  /** The client certificate (PEM; a chain may follow the leaf). */
  readonly cert?: Pem | undefined;
  /** The client certificate's private key (PEM). */
  readonly key?: Pem | undefined;
  /** Passphrase for an encrypted `key`. */
  readonly passphrase?: string | undefined;
  /** CA certificates (PEM) to trust for the server's certificate, replacing the defaults. */
  readonly ca?: Pem | readonly Pem[] | undefined;
}

/**
 * An undici Agent that presents the client certificate (RFC 8705 section 2: the TLS
 * handshake itself authenticates the client) and/or trusts a private CA. The same Agent
 * serves the token endpoint and, through `dispatcher()`, bundle and JWKS downloads, so a
 * certificate-bound access token (RFC 8705 section 3) is always presented over a
 * connection with the certificate it is bound to.
 *
 * The material is checked here, so a bad file is a start-up error naming the option
 * rather than a handshake failure at the first request.
 */
export function createTlsAgent(tls: TlsMaterial): Agent {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw configError(
      tls.cert === undefined ? 'cert' : 'key',
      'cert and key go together: set both or neither',
    );
  }
  if (tls.cert !== undefined && tls.key !== undefined) {
    checkKeyPair(tls.cert, tls.key, tls.passphrase);
  }
  if (tls.ca !== undefined) checkCaBundle(tls.ca);
  const ca =
    tls.ca === undefined
      ? undefined
      : typeof tls.ca === 'string' || Buffer.isBuffer(tls.ca)
        ? tls.ca
        : [...tls.ca];
  const connect = {
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
    ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
    ...(ca === undefined ? {} : { ca }),
  };
  try {
    // Parses everything exactly as the handshake will.
    createSecureContext(connect);
  } catch (error) {
    throw configError('cert/key/ca', `cannot be used for TLS (${describe(error)})`, error);
  }
  return new Agent({ connect });
}

function checkKeyPair(cert: Pem, key: Pem, passphrase: string | undefined): void {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw configError('cert', `is not a PEM X.509 certificate (${describe(error)})`, error);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(passphrase === undefined ? { key } : { key, passphrase });
  } catch (error) {
    // Node's message names the format problem, never the key material.
    throw configError('key', `is not a usable private key (${describe(error)})`, error);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw configError(
      'key',
      `does not match the certificate (subject ${certificate.subject.replaceAll('\n', ', ')})`,
    );
  }
}

/**
 * node:tls silently skips anything in `ca` that is not a PEM certificate, which would
 * leave Gatehouse trusting nothing (every handshake failing) instead of failing to start.
 */
function checkCaBundle(ca: Pem | readonly Pem[]): void {
  const texts = typeof ca === 'string' || Buffer.isBuffer(ca) ? [ca] : ca;
  const blocks = texts.flatMap((text) =>
    [
      ...text
        .toString('utf8')
        .matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g),
    ].map((match) => match[0]),
  );
  if (blocks.length === 0) throw configError('ca', 'holds no PEM certificate');
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw configError(
        'ca',
        `holds a certificate that does not parse (${describe(error)})`,
        error,
      );
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
