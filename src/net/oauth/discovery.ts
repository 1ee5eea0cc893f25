import type { Dispatcher } from 'undici';
import { fetchBytes } from '../http-fetch.js';
import { checkEndpointUrl } from './endpoint-url.js';
import { describeFailure, OAuthClientError } from './errors.js';

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
 * The discovery document's URL: OIDC Discovery 1.0 section 4.1 appends
 * `/.well-known/openid-configuration` to the issuer, path included, after removing a
 * terminating "/".
 */
export function wellKnownUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

/**
 * Finds the token endpoint in the issuer's discovery document. The document must name the
 * configured issuer exactly (OIDC Discovery 1.0 section 4.3, RFC 8414 section 3.3):
 * otherwise anyone able to answer at that URL could send our credentials elsewhere.
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

  let response;
  try {
    response = await fetchBytes(url, {
      headers: { accept: 'application/json' },
      timeoutMs: options.timeoutMs,
      maxBytes: options.maxBytes,
      ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
    });
  } catch (error) {
    throw fail(describeFailure(error, url), undefined, error);
  }
  if (response.status !== 200) throw fail(`HTTP ${response.status}`, response.status);

  let document: unknown;
  try {
    document = JSON.parse(response.body.toString('utf8'));
  } catch (error) {
    throw fail('the answer is not JSON', response.status, error);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw fail('the answer is not a JSON object', response.status);
  }
  const metadata = document as Record<string, unknown>;
  if (metadata.issuer !== issuer) {
    throw fail(
      `it names issuer ${JSON.stringify(metadata.issuer)}, not ${JSON.stringify(issuer)}`,
      response.status,
    );
  }

  let endpoint = metadata.token_endpoint;
  const aliases = metadata.mtls_endpoint_aliases;
  if (options.mutualTls && typeof aliases === 'object' && aliases !== null) {
    const alias = (aliases as Record<string, unknown>).token_endpoint;
    if (alias !== undefined) endpoint = alias;
  }
  if (typeof endpoint !== 'string') {
    throw fail('it has no token_endpoint', response.status);
  }
  const checked = checkEndpointUrl(endpoint);
  if ('reason' in checked) {
    throw fail(`its token endpoint ${endpoint} ${checked.reason}`, response.status);
  }

  const methods = metadata.token_endpoint_auth_methods_supported;
  return {
    issuer,
    tokenEndpoint: checked.url,
    authMethods:
      Array.isArray(methods) && methods.every((m) => typeof m === 'string') ? methods : undefined,
  };
}
