import { z } from 'zod';

/**
 * The configuration file's one schema. Units are in the option names (`...S` seconds,
 * `...Ms` milliseconds, `...Bytes`); every default is stated here and in the README.
 * Unknown keys are errors, so a typo never silently falls back to a default.
 */

/** RFC 7518 JWS algorithms Gatehouse verifies. `none` is never accepted. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;

const algorithm = z.enum([...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS], {
  error: () =>
    `must be one of ${[...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS].join(', ')} ("none" is never accepted)`,
});

const port = z.number().int().min(0).max(65535);

const issuerSchema = z
  .strictObject({
    /** The exact `iss` value tokens carry. */
    issuer: z.string().min(1),
    /** Audiences this resource server accepts from the issuer (any one must be in `aud`). */
    audiences: z.array(z.string().min(1)).min(1),
    algorithms: z.array(algorithm).min(1).default(['RS256', 'ES256']),
    /** A JWKS document on disk (read at start and on every reload). */
    jwksFile: z.string().min(1).optional(),
    /** A JWKS URL, fetched by the control loop, never on the check path. */
    jwksUrl: z.url({ protocol: /^https?$/ }).optional(),
    jwksRefreshIntervalS: z.number().int().min(10).default(300),
    /** Name of an environment variable holding the shared secret for HS* algorithms. */
    hmacSecretEnv: z.string().min(1).optional(),
    clockSkewS: z.number().int().min(0).max(600).optional(),
  })
  .superRefine((value, ctx) => {
    const keySources = [value.jwksFile, value.jwksUrl, value.hmacSecretEnv].filter(
      (source) => source !== undefined,
    );
    if (keySources.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'needs a key source: jwksFile, jwksUrl or hmacSecretEnv',
      });
    }
    if (value.jwksFile !== undefined && value.jwksUrl !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'set jwksFile or jwksUrl, not both' });
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

export const configSchema = z.strictObject({
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
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
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
      trustedProxies: z.array(z.string().min(1)).default(['127.0.0.0/8', '::1/128']),
      maxBodyBytes: z
        .number()
        .int()
        .min(0)
        .default(64 * 1024),
    })
    .prefault({}),
  policies: z
    .strictObject({
      /** Folder with Rego files, an optional data.json and the API catalog. */
      dir: z.string().min(1).default('policies'),
      catalogFile: z.string().min(1).default('catalog.yaml'),
      /** Rebuild the snapshot when a file in `dir` changes. */
      watch: z.boolean().default(true),
      watchDebounceMs: z.number().int().min(0).default(250),
      /** Where compiled WebAssembly is cached by content hash. */
      compileCacheDir: z.string().min(1).default('.gatehouse/wasm-cache'),
    })
    .prefault({}),
  opa: z
    .strictObject({
      /** Path to the `opa` binary; else OPA_BIN, then .tools/bin/opa, then PATH. */
      binary: z.string().min(1).optional(),
      buildTimeoutMs: z.number().int().min(1000).default(120_000),
    })
    .prefault({}),
  routing: z
    .strictObject({
      /** Let requests that match no API through (policy-free). Off: unknown APIs are denied. */
      allowUnknownApis: z.boolean().default(false),
    })
    .prefault({}),
  tokens: z
    .strictObject({
      maxTokenBytes: z.number().int().min(256).default(8192),
      /** Tolerance for exp/nbf/iat, in seconds (per-issuer clockSkewS overrides). */
      clockSkewS: z.number().int().min(0).max(600).default(30),
    })
    .prefault({}),
  issuers: z.array(issuerSchema).default([]),
});

/** The validated configuration. Paths in it are absolute (resolved against the config file). */
export type GatehouseConfig = z.infer<typeof configSchema>;
export type IssuerConfig = GatehouseConfig['issuers'][number];
