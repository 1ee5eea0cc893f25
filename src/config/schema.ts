import { isIP } from 'node:net';
import { z } from 'zod';
import {
  ASYMMETRIC_ALGORITHMS,
  BUNDLE_SIGNING_ALGORITHMS,
  HMAC_ALGORITHMS,
} from '../jose/jws-algorithms.js';
import {
  ASSERTION_AUDIENCES,
  CLIENT_AUTH_METHODS,
  SENDS_CLIENT_ASSERTION,
  USES_CLIENT_SECRET,
} from '../net/oauth/client-options.js';
import { isVsChars } from '../net/oauth/client-secret.js';
import { checkEndpointUrl } from '../net/oauth/endpoint-url.js';
import { ASSERTION_ALGORITHMS } from '../net/oauth/signing-key.js';
import { isLoopbackHost } from '../net/secure-url.js';
import { LOG_LEVELS } from '../observability/logger.js';
import { DEFAULT_IDENTITY_HEADERS } from './identity-headers.js';

/**
 * The configuration file's one schema. Units are in the option names (`...S` seconds,
 * `...Ms` milliseconds, `...Bytes`); every default is stated here and in docs/configuration.md.
 * Unknown keys are errors, so a typo never silently falls back to a default.
 */

export { ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS };

const algorithm = z.enum([...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS], {
  error: () =>
    `must be one of ${[...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS].join(', ')} ("none" is never accepted)`,
});

const port = z.number().int().min(0).max(65535);

/**
 * routing.methodOverride (src/check/method-override.ts says what each does; its mode type
 * is this enum's). Listed here: config is below check.
 */
export const METHOD_OVERRIDE_MODES = ['strip', 'authorize'] as const;

/** The API catalog's path in the policy folder and in a bundle. */
const DEFAULT_CATALOG_FILE = 'catalog.yaml';

/**
 * RFC 7662 introspection for an issuer's opaque tokens, authenticated as the
 * `centralServer` client. The endpoint defaults to the discovery document's.
 */
const introspectionSchema = z.strictObject({
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  timeoutMs: z.number().int().min(100).default(2000),
  /** Longest an active answer is reused, in seconds (never past the token's exp). */
  cacheMaxTtlS: z.number().int().min(0).default(300),
  /** How long an inactive answer is remembered, in seconds (kept short: at most 60). */
  inactiveCacheTtlS: z.number().int().min(0).max(60).default(10),
  /** Introspection (and discovery) requests sent to this issuer per second, on average. */
  maxCallsPerS: z.number().int().min(1).default(50),
  /** The most requests sent at once after a quiet spell (token bucket size). */
  maxCallsBurst: z.number().int().min(1).default(100),
});

const issuerSchema = z
  .strictObject({
    /** The exact `iss` value tokens carry. */
    issuer: z.string().min(1),
    /** Audiences this resource server accepts from the issuer (any one must be in `aud`). */
    audiences: z.array(z.string().min(1)).min(1),
    algorithms: z.array(algorithm).min(1).default(['RS256', 'ES256']),
    /** Find the JWKS by OIDC discovery: `<issuer>/.well-known/openid-configuration` -> jwks_uri. */
    discovery: z.boolean().default(false),
    /** A JWKS document on disk (read at start and on every reload). */
    jwksFile: z.string().min(1).optional(),
    /** A JWKS URL, fetched by the control loop, never on the check path. */
    jwksUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** A PEM X.509 signer certificate whose public key verifies the issuer's tokens. */
    signerCertificateFile: z.string().min(1).optional(),
    /** The `kid` tokens signed by signerCertificateFile carry (default: its x5t#S256 thumbprint). */
    signerKeyId: z.string().min(1).optional(),
    jwksRefreshIntervalS: z.number().int().min(10).default(300),
    /** At most one refresh per this many seconds when tokens name an unknown `kid`. */
    unknownKidCooldownS: z.number().int().min(1).default(30),
    /**
     * Fail closed on old keys: once the keys have not been loaded successfully for this
     * many seconds, the issuer's tokens deny (GH_ERR_ISSUER_KEYS_STALE). Off by default.
     * The keys are refreshed at least every maxKeyStalenessS / 2 seconds.
     */
    maxKeyStalenessS: z.number().int().min(2).optional(),
    /** Authenticate discovery and JWKS requests with the `centralServer` OAuth client. */
    useClientAuth: z.boolean().default(false),
    /** Name of an environment variable holding the shared secret for HS* algorithms. */
    hmacSecretEnv: z.string().min(1).optional(),
    clockSkewS: z.number().int().min(0).max(600).optional(),
    /**
     * Refuse JWTs issued longer ago than this (requires `iat`), whatever their exp says;
     * unset: no age limit (RFC 7519 section 4.1.6, RFC 9068 section 4).
     */
    maxTokenAgeS: z.number().int().min(1).optional(),
    /**
     * RFC 7662 introspection for this issuer's opaque tokens, authenticated as the
     * `centralServer` client. The endpoint defaults to the discovery document's.
     */
    introspection: introspectionSchema.optional(),
    /** Insist on `typ: at+jwt` (RFC 9068), which also keeps ID tokens out. */
    requireTypAtJwt: z.boolean().default(false),
    /** Claims every token of this issuer must carry (besides exp). */
    requiredClaims: z.array(z.string().min(1)).default([]),
  })
  .superRefine((value, ctx) => {
    const publicKeySources = [
      value.discovery ? 'discovery' : undefined,
      value.jwksFile,
      value.jwksUrl,
      value.signerCertificateFile,
    ].filter((source) => source !== undefined);
    if (
      publicKeySources.length === 0 &&
      value.hmacSecretEnv === undefined &&
      value.introspection === undefined
    ) {
      ctx.addIssue({
        code: 'custom',
        message:
          'needs a key source (discovery, jwksUrl, jwksFile, signerCertificateFile, hmacSecretEnv) or introspection',
      });
    }
    if (value.maxKeyStalenessS !== undefined && publicKeySources.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxKeyStalenessS'],
        message: 'needs a public key source (discovery, jwksUrl, jwksFile, signerCertificateFile)',
      });
    }
    if (publicKeySources.length > 1) {
      ctx.addIssue({
        code: 'custom',
        message: 'set only one of discovery, jwksUrl, jwksFile, signerCertificateFile',
      });
    }
    // RFC 8725 section 3.1: an HMAC algorithm next to public keys invites the
    // "HS256 signed with the RSA public key" confusion; allow HS* only with a secret.
    const usesHmac = value.algorithms.some((alg) =>
      (HMAC_ALGORITHMS as readonly string[]).includes(alg),
    );
    if (usesHmac && value.hmacSecretEnv === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['algorithms'],
        message: 'HS* algorithms need hmacSecretEnv (a shared secret), never a public key',
      });
    }
    if (value.hmacSecretEnv !== undefined && !usesHmac) {
      ctx.addIssue({
        code: 'custom',
        path: ['hmacSecretEnv'],
        message: 'is set but algorithms lists no HS* algorithm',
      });
    }
  });

const clientAuthMethod = z.enum(CLIENT_AUTH_METHODS, {
  error: () => `must be one of ${CLIENT_AUTH_METHODS.join(', ')}`,
});

/** RFC 8707 section 2: a resource indicator is an absolute URI without a fragment. */
const resourceIndicator = z.string().superRefine((value, ctx) => {
  if (URL.parse(value)?.hash !== '') {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(value)} is not an absolute URI without a fragment (RFC 8707 section 2)`,
    });
  }
});

/**
 * An authorization server URL a credential is sent to: https, or http to loopback only, no
 * userinfo, no fragment (checkEndpointUrl says why).
 */
const authorizationServerUrl = z.string().superRefine((value, ctx) => {
  const checked = checkEndpointUrl(value);
  if ('reason' in checked) ctx.addIssue({ code: 'custom', message: checked.reason });
});

/** How Gatehouse authenticates itself to the central authorization server (an OAuth client). */
export const centralServerSchema = z
  .strictObject({
    /** The authorization server's issuer; its discovery document names the token endpoint. */
    issuer: authorizationServerUrl.optional(),
    /** The token endpoint, when not discovered from `issuer`. */
    tokenEndpoint: authorizationServerUrl.optional(),
    /** RFC 6749 Appendix A.1: client-id is *VSCHAR (printable ASCII). */
    clientId: z
      .string()
      .min(1, 'is required')
      .refine(isVsChars, 'must be printable ASCII (RFC 6749 Appendix A.1)'),
    method: clientAuthMethod,
    /** Environment variable holding the client secret (client_secret_*). */
    clientSecretEnv: z.string().min(1).optional(),
    /** PEM private key for private_key_jwt. */
    privateKeyFile: z.string().min(1).optional(),
    /** Default: the algorithm the key fits. */
    privateKeyAlgorithm: z
      .enum(ASSERTION_ALGORITHMS, {
        error: () => `must be one of ${ASSERTION_ALGORITHMS.join(', ')}`,
      })
      .optional(),
    privateKeyId: z.string().min(1).optional(),
    /** Client certificate and key (PEM) for tls_client_auth and for mutual TLS downloads. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** CA bundle (PEM) to trust for the central server's TLS certificate. */
    caFile: z.string().min(1).optional(),
    /** Environment variable with the passphrase of an encrypted keyFile. */
    keyPassphraseEnv: z.string().min(1).optional(),
    /** RFC 6749 section 3.3: scope = scope-token *( SP scope-token ). */
    scope: z
      .string()
      .regex(
        /^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/,
        'must be scope tokens separated by single spaces (RFC 6749 section 3.3)',
      )
      .optional(),
    /** RFC 8707 resource indicator(s). */
    resource: z.union([resourceIndicator, z.array(resourceIndicator).min(1)]).optional(),
    /** A non-standard `audience` token request parameter (some providers want it). */
    audience: z.string().min(1).optional(),
    /** A client assertion's `aud`: the token endpoint (default) or the issuer. */
    assertionAudience: z
      .enum(ASSERTION_AUDIENCES, { error: () => `must be ${ASSERTION_AUDIENCES.join(' or ')}` })
      .optional(),
    requestTimeoutMs: z.number().int().min(100).default(10_000),
    /** Renew the access token this many seconds before it expires. */
    refreshSkewS: z.number().int().min(0).default(30),
  })
  .superRefine((value, ctx) => {
    if (value.issuer === undefined && value.tokenEndpoint === undefined) {
      ctx.addIssue({ code: 'custom', message: 'set issuer (discovery) or tokenEndpoint' });
    }
    const needs: Record<string, readonly (keyof typeof value)[]> = {
      client_secret_basic: ['clientSecretEnv'],
      client_secret_post: ['clientSecretEnv'],
      client_secret_jwt: ['clientSecretEnv'],
      private_key_jwt: ['privateKeyFile'],
      tls_client_auth: ['certFile', 'keyFile'],
      self_signed_tls_client_auth: ['certFile', 'keyFile'],
    };
    for (const field of needs[value.method] ?? []) {
      if (value[field] === undefined) {
        ctx.addIssue({ code: 'custom', path: [field], message: `is required for ${value.method}` });
      }
    }
    // Whatever the method does not use is refused rather than ignored: a secret configured
    // next to a certificate is a mistake worth hearing about at start-up.
    const { method } = value;
    if (!USES_CLIENT_SECRET.has(method) && value.clientSecretEnv !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['clientSecretEnv'],
        message: `is set but ${method} does not use a client secret`,
      });
    }
    if (method !== 'private_key_jwt') {
      for (const field of ['privateKeyFile', 'privateKeyAlgorithm', 'privateKeyId'] as const) {
        if (value[field] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: `is set but only private_key_jwt uses it (method is ${method})`,
          });
        }
      }
    }
    if (value.assertionAudience !== undefined && !SENDS_CLIENT_ASSERTION.has(method)) {
      ctx.addIssue({
        code: 'custom',
        path: ['assertionAudience'],
        message: `is set but ${method} sends no client assertion`,
      });
    } else if (value.assertionAudience === 'issuer' && value.issuer === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['assertionAudience'],
        message: 'is issuer, so issuer must be set',
      });
    }
  });

/**
 * With useClientAuth the bearer token (RFC 6750 section 5.3: TLS is required) must not
 * travel in clear text to anything but this host.
 */
function refuseTokenInClearText(
  value: { readonly url: string; readonly useClientAuth: boolean },
  ctx: z.RefinementCtx,
): void {
  const url = new URL(value.url);
  if (value.useClientAuth && url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    ctx.addIssue({
      code: 'custom',
      path: ['url'],
      message: 'must be https when useClientAuth sends a token (http is allowed to loopback only)',
    });
  }
}

/** An OPA bundle with the policies, data and API catalog, polled over HTTP. */
const bundleSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }),
    /** Seconds between polls: a random delay between min and max (jitter). */
    pollMinDelayS: z.number().min(1).default(10),
    pollMaxDelayS: z.number().min(1).default(20),
    /** Ask the server to hold the request up to this long until the bundle changes (OPA long polling). */
    longPollingTimeoutS: z.number().int().min(1).optional(),
    requestTimeoutMs: z.number().int().min(100).default(10_000),
    /** Send the `centralServer` OAuth token (and client certificate) with bundle requests. */
    useClientAuth: z.boolean().default(false),
    /** The API catalog's path inside the bundle. */
    catalogFile: z.string().min(1).default(DEFAULT_CATALOG_FILE),
    maxBundleBytes: z
      .number()
      .int()
      .min(1024)
      .default(32 * 1024 * 1024),
    /** Verify OPA bundle signatures (.signatures.json); unsigned or tampered bundles are refused. */
    signing: z
      .strictObject({
        /** PEM public key (RS*, PS*, ES*). */
        publicKeyFile: z.string().min(1).optional(),
        /** Environment variable with a shared secret (HS256). */
        secretEnv: z.string().min(1).optional(),
        algorithm: z.enum(BUNDLE_SIGNING_ALGORITHMS).default('RS256'),
        keyId: z.string().min(1).optional(),
        scope: z.string().min(1).optional(),
      })
      .refine((v) => (v.publicKeyFile === undefined) !== (v.secretEnv === undefined), {
        message: 'set exactly one of publicKeyFile or secretEnv',
      })
      .optional(),
  })
  .superRefine((value, ctx) => {
    if (value.pollMaxDelayS < value.pollMinDelayS) {
      ctx.addIssue({
        code: 'custom',
        path: ['pollMaxDelayS'],
        message: 'must be >= pollMinDelayS',
      });
    }
    refuseTokenInClearText(value, ctx);
  });

/** An OPA-style mask rule: a JSON Pointer (erased), or { op: remove | upsert, path, value }. */
const maskPath = z
  .string()
  .regex(/^\/(input|result)(\/.*)?$/, 'must be a JSON Pointer under /input or /result');
const maskRule = z.union([
  maskPath,
  z.strictObject({ op: z.literal('remove'), path: maskPath }),
  z.strictObject({ op: z.literal('upsert'), path: maskPath, value: z.unknown() }),
]);

const decisionLogsSchema = z
  .strictObject({
    /** Write each record as one JSON line to standard output. */
    console: z.boolean().default(false),
    /** POST gzip'd JSON arrays of records to an OPA decision-log service. */
    service: z
      .strictObject({
        /** The full endpoint (OPA's is the service URL + /logs). */
        url: z.url({ protocol: /^https?$/ }),
        /** Send the `centralServer` OAuth token (and client certificate). */
        useClientAuth: z.boolean().default(false),
        timeoutMs: z.number().int().min(100).default(10_000),
      })
      .superRefine(refuseTokenInClearText)
      .optional(),
    /** Added to every record's `labels` (beside `id` and `version`). */
    labels: z.record(z.string().min(1), z.string()).default({}),
    /** Erased or replaced before a record leaves; credentials are always erased. */
    mask: z.array(maskRule).default([]),
    maxBatchRecords: z.number().int().min(1).default(500),
    maxBatchBytes: z
      .number()
      .int()
      .min(1024)
      .default(256 * 1024),
    flushIntervalMs: z.number().int().min(10).default(5000),
    /** Records waiting per sink at most; beyond it the oldest are dropped (counted). */
    maxBufferedRecords: z.number().int().min(1).default(10_000),
    backoffMinMs: z.number().int().min(10).default(500),
    backoffMaxMs: z.number().int().min(10).default(60_000),
    /** How long stopping waits for queued records to go out; the rest count as dropped. */
    shutdownTimeoutMs: z.number().int().min(0).default(5000),
  })
  .prefault({});

const tracingSchema = z
  .strictObject({
    /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces; unset: no traces. */
    otlpEndpoint: z.url({ protocol: /^https?$/ }).optional(),
    serviceName: z.string().min(1).default('gatehouse'),
    /** Share of checks without a sampled parent that are traced (0..1). */
    sampleRatio: z.number().min(0).max(1).default(1),
    /** Extra request headers for the exporter, e.g. an API key of the collector. */
    headers: z.record(z.string().min(1), z.string()).default({}),
  })
  .prefault({});
/**
 * TLS on a check listener (gRPC or HTTP): certificate and key files in PEM, read again every
 * reloadIntervalS and swapped in when they change (a renewed certificate is served without a
 * restart). With clientCaFile, every connection must present a certificate issued by that CA
 * (mTLS from Envoy or Istio); one without is refused at the handshake.
 */
const listenerTlsSchema = z.strictObject({
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  clientCaFile: z.string().min(1).optional(),
  reloadIntervalS: z.number().int().min(1).default(10),
});

export const configSchema = z
  .strictObject({
    /** The realm named in `WWW-Authenticate` challenges. */
    realm: z
      .string()
      .regex(
        /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/,
        'must be printable ASCII without quotes or backslashes',
      )
      .default('gatehouse'),
    log: z
      .strictObject({
        level: z.enum(LOG_LEVELS).default('info'),
      })
      .prefault({}),
    /**
     * Worker processes answering checks on the same ports (src/workers/); `auto`: one per
     * available core. 1 is one process, as without workers.
     */
    workers: z.union([z.number().int().min(1).max(256), z.literal('auto')]).default(1),
    grpc: z
      .strictObject({
        enabled: z.boolean().default(true),
        host: z.string().min(1).default('0.0.0.0'),
        port: port.default(9191),
        maxReceiveMessageBytes: z
          .number()
          .int()
          .min(1024)
          .default(4 * 1024 * 1024),
        /** HTTP/2 streams (calls) per connection at once; unset: no limit. */
        maxConcurrentStreams: z.number().int().min(1).optional(),
        /** TLS on the gRPC listener; unset: plaintext (a loopback sidecar). */
        tls: listenerTlsSchema.optional(),
        /** gRPC server reflection (grpc.reflection.v1 and v1alpha), for grpcurl without -proto. */
        reflection: z.boolean().default(true),
        /**
         * Which gRPC server answers: Gatehouse's own HTTP/2 server (src/transport/h2/, with
         * src/transport/grpc/h2-grpc-server.ts) or grpc-js's. Both answer every call alike.
         */
        server: z.enum(['gatehouse', 'grpc-js']).default('gatehouse'),
      })
      .prefault({}),
    http: z
      .strictObject({
        enabled: z.boolean().default(true),
        host: z.string().min(1).default('0.0.0.0'),
        port: port.default(9192),
        /** Envoy HTTP service mode: the authorization request path is this prefix + the original path. */
        envoyPathPrefix: z
          .string()
          .regex(/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/, 'must look like /envoy')
          .default('/envoy'),
        /** Peers whose X-Forwarded-* / X-Original-* headers are believed (CIDR or address). */
        trustedProxies: z
          .array(
            z.string().refine((entry) => isAddressOrCidr(entry), {
              message: 'must be an IP address or CIDR, like 10.0.0.0/8 or ::1/128',
            }),
          )
          .default(['127.0.0.0/8', '::1/128']),
        maxBodyBytes: z
          .number()
          .int()
          .min(0)
          .default(64 * 1024),
        /** The OpenID AuthZEN 1.0 access evaluation API on this listener (docs/authzen.md). */
        authzen: z
          .strictObject({
            enabled: z.boolean().default(true),
            /** The host an evaluation's resource is on when it names none. */
            defaultHost: z.string().min(1).default('localhost'),
            /** The PDP's own URL in /.well-known/authzen-configuration (default: from Host). */
            baseUrl: z.url({ protocol: /^https?$/ }).optional(),
          })
          .prefault({}),
        /** TLS on the HTTP check listener; unset: plaintext (a loopback sidecar). */
        tls: listenerTlsSchema.optional(),
      })
      .prefault({}),
    /** Health, readiness, metrics and status on a listener of their own, away from check floods. */
    probes: z
      .strictObject({
        enabled: z.boolean().default(true),
        host: z.string().min(1).default('0.0.0.0'),
        port: port.default(9193),
      })
      .prefault({}),
    /** SIGTERM/SIGINT: readiness false, then stop accepting, then let in-flight checks finish. */
    shutdown: z
      .strictObject({
        /** How long readiness says no while checks are still served, before the listeners close. */
        readinessDelayS: z.number().int().min(0).default(0),
        /** How long in-flight checks may take to finish once the listeners close; then they are cut. */
        drainTimeoutS: z.number().int().min(0).default(20),
      })
      .prefault({}),
    /** Overload protection, shared by every transport. */
    limits: z
      .strictObject({
        /** Checks decided at once; beyond it a check is denied at once with GH_ERR_OVERLOADED. */
        maxInflightChecks: z.number().int().min(1).default(256),
        /**
         * Deny at once while the event loop runs this late (a queue of work in front of the
         * checks); 0 (the default) turns it off. Set it below the proxy's ext_authz timeout.
         */
        maxEventLoopDelayMs: z.number().int().min(0).default(0),
      })
      .prefault({}),
    policies: z
      .strictObject({
        /** Folder with Rego files, an optional data.json and the API catalog. */
        dir: z.string().min(1).default('policies'),
        catalogFile: z.string().min(1).default(DEFAULT_CATALOG_FILE),
        /** Rebuild the snapshot when a file in `dir` changes. */
        watch: z.boolean().default(true),
        watchDebounceMs: z.number().int().min(0).default(250),
        /** Read the folder again this often and rebuild if its content hash changed; 0 turns it off. */
        rescanIntervalS: z.number().int().min(0).default(10),
        /** Where compiled WebAssembly is cached by content hash. */
        compileCacheDir: z.string().min(1).default('.gatehouse/wasm-cache'),
      })
      .prefault({}),
    opa: z
      .strictObject({
        /** Path to the `opa` binary (env OPA_BIN sets it too); else .tools/bin/opa, then PATH. */
        binary: z.string().min(1).optional(),
        buildTimeoutMs: z.number().int().min(1000).default(120_000),
      })
      .prefault({}),
    routing: z
      .strictObject({
        /** Let requests that match no API through (policy-free). Off: unknown APIs are denied. */
        allowUnknownApis: z.boolean().default(false),
        /**
         * Headers only Gatehouse may set upstream: removed from every allowed request unless
         * set from verified claims (every claimsToHeaders name is one too). [] keeps only those.
         */
        identityHeaders: z
          .array(
            z
              .string()
              .regex(/^[A-Za-z0-9-]+$/, 'must be a header name')
              .transform((name) => name.toLowerCase()),
          )
          .default([...DEFAULT_IDENTITY_HEADERS]),
        /** X-HTTP-Method-Override and aliases: strip them, or authorize a POST's override method. */
        methodOverride: z.enum(METHOD_OVERRIDE_MODES).default('strip'),
      })
      .prefault({}),
    tokens: z
      .strictObject({
        maxTokenBytes: z.number().int().min(256).default(8192),
        /** Tolerance for exp/nbf/iat, in seconds (per-issuer clockSkewS overrides). */
        clockSkewS: z.number().int().min(0).max(600).default(30),
        /** Verified JWTs remembered (by hash) so a repeated token skips the signature check; 0 turns it off. */
        cacheMaxEntries: z.number().int().min(0).default(10_000),
        /** Longest a verified JWT is remembered, in seconds (never past its exp). */
        cacheMaxTtlS: z.number().int().min(1).default(300),
        /** DPoP proofs (RFC 9449). */
        dpop: z
          .strictObject({
            /** Proof algorithms accepted (asymmetric only). */
            algorithms: z
              .array(z.enum(ASYMMETRIC_ALGORITHMS))
              .min(1)
              .default(['ES256', 'RS256', 'PS256', 'EdDSA']),
            /** How far a proof's iat may be from now, either way, in seconds. */
            iatWindowS: z.number().int().min(1).max(600).default(60),
            /** Proof jtis remembered against replay (per process). */
            replayCacheMaxEntries: z.number().int().min(1000).default(100_000),
            /** A replay store shared by replicas (Redis or Valkey); unset: in memory. */
            replayStore: z
              .strictObject({
                redis: z.strictObject({
                  /** redis://[user@]host:port[/db] or rediss:// (TLS). */
                  url: z
                    .string()
                    .regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL'),
                  /** Env variable with the password (keep it out of the URL). */
                  passwordEnv: z.string().min(1).optional(),
                  /** Prefix of every key Gatehouse writes. */
                  keyPrefix: z.string().min(1).default('gatehouse:dpop:'),
                  /** Time limit for one SET, in ms; past it the proof is denied. */
                  timeoutMs: z.number().int().min(10).max(10_000).default(250),
                }),
              })
              .optional(),
            /** Server nonces (RFC 9449 section 9), for APIs with auth.dpopNonce: required. */
            nonce: z
              .strictObject({
                /** Env variable with the HMAC secret (>= 32 bytes) every replica shares. */
                secretEnv: z.string().min(1).optional(),
                /** Seconds per nonce window; a nonce is accepted for 1 to 2 windows. */
                lifetimeS: z.number().int().min(10).max(3600).default(120),
              })
              .prefault({}),
          })
          .prefault({}),
      })
      .prefault({}),
    issuers: z.array(issuerSchema).default([]),
    /** Gatehouse's OAuth client at the central authorization server (for bundles, JWKS). */
    centralServer: centralServerSchema.optional(),
    /** Policies, data and API catalog from an OPA bundle server, instead of policies.dir. */
    bundle: bundleSchema.optional(),
    /** Decision logs in OPA's event shape: console (JSON lines) and/or an HTTP service. */
    decisionLogs: decisionLogsSchema,
    /** OpenTelemetry traces over OTLP/HTTP: off unless an endpoint is set. */
    tracing: tracingSchema,
    /**
     * OPA-Envoy compatibility (opa-envoy-plugin's `plugins.envoy_ext_authz_grpc`): when set,
     * the policy folder or bundle needs no catalog, and the rule at `path` decides every
     * check (before any catalog policy). See docs/opa-envoy.md.
     */
    opaEnvoy: z
      .strictObject({
        /** The decision, as opa-envoy-plugin's `path`: `envoy/authz/allow` is data.envoy.authz.allow. */
        path: z
          .string()
          .regex(
            /^[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/,
            'must be a rule path like "envoy/authz/allow"',
          )
          .default('envoy/authz/allow'),
        /** As `dry-run`: every check is decided and logged, and then allowed. */
        dryRun: z.boolean().default(false),
        /** As `skip-request-body-parse`: no `parsed_body` / `truncated_body` in the input. */
        skipRequestBodyParse: z.boolean().default(false),
      })
      .optional(),
    persistence: z
      .strictObject({
        /** Keep the last activated snapshot's inputs on disk and serve them at restart. */
        enabled: z.boolean().default(true),
        dir: z.string().min(1).default('.gatehouse/state'),
        /** Environment variable with a key (>= 32 bytes) for an HMAC over the saved file. */
        hmacKeyEnv: z.string().min(1).optional(),
      })
      .prefault({}),
  })
  .superRefine((value, ctx) => {
    if (value.decisionLogs.service?.useClientAuth === true && value.centralServer === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['decisionLogs', 'service', 'useClientAuth'],
        message: 'needs centralServer: the token comes from that client',
      });
    }
    value.issuers.forEach((issuer, index) => {
      if (issuer.introspection !== undefined && value.centralServer === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['issuers', index, 'introspection'],
          message: 'needs centralServer: introspection requests are authenticated as that client',
        });
      }
    });
  });

/** The validated configuration. Paths in it are absolute (resolved against the config file). */
export type GatehouseConfig = z.infer<typeof configSchema>;
export type IssuerConfig = GatehouseConfig['issuers'][number];
/**
 * Every default as the schema states it, for modules that also run without a config file
 * (a caller in code, a test) and fall back to one: each default has this one home.
 */
export const CONFIG_DEFAULTS = configSchema.parse({});
/** The defaults of an issuer's `introspection` section (optional, so not in CONFIG_DEFAULTS). */
export const INTROSPECTION_CONFIG_DEFAULTS = introspectionSchema.parse({});
/** Gatehouse's OAuth client, as validated: net/oauth takes this shape as it is. */
export type CentralServerConfig = z.infer<typeof centralServerSchema>;

function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  const bits = Number(prefix);
  return /^\d+$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
}
