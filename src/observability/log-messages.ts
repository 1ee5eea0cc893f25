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
} as const;
