import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';

/**
 * How certificates travel to Gatehouse, written the way the proxies write them, and an
 * independent oracle for the thumbprint (the openssl CLI, not node:crypto).
 */

/**
 * Envoy's `source.certificate` and XFCC `Cert`, as Envoy 1.2x wrote them: the PEM with
 * "\n", " ", "+", "/" and "=" percent-encoded (ConnectionInfoImplBase::
 * urlEncodedPemEncodedPeerCertificate, absl::StrReplaceAll).
 */
export function envoyUrlEncodedPem(pem: string): string {
  const escapes: Record<string, string> = {
    '\n': '%0A',
    ' ': '%20',
    '+': '%2B',
    '/': '%2F',
    '=': '%3D',
  };
  return pem.replace(/[\n +/=]/g, (char) => escapes[char] ?? char);
}

/** XFCC `Hash`: hex SHA-256 of the DER (Envoy's sha256PeerCertificateDigest). */
export function sha256Hex(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/** RFC 9440 Client-Cert: `:base64(DER):` (RFC 8941 section 3.3.5). */
export function clientCertField(pem: string): string {
  return `:${new X509Certificate(pem).raw.toString('base64')}:`;
}

/** One XFCC element as an edge Envoy with SANITIZE_SET and Cert details writes it. */
export function xfccElement(pem: string, by = 'spiffe://gatehouse.test/edge'): string {
  return `By=${by};Hash=${sha256Hex(pem)};Cert="${envoyUrlEncodedPem(pem)}";Subject="CN=client"`;
}

/** The claims of a token bound to `thumbprint` (RFC 8705 section 3.1). */
export function boundClaims(thumbprint: string): { cnf: Record<string, unknown> } {
  return { cnf: { 'x5t#S256': thumbprint } };
}

/** base64url(SHA-256(DER)) computed by the openssl CLI: `x509 -outform DER | dgst -sha256`. */
export async function opensslX5tS256(pem: string): Promise<string> {
  const der = await openssl(['x509', '-outform', 'DER'], Buffer.from(pem));
  const digest = await openssl(['dgst', '-sha256', '-binary'], der);
  return digest.toString('base64url');
}

function openssl(args: readonly string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`openssl ${args.join(' ')}: ${Buffer.concat(err).toString()}`));
    });
    child.stdin.end(input);
  });
}
