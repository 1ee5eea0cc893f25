import type { JWTPayload } from 'jose';
import { checkCertificateBinding } from '../../auth/certificate/certificate-binding.js';
import { presentedCertificate } from '../../auth/certificate/presented-certificate.js';
import type { CheckInput } from '../check-input.js';
import { authFailure, type BindingCheck, type BindingOutcome } from './token-validator.js';

/**
 * RFC 8705 section 3: a token with cnf.x5t#S256 is good only with that client certificate:
 * Envoy's peer certificate, or one a trusted proxy forwarded.
 */
export class CertificateBinding implements BindingCheck {
  check(input: CheckInput, _token: unknown, claims: JWTPayload): Promise<BindingOutcome> {
    return Promise.resolve(certificateBinding(input, claims));
  }
}

function certificateBinding(input: CheckInput, claims: JWTPayload): BindingOutcome {
  // Most tokens are unbound: skip the certificate parsing for them.
  if (claims.cnf === undefined) return { ok: true };
  const presented = presentedCertificate({
    peerCertificate: input.source.certificate,
    headers: input.headers,
    peerTrusted: input.peerTrusted ?? false,
  });
  const result = checkCertificateBinding(
    claims,
    presented.kind === 'presented' ? presented : undefined,
  );
  if (result.ok) return { ok: true };
  // A certificate that was sent but could not be read says more than "none presented".
  return presented.kind === 'invalid'
    ? authFailure(
        'GH_ERR_TOKEN_BINDING',
        `${result.reason} (${presented.reason})`,
        result.problem === 'GH_CERT_REQUIRED' ? presented.problem : result.problem,
      )
    : authFailure('GH_ERR_TOKEN_BINDING', result.reason, result.problem);
}
