import type { Dispatcher } from 'undici';
import { fetchBytes } from './http-fetch.js';
import { checkEndpointUrl } from './oauth/endpoint-url.js';
import { describeFailure, OAuthClientError } from './oauth/errors.js';
import { DiscoveryError } from './oidc-errors.js';
import { parseSecureUrl } from './secure-url.js';

/*
 * The one reader of an authorization server's metadata document, for both of its users:
 * the key sync and the introspectors (discoverIssuer: jwks_uri, introspection_endpoint,
 * GH_OIDC_* errors) and Gatehouse's OAuth client (discoverTokenEndpoint: token_endpoint or
 * its mTLS alias, GH_OAUTH_* errors). Fetching, the 200 check, JSON parsing and the exact
 * issuer match happen once, in readMetadataDocument; each caller words its own errors.
 */

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
  const read = await readMetadataDocument(issuer, url, {
    headers: { ...(await options.headers?.()), accept: 'application/json' },
    timeoutMs: options.timeoutMs,
    maxBytes: options.maxBytes,
    dispatcher: options.dispatcher,
  });
  if ('problem' in read) throw discoveryError(issuer, url, read.problem);
  return metadataFields(issuer, url, read.fields);
}

/** Validates a metadata document fetched from `url` for the configured `issuer`. */
export function parseMetadata(issuer: string, url: string, body: Buffer): OidcMetadata {
  const parsed = parseMetadataDocument(issuer, 200, body);
  if ('problem' in parsed) throw discoveryError(issuer, url, parsed.problem);
  return metadataFields(issuer, url, parsed.fields);
}

function metadataFields(
  issuer: string,
  url: string,
  fields: Readonly<Record<string, unknown>>,
): OidcMetadata {
  return {
    issuer,
    // Section 3: jwks_uri is REQUIRED for an OpenID Provider.
    jwksUri: endpoint(fields, 'jwks_uri', url, true),
    tokenEndpoint: endpoint(fields, 'token_endpoint', url, false),
    introspectionEndpoint: endpoint(fields, 'introspection_endpoint', url, false),
  };
}

function discoveryError(issuer: string, url: string, problem: MetadataProblem): DiscoveryError {
  switch (problem.kind) {
    case 'unreachable':
      return new DiscoveryError(
        'GH_OIDC_DISCOVERY_FAILED',
        `cannot fetch ${url}: ${String(problem.error)}`,
        { cause: problem.error },
      );
    case 'status':
      // Section 4.2: a successful response uses the 200 OK status code.
      return new DiscoveryError(
        'GH_OIDC_DISCOVERY_FAILED',
        `${url} answered HTTP ${problem.status}`,
      );
    case 'not-json':
      return new DiscoveryError('GH_OIDC_METADATA_INVALID', `${url} is not valid JSON`, {
        cause: problem.error,
      });
    case 'not-object':
      return new DiscoveryError('GH_OIDC_METADATA_INVALID', `${url} is not a JSON object`);
    case 'issuer-mismatch':
      return new DiscoveryError(
        'GH_OIDC_ISSUER_MISMATCH',
        `${url} names issuer ${JSON.stringify(problem.named)}, not the configured ${JSON.stringify(issuer)}`,
      );
  }
}

function endpoint(
  fields: Readonly<Record<string, unknown>>,
  name: string,
  url: string,
  required: true,
): string;
function endpoint(
  fields: Readonly<Record<string, unknown>>,
  name: string,
  url: string,
  required: false,
): string | undefined;
function endpoint(
  fields: Readonly<Record<string, unknown>>,
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

/** Why a metadata document was not read: each caller turns it into its own error. */
type MetadataProblem =
  | { readonly kind: 'unreachable'; readonly error: unknown }
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'not-json'; readonly status: number; readonly error: unknown }
  | { readonly kind: 'not-object'; readonly status: number }
  | { readonly kind: 'issuer-mismatch'; readonly status: number; readonly named: unknown };

type MetadataRead =
  | { readonly status: number; readonly fields: Readonly<Record<string, unknown>> }
  | { readonly problem: MetadataProblem };

async function readMetadataDocument(
  issuer: string,
  url: string,
  request: {
    readonly headers: Record<string, string>;
    readonly timeoutMs: number;
    readonly maxBytes: number;
    readonly dispatcher: Dispatcher | undefined;
  },
): Promise<MetadataRead> {
  let status: number;
  let body: Buffer;
  try {
    ({ status, body } = await fetchBytes(url, {
      headers: request.headers,
      timeoutMs: request.timeoutMs,
      maxBytes: request.maxBytes,
      ...(request.dispatcher === undefined ? {} : { dispatcher: request.dispatcher }),
    }));
  } catch (error) {
    return { problem: { kind: 'unreachable', error } };
  }
  // OIDC Discovery 1.0 section 4.2: a successful response uses the 200 OK status code.
  if (status !== 200) return { problem: { kind: 'status', status } };
  return parseMetadataDocument(issuer, status, body);
}

function parseMetadataDocument(issuer: string, status: number, body: Buffer): MetadataRead {
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch (error) {
    return { problem: { kind: 'not-json', status, error } };
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    return { problem: { kind: 'not-object', status } };
  }
  const fields = document as Record<string, unknown>;
  // Section 4.3 (and RFC 8414 section 3.3): the issuer in the document MUST be identical to
  // the one used to build the URL, compared as exact strings. Anything else is a mix-up or
  // impersonation attempt (or a trailing-slash misconfiguration): its keys and endpoints
  // are not ours, and our credentials must not go there.
  if (fields.issuer !== issuer) {
    return { problem: { kind: 'issuer-mismatch', status, named: fields.issuer } };
  }
  return { status, fields };
}

/** What the token source needs from the authorization server's metadata. */
export interface TokenEndpointMetadata {
  readonly issuer: string;
  /** The endpoint to post to: `token_endpoint`, or its mTLS alias (RFC 8705 section 5). */
  readonly tokenEndpoint: string;
  /** `token_endpoint_auth_methods_supported`, when published (RFC 8414 section 2). */
  readonly authMethods: readonly string[] | undefined;
}

export interface DiscoverOptions {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly dispatcher: Dispatcher | undefined;
  /**
   * The client authenticates with its TLS certificate (or holds one for bound tokens):
   * prefer `mtls_endpoint_aliases.token_endpoint`, as RFC 8705 section 5 asks.
   */
  readonly mutualTls: boolean;
}

/**
 * Finds the token endpoint in the issuer's discovery document. The document must name the
 * configured issuer exactly (OIDC Discovery 1.0 section 4.3, RFC 8414 section 3.3):
 * otherwise anyone able to answer at that URL could send our credentials elsewhere.
 * Throws OAuthClientError GH_OAUTH_TOKEN_FAILED.
 */
export async function discoverTokenEndpoint(
  issuer: string,
  options: DiscoverOptions,
): Promise<TokenEndpointMetadata> {
  const url = wellKnownUrl(issuer);
  const fail = (problem: string, status?: number, cause?: unknown): OAuthClientError =>
    new OAuthClientError(
      'GH_OAUTH_TOKEN_FAILED',
      `discovery ${url} failed: ${problem}`,
      { status },
      cause === undefined ? undefined : { cause },
    );

  const read = await readMetadataDocument(issuer, url, {
    headers: { accept: 'application/json' },
    timeoutMs: options.timeoutMs,
    maxBytes: options.maxBytes,
    dispatcher: options.dispatcher,
  });
  if ('problem' in read) {
    const { problem } = read;
    switch (problem.kind) {
      case 'unreachable':
        throw fail(describeFailure(problem.error, url), undefined, problem.error);
      case 'status':
        throw fail(`HTTP ${problem.status}`, problem.status);
      case 'not-json':
        throw fail('the answer is not JSON', problem.status, problem.error);
      case 'not-object':
        throw fail('the answer is not a JSON object', problem.status);
      case 'issuer-mismatch':
        throw fail(
          `it names issuer ${JSON.stringify(problem.named)}, not ${JSON.stringify(issuer)}`,
          problem.status,
        );
    }
  }
  const { fields: metadata, status } = read;

  let endpoint = metadata.token_endpoint;
  const aliases = metadata.mtls_endpoint_aliases;
  if (options.mutualTls && typeof aliases === 'object' && aliases !== null) {
    const alias = (aliases as Record<string, unknown>).token_endpoint;
    if (alias !== undefined) endpoint = alias;
  }
  if (typeof endpoint !== 'string') {
    throw fail('it has no token_endpoint', status);
  }
  const checked = checkEndpointUrl(endpoint);
  if ('reason' in checked) {
    throw fail(`its token endpoint ${endpoint} ${checked.reason}`, status);
  }

  const methods = metadata.token_endpoint_auth_methods_supported;
  return {
    issuer,
    tokenEndpoint: checked.url,
    authMethods:
      Array.isArray(methods) && methods.every((m) => typeof m === 'string') ? methods : undefined,
  };
}
