/** Log messages of the OIDC key sync: constants, since they are what operators grep and alert on. */
export const OIDC_LOG = {
  keysChanged: 'issuer keys changed',
  refreshFailed: 'issuer key refresh failed; keeping the previous keys',
  staleKeysDropped: 'issuer key load finished after a newer one; dropped',
  listenerFailed: 'issuer key change listener failed',
  keysIgnored: 'issuer key set has keys that cannot verify the configured algorithms',
} as const;
