/**
 * Every operational error code Gatehouse has, by area, with what it means: the one home of
 * each code. The deny codes (`GH_ERR_*`, what a client is answered) have their own table in
 * `src/check/deny-codes.ts`; the codes here are the `code` of a GatehouseError, the
 * `lastError.code` in GET /status, a log field, a metric label, or the `detail` of a deny.
 *
 * Naming: `GH_<AREA>_<WHAT>`, the area first so a dashboard can group by prefix. Deny codes
 * alone are `GH_ERR_<WHAT>`. docs/errors.md documents every code here, and a test fails when
 * one is missing there or a `GH_*` string in src/ is in neither this registry nor the deny
 * table.
 *
 * This module is the bottom layer: it imports nothing, so every layer may use it.
 */

/** Start-up: the configuration file and the API catalog. */
export const CONFIG_ERRORS = {
  GH_CLI_INPUT_INVALID:
    'gatehouse explain was given a request it cannot read (flags or JSON); exit 2 with the reason',
  GH_CONFIG_INVALID:
    'the configuration file is unreadable or fails the schema; each problem names the option',
  GH_CATALOG_INVALID:
    'the API catalog fails its checks (unknown keys, bad auth, duplicate ids, unknown policy packages)',
  GH_ROUTE_INVALID:
    'a route of the catalog cannot be built: a bad path template, a duplicate or empty parameter, a dot-segment, no methods, or two routes that conflict',
} as const;

/** Policies: the opa CLI, compiling Rego to WebAssembly, loading the module. */
export const POLICY_ERRORS = {
  GH_OPA_NOT_FOUND: 'the opa CLI was not found where OPA_BIN, opa.binary, .tools/bin or PATH point',
  GH_POLICY_COMPILE_FAILED:
    'opa build -t wasm failed, or what it wrote is not a WebAssembly module',
  GH_POLICY_BUILTINS_MISSING:
    'the compiled policy needs built-in functions Gatehouse does not provide',
  GH_POLICY_DECLARATIVE_INVALID:
    'a declarative policy (*.policy.yaml) is malformed: the message names the file, the policy and the field',
  GH_POLICY_FOLDER_INVALID:
    'the policy folder is missing or unreadable, a symlink leaves it, it holds no Rego, or its data.json is not JSON',
  GH_TAR_INVALID: 'a tar.gz archive is malformed (gzip, tar headers, checksums, paths)',
  GH_TAR_TOO_LARGE:
    'a tar.gz archive, its expanded size, its file count or one file is over a limit',
  GH_TAR_ENTRY_REFUSED: 'a tar entry is a link, a device or another non-regular file',
} as const;

/**
 * Policy bundles (OPA bundle protocol). A dashboard can tell a tampered bundle from a flaky
 * network by these.
 */
export const BUNDLE_ERRORS = {
  GH_BUNDLE_INVALID:
    'the bundle is malformed: gzip, tar, JSON, YAML, the .manifest or the data tree (conflicting paths)',
  GH_BUNDLE_TOO_LARGE:
    'the bundle, its expanded size, its file count or one file is over a configured limit',
  GH_BUNDLE_UNSAFE_PATH:
    'the bundle holds a path that could escape it or be read two ways (.., absolute, \\, NUL, a duplicate) or a link',
  GH_BUNDLE_SIGNATURE_INVALID:
    'bundle.signing is set and the bundle is unsigned, tampered with, signed by another key, or lists files that do not match',
  GH_BUNDLE_DOWNLOAD_FAILED:
    'the bundle download failed: network error, timeout, or a status other than 200 and 304',
  GH_BUNDLE_OPTIONS_INVALID: 'the bundle poller or reader was given options it cannot work with',
} as const;

/** Outbound HTTP: the one fetch every source uses. */
export const FETCH_ERRORS = {
  GH_FETCH_FAILED:
    'an outbound request failed: network error, TLS, timeout, or a body over its limit',
} as const;

/** The OAuth client (client credentials grant) of the central server. */
export const OAUTH_CLIENT_ERRORS = {
  GH_OAUTH_CONFIG_INVALID:
    "the client's secret, key or certificate is unusable (missing or malformed); raised at construction (config mistakes are GH_CONFIG_INVALID)",
  GH_OAUTH_TOKEN_FAILED:
    'no access token: discovery or the token request failed (network error, timeout, an OAuth error response such as invalid_client, or a malformed token response)',
} as const;

/** Issuer keys: OIDC discovery, the JWKS, signer certificates. */
export const OIDC_SYNC_ERRORS = {
  GH_OIDC_ISSUER_INVALID:
    'the configured issuer is not an https URL (http only for loopback) without query or fragment',
  GH_OIDC_DISCOVERY_FAILED:
    'the discovery document could not be fetched (network error, timeout, non-200 answer)',
  GH_OIDC_METADATA_INVALID:
    'the discovery document is not a JSON object with a usable jwks_uri and endpoints',
  GH_OIDC_ISSUER_MISMATCH:
    'the discovery document names another issuer than the configured one (OIDC Discovery 4.3)',
  GH_OIDC_JWKS_FETCH_FAILED: 'the JWKS could not be fetched (network error, timeout, non-200)',
  GH_OIDC_REFRESH_TIMEOUT: 'one whole key refresh overran its deadline and was abandoned',
  GH_OIDC_CERTIFICATE_INVALID:
    'the signer certificate file holds no usable X.509 certificate for the allowed algorithms',
  GH_OIDC_JWKS_UNUSABLE:
    'the key set holds no key that can verify the configured algorithms (empty, only "use: enc", other algorithms or key types, keys that do not import); the previous keys are kept',
  GH_OIDC_UNEXPECTED: 'a key refresh failed with an error that carries no Gatehouse code (a bug)',
  GH_JWKS_INVALID:
    'a key set cannot be used as is: a private or symmetric key, or a key that does not import',
} as const;

/**
 * Why an introspection answered `unavailable` (RFC 7662). None says anything about the
 * token: the authorization server could not be asked or did not answer usably.
 */
export const INTROSPECTION_ERRORS = {
  GH_INTROSPECTION_TIMEOUT: 'the introspection endpoint did not answer within timeoutMs',
  GH_INTROSPECTION_NETWORK:
    'the request failed before an answer: connection refused or reset, TLS handshake, or a body over maxResponseBytes',
  GH_INTROSPECTION_HTTP_STATUS:
    'the endpoint answered with a status other than 200 (401 invalid_client: the introspecting client is not accepted)',
  GH_INTROSPECTION_MALFORMED:
    'the 200 answer is not an RFC 7662 section 2.2 response: not a JSON object, no boolean "active", or a member of the wrong type',
  GH_INTROSPECTION_CLIENT_AUTH:
    'the client authentication for the request could not be built (e.g. signing the client assertion failed)',
  GH_INTROSPECTION_CLOSED: 'the introspection client was closed',
  GH_INTROSPECTION_RATE_LIMITED:
    'not asked: this issuer was sent maxCallsPerS introspection requests per second already (the burst is spent)',
  GH_INTROSPECTION_CONFIG_INVALID:
    'the introspection options are unusable; the message names the option',
} as const;

/**
 * Why a DPoP check failed (RFC 9449): the `detail` of a `GH_ERR_DPOP_PROOF`,
 * `GH_ERR_DPOP_NONCE` or `GH_ERR_TOKEN_BINDING` deny. `src/auth/dpop/dpop-failures.ts`
 * maps each to its challenge `error`.
 */
export const DPOP_ERRORS = {
  GH_DPOP_PROOF_MISSING: 'the DPoP scheme without a DPoP proof header (section 7.1)',
  GH_DPOP_MULTIPLE_PROOFS: 'more than one DPoP header (section 4.3 check 1)',
  GH_DPOP_PROOF_TOO_LARGE: 'the proof is over its size limit (section 4.3 check 2)',
  GH_DPOP_MALFORMED: 'the proof is not a well-formed JWT (section 4.3 check 2)',
  GH_DPOP_TYP: 'the proof typ is not dpop+jwt (section 4.3 check 4)',
  GH_DPOP_ALG: 'the proof alg is not an allowed asymmetric algorithm (section 4.3 check 5)',
  GH_DPOP_JWK_MISSING: 'the proof header has no jwk (section 4.2)',
  GH_DPOP_JWK_PRIVATE: 'the proof jwk holds private key members (section 4.3 check 7)',
  GH_DPOP_JWK_INVALID: 'the proof jwk is not a usable public key (section 4.3 check 6)',
  GH_DPOP_SIGNATURE: 'the proof signature does not verify with its jwk (section 4.3 check 6)',
  GH_DPOP_CLAIMS:
    'a required proof claim of section 4.2 is missing or of the wrong type (section 4.3 check 3)',
  GH_DPOP_HTM: 'the proof htm is not the request method (section 4.3 check 8)',
  GH_DPOP_HTU: 'the proof htu is not the request URI (section 4.3 check 9)',
  GH_DPOP_NONCE_MISSING: 'a nonce API got a proof without a nonce (sections 4.3 check 10, 9)',
  GH_DPOP_NONCE_INVALID: 'the proof nonce is expired or not one of ours (sections 4.3 check 10, 9)',
  GH_DPOP_IAT_TOO_OLD: 'the proof iat is older than the iat window (sections 4.3 check 11, 11.1)',
  GH_DPOP_IAT_IN_FUTURE:
    'the proof iat is later than the iat window allows (sections 4.3 check 11, 11.1)',
  GH_DPOP_ATH: 'the proof ath is not the hash of the access token (section 4.3 check 12)',
  GH_DPOP_REPLAYED: 'the proof jti was seen before within the iat window (section 11.1)',
  GH_DPOP_REPLAY_STORE_UNAVAILABLE:
    'the shared replay store (primary or Redis) did not answer: the proof is refused (section 11.1)',
  GH_DPOP_BOUND_TOKEN_AS_BEARER: 'a token with cnf.jkt sent with the Bearer scheme (section 7.2)',
  GH_DPOP_TOKEN_NOT_BOUND: 'the DPoP scheme with a token without cnf.jkt (section 7.1)',
  GH_DPOP_JKT_MISMATCH:
    'the proof key is not the key the token is bound to (sections 4.3 check 12, 6.1)',
  GH_DPOP_CNF_INVALID: 'the token cnf.jkt is not a JWK SHA-256 thumbprint (sections 6.1, 6.2)',
} as const;

/**
 * Why a certificate-bound token (RFC 8705) was refused: the `detail` of a
 * `GH_ERR_TOKEN_BINDING` deny. The first five say why a conveyed certificate was not read.
 */
export const CERTIFICATE_ERRORS = {
  GH_CERT_TOO_LARGE: 'the conveyed certificate is over the size limit; nothing was parsed',
  GH_CERT_ENCODING: 'bad percent-encoding, PEM, base64, structured field or XFCC syntax',
  GH_CERT_NOT_X509: 'well-formed encoding, but the bytes are not one X.509 certificate',
  GH_CERT_AMBIGUOUS:
    'more than one certificate or value where one is expected, or values that disagree',
  GH_CERT_MISSING: 'the input carries no certificate (an XFCC element without Cert or Hash)',
  GH_CERT_CNF_MALFORMED:
    'cnf is not an object, or its x5t#S256 is not a SHA-256 base64url thumbprint',
  GH_CERT_REQUIRED: 'the token is bound to a certificate and the request presented none',
  GH_CERT_MISMATCH: 'the token is bound to another certificate than the one presented',
} as const;

/** Gatehouse's own HTTP/2 and gRPC server: why a connection or a call was refused. */
export const TRANSPORT_ERRORS = {
  GH_HPACK_INVALID:
    'an HTTP/2 header block does not decode (RFC 7541: a bad index, integer, Huffman string or table size update); the connection is closed with COMPRESSION_ERROR',
  GH_GRPC_CALL_FAILED:
    'a gRPC call ended with a status before its handler answered (a message over the limit, an unknown grpc-encoding, a bad grpc-timeout); the client gets that grpc-status and grpc-message',
} as const;

/** Every operational code, one registry. */
export const ERROR_CODES = {
  ...CONFIG_ERRORS,
  ...POLICY_ERRORS,
  ...BUNDLE_ERRORS,
  ...FETCH_ERRORS,
  ...OAUTH_CLIENT_ERRORS,
  ...OIDC_SYNC_ERRORS,
  ...INTROSPECTION_ERRORS,
  ...DPOP_ERRORS,
  ...CERTIFICATE_ERRORS,
  ...TRANSPORT_ERRORS,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;
export type DpopFailureCode = keyof typeof DPOP_ERRORS;
export type CertificateErrorCode = keyof typeof CERTIFICATE_ERRORS;
