import type { Dispatcher } from 'undici';
import { fetchBytes } from './http-fetch.js';
import { DiscoveryError } from './oidc-errors.js';
import { parseSecureUrl } from './secure-url.js';

/** The parts of an OpenID Provider's metadata (OIDC Discovery 1.0 section 3) Gatehouse uses. */
export interface OidcMetadata {
  /** `issuer`: identical to the configured issuer (section 4.3). */
  readonly issuer: string;
  /** `jwks_uri`: where the signing keys are published. */
  readonly jwksUri: string;
  /** `token_endpoint`, when published (RFC 8414 section 2). */
  readonly tokenEndpoint: string | undefined;
  /** `introspection_endpoint`, when published (RFC 8414 section 2, RFC 7662). */
  readonly introspectionEndpoint: string | undefined;
}

export interface DiscoveryOptions {
  /** For the response headers and for the body each, in milliseconds. */
  readonly timeoutMs: number;
  /** The largest metadata document accepted, in bytes. */
  readonly maxBytes: number;
  /** Extra request headers, asked for on every request (e.g. a bearer token that rotates). */
  readonly headers?: () => Promise<Record<string, string>>;
  /** An undici dispatcher, e.g. an Agent with a client certificate for mutual TLS. */
  readonly dispatcher?: Dispatcher;
}

/**
 * Where an issuer's metadata lives. OIDC Discovery 1.0 section 4 appends
 * `/.well-known/openid-configuration` to the issuer, path included, after removing a
 * terminating "/" (section 4.1): https://a/b -> https://a/b/.well-known/openid-configuration.
 * (RFC 8414 section 3.1 inserts its own suffix before the path instead; section 5 keeps
 * the appended form for `openid-configuration`, which is the one providers serve.)
 */
export function wellKnownUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

/**
 * Fetches and validates an issuer's metadata. Throws DiscoveryError; never returns
 * metadata that names another issuer.
 */
export async function discoverIssuer(
  issuer: string,
  options: DiscoveryOptions,
): Promise<OidcMetadata> {
  assertIssuerIdentifier(issuer);
  const url = wellKnownUrl(issuer);
  let status: number;
  let body: Buffer;
  try {
    ({ status, body } = await fetchBytes(url, {
      headers: { ...(await options.headers?.()), accept: 'application/json' },
      timeoutMs: options.timeoutMs,
      maxBytes: options.maxBytes,
      ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
    }));
  } catch (error) {
    throw new DiscoveryError('GH_OIDC_DISCOVERY_FAILED', `cannot fetch ${url}: ${String(error)}`, {
      cause: error,
    });
  }
  // Section 4.2: a successful response uses the 200 OK status code.
  if (status !== 200) {
    throw new DiscoveryError('GH_OIDC_DISCOVERY_FAILED', `${url} answered HTTP ${status}`);
  }
  return parseMetadata(issuer, url, body);
}

/** Validates a metadata document fetched from `url` for the configured `issuer`. */
export function parseMetadata(issuer: string, url: string, body: Buffer): OidcMetadata {
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new DiscoveryError('GH_OIDC_METADATA_INVALID', `${url} is not valid JSON`, {
      cause: error,
    });
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new DiscoveryError('GH_OIDC_METADATA_INVALID', `${url} is not a JSON object`);
  }
  const fields = document as Record<string, unknown>;
  // Section 4.3 (and RFC 8414 section 3.3): the issuer in the document MUST be identical to
  // the one used to build the URL, compared as exact strings. Anything else is a mix-up or
  // impersonation attempt (or a trailing-slash misconfiguration): its keys are not ours.
  if (fields.issuer !== issuer) {
    throw new DiscoveryError(
      'GH_OIDC_ISSUER_MISMATCH',
      `${url} names issuer ${JSON.stringify(fields.issuer)}, not the configured ${JSON.stringify(issuer)}`,
    );
  }
  return {
    issuer,
    // Section 3: jwks_uri is REQUIRED for an OpenID Provider.
    jwksUri: endpoint(fields, 'jwks_uri', url, true),
    tokenEndpoint: endpoint(fields, 'token_endpoint', url, false),
    introspectionEndpoint: endpoint(fields, 'introspection_endpoint', url, false),
  };
}

function endpoint(
  fields: Record<string, unknown>,
  name: string,
  url: string,
  required: true,
): string;
function endpoint(
  fields: Record<string, unknown>,
  name: string,
  url: string,
  required: false,
): string | undefined;
function endpoint(
  fields: Record<string, unknown>,
  name: string,
  url: string,
  required: boolean,
): string | undefined {
  const value = fields[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string') {
    throw new DiscoveryError('GH_OIDC_METADATA_INVALID', `${url} has no string ${name}`);
  }
  const parsed = parseSecureUrl(value);
  if ('reason' in parsed) {
    throw new DiscoveryError('GH_OIDC_METADATA_INVALID', `${url}: ${name} ${parsed.reason}`);
  }
  return value;
}

/**
 * OIDC Core 1.0 section 2 / RFC 8414 section 2: the issuer is an https URL with no query
 * or fragment. Checked before any request, so a typo never reaches the network.
 */
function assertIssuerIdentifier(issuer: string): void {
  const parsed = parseSecureUrl(issuer);
  if ('reason' in parsed) {
    throw new DiscoveryError('GH_OIDC_ISSUER_INVALID', `issuer ${issuer} ${parsed.reason}`);
  }
  if (parsed.url.search !== '' || parsed.url.hash !== '' || /[?#]/.test(issuer)) {
    throw new DiscoveryError(
      'GH_OIDC_ISSUER_INVALID',
      `issuer ${issuer} must not have a query or fragment`,
    );
  }
}
