import { experimental, ServerCredentials } from '@grpc/grpc-js';
import type { TlsFiles, TlsMaterial } from './tls-files.js';

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * grpc-js server credentials fed by TlsFiles: every change of the files reaches the server's
 * secure context, so new connections get the new certificate. With a client CA, the
 * handshake requires a client certificate issued by it.
 */
export function grpcServerCredentials(files: TlsFiles | undefined): ServerCredentials {
  if (files === undefined) return ServerCredentials.createInsecure();
  const provider = new TlsFilesCertificateProvider(files);
  const requireClient = files.current().ca !== undefined;
  // grpc-js 1.14 declares (caProvider, identityProvider) but hands the first argument to the
  // identity slot and the second to the CA slot (server-credentials.js); it is called the way
  // it behaves: identity first, CA (or null) second.
  return experimental.createCertificateProviderServerCredentials(
    provider,
    requireClient ? provider : null,
    requireClient,
  );
}

class TlsFilesCertificateProvider implements CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(private readonly files: TlsFiles) {
    files.onChange((material) => {
      this.publish(material);
    });
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    // After the current turn: grpc-js registers its server's watcher only once this
    // returns (server-credentials.js _addWatcher), so an update given now would be lost and
    // the listener would drop every connection as "credentials not loaded".
    queueMicrotask(() => {
      const { ca } = this.files.current();
      if (this.caListeners.has(listener)) listener(ca === undefined ? null : { caCertificate: ca });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      const { cert, key } = this.files.current();
      if (this.identityListeners.has(listener)) listener({ certificate: cert, privateKey: key });
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private publish(material: TlsMaterial): void {
    for (const listener of this.identityListeners) {
      listener({ certificate: material.cert, privateKey: material.key });
    }
    for (const listener of this.caListeners) {
      listener(material.ca === undefined ? null : { caCertificate: material.ca });
    }
  }
}
