import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import type { JSONWebKeySet } from 'jose';
import type { Dispatcher } from 'undici';
import { asJsonWebKeySet, KeySetError } from '../../auth/issuer-keys.js';
import type { IssuerConfig } from '../../config/schema.js';
import { fetchBytes } from '../../net/http-fetch.js';
import { discoverIssuer, type OidcMetadata } from '../../net/oidc-discovery.js';
import { KeySourceError } from '../../net/oidc-errors.js';
import { parseSecureUrl } from '../../net/secure-url.js';
import { jwksFromCertificates } from './x509-keys.js';

/** Where one issuer's verification keys come from: exactly one of these. */
export type KeyOrigin =
  /** The issuer's metadata (OIDC Discovery 1.0) names the jwks_uri. */
  | { readonly kind: 'discovery' }
  /** A JWKS URL, configured directly. */
  | { readonly kind: 'jwksUrl'; readonly url: string }
  /** A JWKS document on disk, re-read on every refresh. */
  | { readonly kind: 'jwksFile'; readonly path: string }
  /** PEM X.509 signer certificate(s) on disk; `kid` names the key (else its x5t#S256). */
  | { readonly kind: 'certificateFile'; readonly path: string; readonly kid?: string };

/** The issuer options (src/config/schema.ts) that name an origin; an IssuerConfig is one. */
export interface KeyOriginFields {
  readonly discovery?: boolean;
  readonly jwksUrl?: string | undefined;
  readonly jwksFile?: string | undefined;
  readonly signerCertificateFile?: string | undefined;
  readonly signerKeyId?: string | undefined;
}

/**
 * Picks the origin from an issuer's options; throws naming the options unless exactly one
 * is set. The schema checks the same at start-up; this keeps the class safe on its own.
 */
export function selectKeyOrigin(fields: KeyOriginFields): KeyOrigin {
  const origins: KeyOrigin[] = [];
  if (fields.discovery === true) origins.push({ kind: 'discovery' });
  if (fields.jwksUrl !== undefined) origins.push({ kind: 'jwksUrl', url: fields.jwksUrl });
  if (fields.jwksFile !== undefined) origins.push({ kind: 'jwksFile', path: fields.jwksFile });
  if (fields.signerCertificateFile !== undefined) {
    origins.push({
      kind: 'certificateFile',
      path: fields.signerCertificateFile,
      ...(fields.signerKeyId === undefined ? {} : { kid: fields.signerKeyId }),
    });
  } else if (fields.signerKeyId !== undefined) {
    throw new TypeError('signerKeyId is set without signerCertificateFile');
  }
  const [origin, ...others] = origins;
  if (origin === undefined || others.length > 0) {
    throw new TypeError(
      `set exactly one of discovery, jwksUrl, jwksFile, signerCertificateFile (got ${origins.length})`,
    );
  }
  if (origin.kind === 'jwksUrl') {
    const parsed = parseSecureUrl(origin.url);
    if ('reason' in parsed) throw new TypeError(`jwksUrl ${parsed.reason}`);
  }
  return origin;
}

export interface LoadContext {
  readonly config: IssuerConfig;
  /** Per HTTP request: headers and body each, in milliseconds. */
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly headers?: () => Promise<Record<string, string>>;
  readonly dispatcher?: Dispatcher;
  /** Metadata from an earlier discovery; undefined discovers again. */
  readonly metadata: OidcMetadata | undefined;
}

export interface LoadedKeySet {
  readonly jwks: JSONWebKeySet;
  /** Where the keys were read: the JWKS URL, or a file: URL. */
  readonly jwksUri: string;
  /** The metadata used, for discovery origins. */
  readonly metadata: OidcMetadata | undefined;
}

/** Loads the key set once from `origin`. Throws DiscoveryError, KeySourceError or KeySetError. */
export async function loadKeySet(origin: KeyOrigin, context: LoadContext): Promise<LoadedKeySet> {
  switch (origin.kind) {
    case 'discovery': {
      const metadata =
        context.metadata ??
        (await discoverIssuer(context.config.issuer, {
          timeoutMs: context.timeoutMs,
          maxBytes: context.maxBytes,
          ...(context.headers === undefined ? {} : { headers: context.headers }),
          ...(context.dispatcher === undefined ? {} : { dispatcher: context.dispatcher }),
        }));
      return {
        jwks: await fetchJwks(metadata.jwksUri, context),
        jwksUri: metadata.jwksUri,
        metadata,
      };
    }
    case 'jwksUrl':
      return {
        jwks: await fetchJwks(origin.url, context),
        jwksUri: origin.url,
        metadata: undefined,
      };
    case 'jwksFile': {
      const text = await readKeyFile(origin.path);
      return {
        jwks: asJsonWebKeySet(parseJson(text, origin.path), origin.path),
        jwksUri: pathToFileURL(origin.path).href,
        metadata: undefined,
      };
    }
    case 'certificateFile': {
      const pem = await readKeyFile(origin.path);
      const jwks = await jwksFromCertificates(pem, context.config, origin.path, origin.kid);
      return {
        jwks: asJsonWebKeySet(jwks, origin.path),
        jwksUri: pathToFileURL(origin.path).href,
        metadata: undefined,
      };
    }
  }
}

async function fetchJwks(url: string, context: LoadContext): Promise<JSONWebKeySet> {
  let status: number;
  let body: Buffer;
  try {
    ({ status, body } = await fetchBytes(url, {
      // RFC 7517 section 8.5: application/jwk-set+json; many providers answer plain JSON.
      headers: {
        ...(await context.headers?.()),
        accept: 'application/jwk-set+json, application/json',
      },
      timeoutMs: context.timeoutMs,
      maxBytes: context.maxBytes,
      ...(context.dispatcher === undefined ? {} : { dispatcher: context.dispatcher }),
    }));
  } catch (error) {
    throw new KeySourceError('GH_OIDC_JWKS_FETCH_FAILED', `cannot fetch JWKS: ${String(error)}`, {
      cause: error,
    });
  }
  if (status !== 200) {
    throw new KeySourceError('GH_OIDC_JWKS_FETCH_FAILED', `JWKS ${url} answered HTTP ${status}`);
  }
  return asJsonWebKeySet(parseJson(body.toString('utf8'), url), url);
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new KeySetError(`cannot read ${path}: ${String(error)}`, { cause: error });
  }
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new KeySetError(`${source} is not valid JSON`, { cause: error });
  }
}
