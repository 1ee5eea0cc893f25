/** Log messages are constants: they are what operators grep and alert on. */
export const LOG = {
  checkDenied: 'check denied',
  checkAllowed: 'check allowed',
  checkFailed: 'check failed internally; denied',
  snapshotActivated: 'snapshot activated',
  snapshotRejected: 'snapshot build failed; keeping the previous snapshot',
  policyCompiled: 'policies compiled to wasm',
  policyCacheHit: 'compiled policies found in cache',
  jwksLoaded: 'jwks loaded',
  jwksFailed: 'jwks load failed',
  grpcListening: 'grpc server listening',
  grpcShutdownForced: 'grpc server did not drain in time; forcing shutdown',
  httpListening: 'http server listening',
  shuttingDown: 'shutting down',
  untrustedForwardedHeaders: 'forwarded headers from an untrusted peer',
  configInvalid: 'configuration is invalid',
  bundleFailed: 'bundle download failed; keeping the previous snapshot',
  policyFolderReadFailed: 'policy folder read failed; keeping the previous snapshot',
  bundleWithoutCatalog: 'bundle has no API catalog; not activated',
  opaMissing: 'opa CLI not found: only bundles carrying policy.wasm can be loaded',
  lastKnownGoodRestored: 'last-known-good snapshot restored',
  lastKnownGoodIgnored: 'last-known-good snapshot ignored',
  lastKnownGoodSaveFailed: 'could not save the last-known-good snapshot',
  introspectionRateLimited:
    'introspection requests over maxCallsPerS: opaque tokens the cache cannot answer are denied unasked',
  lastKnownGoodKeysUnusable:
    'last-known-good keys of an issuer cannot verify its configured algorithms; not restored',
} as const;
