import type { FetchResult } from '../http-fetch.js';
import { OAuthClientError, redact } from './errors.js';

/** A successful token response (RFC 6749 section 5.1), checked. */
export interface TokenResponse {
  readonly accessToken: string;
  /** Seconds the token is valid for from the response, when the server said so. */
  readonly expiresInS: number | undefined;
  /** The granted scope, when the server said so (RFC 6749 section 5.1: if it differs). */
  readonly scope: string | undefined;
}

/**
 * RFC 6750 section 2.1 `b64token`: the only characters a Bearer token may have in an
 * `Authorization` header. A token outside it would be refused by resource servers, or
 * could smuggle header syntax, so it is refused here instead.
 */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Parses the token endpoint's answer strictly: anything but a JSON object with a Bearer
 * `access_token` is an error that says what was wrong. Error responses (RFC 6749 section
 * 5.2) keep the server's `error` and `error_description`. Nothing the server sent goes
 * into a message unredacted, and the access token itself never does.
 */
export function parseTokenResponse(
  response: FetchResult,
  endpoint: string,
  secrets: readonly string[],
): TokenResponse {
  const fail = (problem: string, details: { error?: string; description?: string } = {}) =>
    new OAuthClientError(
      'GH_OAUTH_TOKEN_FAILED',
      `token request to ${endpoint} failed: ${problem}`,
      {
        status: response.status,
        oauthError: details.error,
        errorDescription: details.description,
      },
    );

  const body = parseJsonObject(response.body);
  if (response.status !== 200) {
    // RFC 6749 section 5.2: usually 400, or 401 for invalid_client.
    const error = typeof body?.error === 'string' ? redact(body.error, secrets) : undefined;
    const description =
      typeof body?.error_description === 'string'
        ? redact(body.error_description, secrets)
        : undefined;
    if (error === undefined) {
      // Not an OAuth error: a proxy's HTML page, an empty 502... The body is not quoted.
      throw fail(`HTTP ${response.status}${contentType(response, secrets)}`);
    }
    throw fail(
      `HTTP ${response.status} ${error}${description === undefined ? '' : ` (${description})`}`,
      {
        error,
        ...(description === undefined ? {} : { description }),
      },
    );
  }
  if (body === undefined)
    throw fail(`HTTP 200 but the body is not a JSON object${contentType(response, secrets)}`);

  const token = body.access_token;
  if (typeof token !== 'string' || token === '') {
    throw fail('the response has no access_token');
  }
  if (!B64TOKEN.test(token)) {
    throw fail('the access_token has characters a Bearer token cannot have (RFC 6750 section 2.1)');
  }
  // RFC 6749 section 5.1: token_type is REQUIRED and case-insensitive. Only Bearer
  // (RFC 6750) can be sent as-is; a DPoP token (RFC 9449) would need a proof per request.
  const type = body.token_type;
  if (typeof type !== 'string') throw fail('the response has no token_type');
  if (type.toLowerCase() !== 'bearer') {
    throw fail(`token_type ${JSON.stringify(redact(type, secrets))} is not supported, only Bearer`);
  }

  return {
    accessToken: token,
    expiresInS: parseExpiresIn(body.expires_in, fail),
    scope: typeof body.scope === 'string' ? body.scope : undefined,
  };
}

/**
 * RFC 6749 section 5.1: `expires_in` is RECOMMENDED, "the lifetime in seconds". A few
 * servers send it as a numeric string; that is accepted, anything else is an error.
 */
function parseExpiresIn(
  value: unknown,
  fail: (problem: string) => OAuthClientError,
): number | undefined {
  if (value === undefined || value === null) return undefined;
  const seconds = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw fail('expires_in is not a non-negative number of seconds');
  }
  return seconds;
}

function parseJsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function contentType(response: FetchResult, secrets: readonly string[]): string {
  const type = response.headers['content-type'];
  return typeof type === 'string' ? ` (${redact(type.split(';')[0] ?? type, secrets)})` : '';
}
